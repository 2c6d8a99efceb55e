"""Event streams: our events kept for a program to page through (a BI job), from a cursor.

A stream names the event types it keeps, as a webhook subscription does, and ``emit`` writes
its entries in the transaction of the change they describe. A reader asks for the entries after
its cursor (the last ``position`` it read) and never misses or repeats one:

- Entries get their ``position`` only **after** their transaction committed: ``sequence`` takes
  the one-row ``stream_sequence`` for update (so sequencers run one at a time) and numbers the
  committed entries that have none, in id order, after the last position given. An entry whose
  transaction commits late is numbered by a later run, after everything already read: a reader
  paging by position meets it on a later page, never behind its cursor.
- Each read sequences first, in its own short transaction, so no background job is needed and
  what a reader gets is at most that transaction old.

Entries are kept ``RETENTION`` (7 days) after they are written: a reader must come back
within that time or it misses what was forgotten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from distribution.accounts.project_cache import CACHE, changed
from distribution.errors import FieldError, InvalidInputError
from distribution.models import EventStream, StreamEntry, StreamSequence
from distribution.storage.ids import new_id
from distribution.storage.project_rows import project_row, project_rows

__all__ = [
    "MAX_PAGE",
    "RETENTION",
    "StreamPage",
    "create_stream",
    "delete_stream",
    "forget_old_entries",
    "list_streams",
    "read_stream",
    "sequence",
    "stream_entries",
    "streaming",
]

MAX_STREAMS = 10
MAX_PAGE = 1000
RETENTION = timedelta(days=7)
# Entries numbered per sequencing round: a reader away for long catches up over a few pages.
_ROUND = 10_000
_ENTRIES = StreamEntry.__table__  # type: ignore[attr-defined]
_SEQUENCE = StreamSequence.__table__  # type: ignore[attr-defined]


def _scope(project_id: str) -> str:
    return f"streams:{project_id}"


def create_stream(
    session: Session,
    project_id: str,
    name: str,
    event_types: Sequence[str],
    *,
    known: Sequence[str],
) -> EventStream:
    """A new stream of ``event_types`` (``*`` for all of ``known``), kept from now on."""
    errors = []
    if not name.strip() or len(name) > 100:
        errors.append(FieldError("name", "must be 1-100 characters"))
    if not event_types:
        errors.append(FieldError("event_types", "must name at least one event type, or *"))
    for index, event_type in enumerate(event_types):
        if event_type != "*" and event_type not in known:
            errors.append(FieldError(f"event_types[{index}]", "is not an event type we send"))
    if len(list_streams(session, project_id)) >= MAX_STREAMS:
        errors.append(FieldError("name", f"a project has at most {MAX_STREAMS} streams"))
    if errors:
        raise InvalidInputError(errors)
    stream = EventStream(
        id=new_id("strm"),
        project_id=project_id,
        name=name.strip(),
        event_types=list(dict.fromkeys(event_types)),
    )
    session.add(stream)
    session.flush()
    changed(session, _scope(project_id))
    return stream


def list_streams(session: Session, project_id: str) -> list[EventStream]:
    """The project's streams, oldest first."""
    return project_rows(session, EventStream, project_id)


def delete_stream(session: Session, project_id: str, stream_id: str) -> None:
    """Remove a stream and every entry it kept."""
    stream = project_row(session, EventStream, project_id, stream_id, "stream")
    session.execute(delete(_ENTRIES).where(_ENTRIES.c.stream_id == stream.id))
    session.delete(stream)
    session.flush()
    changed(session, _scope(project_id))


def _wanting(session: Session, project_id: str, event_type: str) -> list[str]:
    def load() -> list[tuple[str, frozenset[str]]]:
        rows = session.exec(select(EventStream).where(EventStream.project_id == project_id))
        return [(s.id, frozenset(s.event_types)) for s in rows]

    streams = CACHE.get(_scope(project_id), ("streams", project_id), load)
    return [s for s, types in streams if event_type in types or "*" in types]


def streaming(session: Session, project_id: str, event_type: str) -> bool:
    """Whether a stream of the project keeps ``event_type`` (cached)."""
    return bool(_wanting(session, project_id, event_type))


def stream_entries(
    session: Session,
    project_id: str,
    event_type: str,
    payloads: Sequence[dict[str, Any]],
    now: datetime,
) -> int:
    """Keep ``payloads`` (the webhook bodies of one event type) in every stream that wants
    them; one insert. Costs a cached lookup when no stream does."""
    streams = _wanting(session, project_id, event_type) if payloads else []
    if not streams:
        return 0
    rows = [
        {"stream_id": s, "event_type": event_type, "payload": p, "created_at": now}
        for s in streams
        for p in payloads
    ]
    session.connection().execute(insert(_ENTRIES), rows)
    return len(rows)


def sequence(session: Session) -> int:
    """Number the committed entries that have no position yet (one round); how many.

    Run in its own short transaction: it holds the one sequence row.
    """
    connection = session.connection()
    last = connection.execute(
        core_select(_SEQUENCE.c.last).where(_SEQUENCE.c.id == 1).with_for_update()
    ).scalar_one()
    ids = (
        connection.execute(
            core_select(_ENTRIES.c.id)
            .where(_ENTRIES.c.position.is_(None))
            .order_by(_ENTRIES.c.id)
            .limit(_ROUND)
        )
        .scalars()
        .all()
    )
    if ids:
        connection.execute(
            update(_ENTRIES)
            .where(_ENTRIES.c.id == bindparam("entry"))
            .values(position=bindparam("placed")),
            [{"entry": entry, "placed": last + n} for n, entry in enumerate(ids, 1)],
        )
        connection.execute(
            update(_SEQUENCE).where(_SEQUENCE.c.id == 1).values(last=last + len(ids))
        )
    return len(ids)


def forget_old_entries(session: Session, now: datetime) -> int:
    """Delete the numbered entries older than ``RETENTION``; how many.

    Run by the scheduler's round, not by readers: a read holds the sequence row, and a delete
    there made every read of every stream pay for the whole table's housekeeping.
    """
    result = session.connection().execute(
        delete(_ENTRIES).where(
            _ENTRIES.c.created_at < now - RETENTION, _ENTRIES.c.position.is_not(None)
        )
    )
    return int(result.rowcount)


@dataclass(frozen=True)
class StreamPage:
    """Entries after a cursor, the cursor to ask with next, and whether more are waiting."""

    entries: list[dict[str, Any]]
    cursor: str | None
    has_more: bool


def read_stream(
    session: Session, project_id: str, stream_id: str, *, after: str | None, limit: int
) -> StreamPage:
    """The stream's numbered entries after the cursor ``after`` (its last position read).

    Call ``sequence`` first, in a transaction of its own, to number what committed since.
    """
    stream = project_row(session, EventStream, project_id, stream_id, "stream")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError([FieldError("limit", f"must be 1 to {MAX_PAGE}")])
    start = 0
    if after:
        if not after.isdigit() or len(after) > 18:
            raise InvalidInputError([FieldError("after", "must be a cursor this API gave")])
        start = int(after)
    rows = session.exec(
        select(StreamEntry)
        .where(StreamEntry.stream_id == stream.id, col(StreamEntry.position) > start)
        .order_by(col(StreamEntry.position))
        .limit(limit + 1)
    ).all()
    shown = rows[:limit]
    entries = [
        {"position": str(row.position), "type": row.event_type, **row.payload} for row in shown
    ]
    cursor = str(shown[-1].position) if shown else after
    return StreamPage(entries, cursor, len(rows) > limit)
