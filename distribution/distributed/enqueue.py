"""Turning ``queued`` delivery rows into ``deliver_batch`` jobs.

A row is marked ``enqueued_until`` (its due time plus a window) when a job is deferred for it;
the sweeper enqueues due rows whose mark is missing or past. The mark is written before the job
is deferred, so a crash in between costs at most the window in latency, and a job that runs
for rows already sent (or claimed by another job) claims nothing: the claim is the lock.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import procrastinate
from procrastinate.types import JSONDict, JSONValue
from sqlalchemy import DateTime, func, or_, update
from sqlalchemy import select as core_select
from sqlmodel import col

from distribution.models import Delivery, utcnow
from distribution.storage.db import Database

__all__ = [
    "BATCH_SIZE",
    "DELIVER_BATCH",
    "ENQUEUE_WINDOW",
    "Marked",
    "defer_marked",
    "enqueue_ids",
    "mark_enqueued",
    "sweep_due",
    "unmark",
]

DELIVER_BATCH = "deliver_batch"
# Ids per job: one claim, one round of sends, one write of outcomes.
BATCH_SIZE = 200
# How long a deferred job is trusted to come for its rows before the sweeper enqueues them again.
ENQUEUE_WINDOW = timedelta(seconds=60)
# Rows one sweep enqueues; the next sweep (seconds later) takes the rest.
SWEEP_LIMIT = 20_000


@dataclass(frozen=True)
class Marked:
    """A row now carried by a job: when it is due and with what priority."""

    id: str
    due: datetime
    priority: int


def mark_enqueued(
    database: Database,
    ids: Sequence[str] | None = None,
    *,
    limit: int = SWEEP_LIMIT,
) -> list[Marked]:
    """Mark ``queued`` rows as carried by a job and return them.

    With ``ids``: those rows, due or not (a scheduled row gets a job scheduled for its time).
    Otherwise: up to ``limit`` due rows that no job carries now (never had one, its mark
    passed, or its job is scheduled later than the row is due: the sweeper). ``SKIP LOCKED``
    keeps two sweepers from marking the same rows. (A bulk chunk writes its rows marked.)
    """
    now = utcnow()
    chosen = core_select(col(Delivery.id)).where(col(Delivery.status) == "queued")
    if ids is not None:
        chosen = chosen.where(col(Delivery.id).in_(list(ids)))
    else:
        chosen = (
            chosen.where(
                col(Delivery.next_attempt_at) <= now,
                or_(
                    col(Delivery.enqueued_until).is_(None),
                    col(Delivery.enqueued_until) < now,
                    # Its job starts later than the row is due now (a send-now moved it).
                    col(Delivery.enqueued_until) > now + ENQUEUE_WINDOW,
                ),
            )
            .order_by(col(Delivery.priority), col(Delivery.next_attempt_at))
            .limit(limit)
        )
    starts = func.greatest(col(Delivery.next_attempt_at), now, type_=DateTime)
    statement = (
        update(Delivery)
        .where(col(Delivery.id).in_(chosen.with_for_update(skip_locked=True).scalar_subquery()))
        .values(enqueued_until=starts + ENQUEUE_WINDOW)
        .returning(col(Delivery.id), col(Delivery.next_attempt_at), col(Delivery.priority))
    )
    with database.session() as session:
        rows = session.connection().execute(statement).all()
    return [Marked(*row) for row in rows]


def _job_groups(marked: Sequence[Marked]) -> dict[tuple[datetime | None, int], list[str]]:
    """Ids by (start time, priority): due rows start now (None), later ones on the second after
    they come due, so a job never runs before its rows can be claimed."""
    now = utcnow()
    groups: dict[tuple[datetime | None, int], list[str]] = defaultdict(list)
    for row in marked:
        start = None
        if row.due > now:
            start = datetime.fromtimestamp(math.ceil(row.due.replace(tzinfo=UTC).timestamp()), UTC)
        groups[(start, row.priority)].append(row.id)
    return groups


async def defer_marked(queue: procrastinate.App, marked: Sequence[Marked]) -> int:
    """Defer ``deliver_batch`` jobs of up to ``BATCH_SIZE`` ids for marked rows; how many."""
    task = queue.tasks[DELIVER_BATCH]
    jobs = 0
    for (start, priority), ids in _job_groups(marked).items():
        batches: list[JSONDict] = [
            {"ids": list[JSONValue](ids[i : i + BATCH_SIZE])}
            for i in range(0, len(ids), BATCH_SIZE)
        ]
        # Procrastinate runs higher priorities first; our rows run lower ones first.
        deferrer = task.configure(schedule_at=start, priority=-priority)
        await deferrer.batch_defer_async(*batches)
        jobs += len(batches)
    return jobs


async def enqueue_ids(queue: procrastinate.App, database: Database, ids: Sequence[str]) -> int:
    """Jobs for these committed rows (the ones still ``queued``); how many jobs."""
    if not ids:
        return 0
    marked = await asyncio.to_thread(mark_enqueued, database, ids)
    return await defer_marked(queue, marked)


async def sweep_due(queue: procrastinate.App, database: Database) -> int:
    """Jobs for due rows that no job carries (lost or never made); how many rows."""
    marked = await asyncio.to_thread(mark_enqueued, database)
    await defer_marked(queue, marked)
    return len(marked)


def unmark(database: Database, ids: Sequence[str]) -> None:
    """Forget the job marks of rows a stopping worker put back, so the next sweep takes them."""
    if not ids:
        return
    with database.session() as session:
        session.connection().execute(
            update(Delivery).where(col(Delivery.id).in_(list(ids))).values(enqueued_until=None)
        )
