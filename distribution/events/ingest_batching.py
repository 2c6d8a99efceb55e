"""Posted events into ``receive_events``, grouped for SQLite's one writer, one each on PostgreSQL.

``ingest_posted`` is what the HTTP handler awaits. On SQLite, the events posted while a batch is
being written wait, and the next round takes them all in one transaction (``_GroupCommit``).
PostgreSQL writes in parallel and groups concurrent commits' WAL flushes by itself, so each event
keeps a transaction of its own there: a batch would hold its customers' row locks until its end
and, batches of several API processes taking them in different orders, deadlock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any
from weakref import WeakKeyDictionary

import anyio
from sqlmodel import Session

from distribution.accounts.projects import cached_project
from distribution.events.event_input import IncomingEvent, parse_event
from distribution.events.inbound_signing import open_inbound_secret, verify_inbound
from distribution.events.ingest import IngestResult, receive_events
from distribution.outbox import LinkSettings
from distribution.storage.db import Database
from distribution.storage.secrets import SecretBox

__all__ = ["MAX_BATCH", "POSTGRES_INGEST_THREADS", "PostedEvent", "ingest_posted"]

POSTGRES_INGEST_THREADS = 16
# SQLite has one writer: events waiting for it are ingested together, in one transaction, at
# most this many at a time (see _GroupCommit).
MAX_BATCH = 64
# One per event loop: a limiter or a future belongs to the loop it was made in (tests run several).
_LIMITERS: WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = WeakKeyDictionary()
_GROUPS: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, _GroupCommit]] = WeakKeyDictionary()


@dataclass(frozen=True)
class PostedEvent:
    """One POST as it arrived, checked and parsed in the ingesting thread."""

    project_id: str
    headers: dict[str, str]
    body: bytes
    data: dict[str, Any]


def _parse(session: Session, box: SecretBox, posted: PostedEvent) -> IncomingEvent:
    # Verified before parsing, so an unsigned caller learns nothing about the body's validity.
    project = cached_project(session, posted.project_id)
    secret = open_inbound_secret(box, project.inbound_webhook_secret_encrypted)
    if secret is None:
        key = posted.headers.get("idempotency-key") or posted.headers.get("webhook-id")
    else:
        verify_inbound(secret, posted.headers, posted.body)
        # The signature covers the webhook-id but not the Idempotency-Key: a replayed call with
        # a new Idempotency-Key must still be the same event.
        key = posted.headers["webhook-id"]
    return parse_event(posted.data, idempotency_key=key)


def _receive(
    db: Database, box: SecretBox, links: LinkSettings, batch: Sequence[PostedEvent]
) -> list[IngestResult | Exception]:
    """Each POST's outcome, in order: its result, or the exception its request raises."""
    parsed: dict[int, tuple[str, IncomingEvent]] = {}
    outcomes: dict[int, IngestResult | Exception] = {}
    with db.reader() as session:  # opens no transaction while the projects are cached
        for position, posted in enumerate(batch):
            try:
                parsed[position] = (posted.project_id, _parse(session, box, posted))
            except Exception as error:  # answered in its own request
                outcomes[position] = error
    if parsed:
        ingested = receive_events(db, list(parsed.values()), links)
        outcomes.update(zip(parsed, ingested, strict=True))
    return [outcomes[position] for position in range(len(batch))]


class _GroupCommit:
    """Ingests the POSTs waiting for SQLite's one writer together, in one transaction.

    The first POST starts a drain; while its batch is being written, the POSTs arriving meanwhile
    wait, and the next round takes them all at once. There is no timer: an event alone is
    ingested at once, and under load a batch is whatever arrived during the previous one.
    """

    def __init__(self, db: Database, box: SecretBox, links: LinkSettings) -> None:
        self._run = partial(_receive, db, box, links)
        self._waiting: list[tuple[PostedEvent, asyncio.Future[IngestResult]]] = []
        self._drain: asyncio.Task[None] | None = None

    async def submit(self, posted: PostedEvent) -> IngestResult:
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._waiting.append((posted, future))
        if self._drain is None:
            self._drain = asyncio.create_task(self._drain_all())
        return await future

    async def _drain_all(self) -> None:
        batch: list[tuple[PostedEvent, asyncio.Future[IngestResult]]] = []
        try:
            while self._waiting:
                batch = self._waiting[:MAX_BATCH]
                del self._waiting[:MAX_BATCH]
                try:
                    outcomes = await anyio.to_thread.run_sync(
                        self._run, [posted for posted, _ in batch]
                    )
                except Exception as error:  # not one outcome each: every request answers it
                    outcomes = [error] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():  # the client went away; the event is stored all the same
                        continue
                    if isinstance(outcome, Exception):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            # Only when cancelled (the loop is closing) are futures left: nobody would set them.
            for _, future in batch + self._waiting:
                future.cancel()
            self._waiting.clear()
            self._drain = None


def _group_commit(db: Database, box: SecretBox, links: LinkSettings) -> _GroupCommit:
    groups = _GROUPS.setdefault(asyncio.get_running_loop(), {})
    group = groups.get(id(db))
    if group is None:
        group = groups[id(db)] = _GroupCommit(db, box, links)
    return group


def _ingest_limiter() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _LIMITERS.get(loop)
    if limiter is None:
        limiter = _LIMITERS[loop] = anyio.CapacityLimiter(POSTGRES_INGEST_THREADS)
    return limiter


async def ingest_posted(
    db: Database, box: SecretBox, links: LinkSettings, posted: PostedEvent
) -> IngestResult:
    """Verify, parse and ingest one posted event; raises what its request should answer."""
    if db.is_sqlite:
        return await _group_commit(db, box, links).submit(posted)
    [outcome] = await anyio.to_thread.run_sync(
        _receive, db, box, links, [posted], limiter=_ingest_limiter()
    )
    if isinstance(outcome, Exception):
        raise outcome
    return outcome
