"""The procrastinate jobs: deliver a batch of ids, sweep, move bulk jobs along, and run the
scheduler (date triggers and due follow-ups).

Every job finds what it needs (database, providers, policy) in the worker's context
(``WorkerRuntime``), so the same functions run in ``dm worker`` and in an API process that runs
a worker of its own. Jobs call the same ``claim_due``/``start_sends``/``record_outcomes`` as the
embedded worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException
from procrastinate.job_context import JobContext
from procrastinate.jobs import Status

from distribution.bulk.prepare import BULK_PRIORITY, due_jobs, finish_if_sent
from distribution.distributed.bulk_checks import check_part, pending_checks
from distribution.distributed.bulk_chunks import Chunk, pending_chunks, prepare_chunk_rows
from distribution.distributed.enqueue import (
    DELIVER_BATCH,
    defer_marked,
    enqueue_ids,
    sweep_due,
    unmark,
)
from distribution.events.scheduler import scheduled_round
from distribution.models import utcnow
from distribution.outbox import LinkSettings
from distribution.outbox.delivery import (
    Claimed,
    DeliveryPolicy,
    SenderSource,
    SendOutcome,
    claim_due,
    leases_kept,
    record_outcomes,
    recover_expired,
    release,
    start_sends,
)
from distribution.storage.db import Database

__all__ = [
    "BULK_ROUND",
    "CHECK_PART",
    "PREPARE_CHUNK",
    "RUNTIME",
    "SCHEDULE",
    "SWEEP",
    "WorkerRuntime",
    "bulk_round",
    "check_preflight_part",
    "deliver_batch",
    "kick_bulk",
    "prepare_chunk",
    "register",
    "retry_stalled",
    "schedule",
    "sweep",
]

log = logging.getLogger("distribution.distributed")

SWEEP = "sweep"
SCHEDULE = "schedule"
BULK_ROUND = "bulk_round"
PREPARE_CHUNK = "prepare_chunk"
CHECK_PART = "check_preflight_part"
# Procrastinate runs higher priorities first. Delivery jobs carry minus their rows' priority
# (triggered sends 0, bulk -BULK_PRIORITY); chunks come after both, so a prepared chunk is sent
# while the next is prepared, instead of every chunk being prepared before the first send.
# Preflight parts hold up everything of their job, so they go before its chunks.
CHUNK_PRIORITY = -2 * BULK_PRIORITY
CHECK_PRIORITY = CHUNK_PRIORITY + 1
# The key of the WorkerRuntime in the worker's additional context.
RUNTIME = "dm_runtime"


@dataclass(frozen=True)
class WorkerRuntime:
    """What the jobs of one worker process share."""

    database: Database
    senders: SenderSource
    policy: DeliveryPolicy
    links: LinkSettings


def _runtime(context: JobContext) -> WorkerRuntime:
    runtime = context.additional_context.get(RUNTIME)
    if not isinstance(runtime, WorkerRuntime):
        raise RuntimeError("this worker was started without a WorkerRuntime in its context")
    return runtime


async def deliver_batch(context: JobContext, ids: list[str]) -> int:
    """Claim the given rows that are still due, send them and record the outcomes.

    Rows already sent, claimed by another job or not yet due are not claimed, so a duplicate
    job sends nothing twice. Retries get a job scheduled for the time they come due.
    """
    runtime = _runtime(context)
    claimed = await _claim(runtime, ids)
    if not claimed:
        return 0
    log.info(
        "delivering %d deliveries",
        len(claimed),
        extra={"job_id": context.job.id, "delivery_ids": ",".join(c.id for c in claimed)},
    )
    outcomes = await _send(runtime, claimed)
    await asyncio.to_thread(record_outcomes, runtime.database, outcomes)
    retrying = [o.id for o in outcomes if o.status == "queued"]
    if retrying:
        await enqueue_ids(context.app, runtime.database, retrying)
    return len(claimed)


async def _claim(runtime: WorkerRuntime, ids: Sequence[str]) -> list[Claimed]:
    # Shielded: a claim committed while the job is being aborted must still be released,
    # or its rows would wait for their lease and then count as "unknown" though never sent.
    claiming = asyncio.ensure_future(
        asyncio.to_thread(claim_due, runtime.database, len(ids), runtime.policy, ids)
    )
    try:
        return await asyncio.shield(claiming)
    except asyncio.CancelledError:
        claimed = await claiming
        await asyncio.to_thread(release, runtime.database, [c.id for c in claimed])
        await asyncio.to_thread(unmark, runtime.database, [c.id for c in claimed])
        raise


async def _send(runtime: WorkerRuntime, claimed: Sequence[Claimed]) -> list[SendOutcome]:
    """Send each row as its own task, so an abort keeps the answers already in."""
    sends = start_sends(claimed, runtime.senders, runtime.policy)
    try:
        async with leases_kept(runtime.database, [c.id for c in claimed], runtime.policy):
            await asyncio.gather(*sends)
    except asyncio.CancelledError:
        # The worker stops past its grace: record what was answered, put the rest back.
        answered = [s.result() for s in sends if s.done() and not s.cancelled()]
        unanswered = sorted({c.id for c in claimed} - {o.id for o in answered})
        await asyncio.to_thread(record_outcomes, runtime.database, answered)
        await asyncio.to_thread(release, runtime.database, unanswered)
        await asyncio.to_thread(unmark, runtime.database, unanswered)
        log.warning(
            "stopped mid-batch: %d deliveries released",
            len(unanswered),
            extra={"delivery_ids": ",".join(unanswered)},
        )
        raise
    return [s.result() for s in sends]


async def sweep(context: JobContext, timestamp: int) -> int:
    """Periodic: recover abandoned rows and jobs, enqueue due rows without a job, kick the bulk
    jobs."""
    runtime = _runtime(context)
    recovered = await asyncio.to_thread(recover_expired, runtime.database, runtime.policy)
    await retry_stalled(context.app)
    swept = await sweep_due(context.app, runtime.database)
    await kick_bulk(context.app)
    if recovered or swept:
        log.info(
            "sweep: %d abandoned deliveries recovered, %d enqueued",
            recovered,
            swept,
            extra={"tick": timestamp},
        )
    return swept


async def schedule(context: JobContext, timestamp: int) -> int:
    """Periodic: fire the date triggers due now and settle the due follow-ups; enqueue what
    they queued. Two workers running it at once send nothing twice (see ``events.scheduler``)."""
    runtime = _runtime(context)
    result = await asyncio.to_thread(scheduled_round, runtime.database, runtime.links, utcnow())
    if result.queued:
        await enqueue_ids(context.app, runtime.database, result.queued)
        log.info("scheduler: %d deliveries queued", len(result.queued), extra={"tick": timestamp})
    return len(result.queued)


async def retry_stalled(queue: procrastinate.App) -> int:
    """Jobs left ``doing`` by a worker that stopped beating (killed): run them again.

    A stalled job also holds its lock, which would block a bulk chunk's twin forever. When a
    twin already waits (its queueing lock), the stalled one is closed as failed instead.
    """
    manager = queue.job_manager
    stalled = list(await manager.get_stalled_jobs())
    for job in stalled:
        try:
            await manager.retry_job(job)
        except ConnectorException:
            await manager.finish_job(job, Status.FAILED, delete_job=False)
    if stalled:
        log.warning("%d jobs of stopped workers run again", len(stalled))
    return len(stalled)


async def bulk_round(context: JobContext) -> int:
    """Move every bulk job along: check due ones (deferring the parts of their preflight), defer
    the chunks of preparing ones, complete sent ones. Parts and chunks not done are deferred
    again on every round: a waiting or running duplicate is refused or serialized by its locks.
    How many jobs it deferred."""
    runtime = _runtime(context)
    database = runtime.database
    deferred = 0
    for project_id, job_id, status in await asyncio.to_thread(due_jobs, database):
        if status == "scheduled":
            status, parts = await asyncio.to_thread(pending_checks, database, project_id, job_id)
            for part in parts:
                deferred += await _defer(
                    context.app, CHECK_PART, CHECK_PRIORITY, project_id, job_id, part
                )
        if status == "preparing":
            deferred += await _defer_chunks(context.app, database, project_id, job_id)
        elif status == "sending":
            await asyncio.to_thread(finish_if_sent, database, project_id, job_id)
    return deferred


async def _defer_chunks(
    queue: procrastinate.App, database: Database, project_id: str, job_id: str
) -> int:
    deferred = 0
    for chunk in await asyncio.to_thread(pending_chunks, database, project_id, job_id):
        deferred += await _defer(queue, PREPARE_CHUNK, CHUNK_PRIORITY, project_id, job_id, chunk)
    return deferred


async def _defer(
    queue: procrastinate.App, task: str, priority: int, project_id: str, job_id: str, chunk: Chunk
) -> int:
    """Defer ``task`` for one range of a job, unless a job for it waits already."""
    key = f"{task}:{job_id}:{chunk.index}"
    deferrer = queue.tasks[task].configure(queueing_lock=key, lock=key, priority=priority)
    try:
        await deferrer.defer_async(
            project_id=project_id,
            job_id=job_id,
            index=chunk.index,
            after=chunk.after,
            upto=chunk.upto,
        )
    except AlreadyEnqueued:
        return 0
    return 1


async def check_preflight_part(
    context: JobContext,
    project_id: str,
    job_id: str,
    index: int,
    after: str | None,
    upto: str | None,
) -> str | None:
    """Check one part of a due job's preflight; the part that starts the job defers its chunks."""
    runtime = _runtime(context)
    status = await asyncio.to_thread(
        check_part, runtime.database, project_id, job_id, Chunk(index, after, upto), runtime.links
    )
    if status == "preparing":
        await _defer_chunks(context.app, runtime.database, project_id, job_id)
    return status


async def prepare_chunk(
    context: JobContext,
    project_id: str,
    job_id: str,
    index: int,
    after: str | None,
    upto: str | None,
) -> int:
    """Prepare one chunk of a bulk job, then give its rows jobs for their send time."""
    runtime = _runtime(context)
    marked = await asyncio.to_thread(
        prepare_chunk_rows,
        runtime.database,
        project_id,
        job_id,
        Chunk(index, after, upto),
        runtime.links,
    )
    await defer_marked(context.app, marked)
    log.info(
        "bulk chunk prepared",
        extra={"bulk_job_id": job_id, "chunk": index, "queued": len(marked)},
    )
    return len(marked)


async def kick_bulk(queue: procrastinate.App) -> None:
    """Ask for a bulk round; one waiting round is enough (its queueing lock)."""
    with contextlib.suppress(AlreadyEnqueued):
        await queue.tasks[BULK_ROUND].defer_async()


def register(app: procrastinate.App, *, sweep_interval: int, schedule_interval: int = 60) -> None:
    """Register the jobs on ``app``; the sweeper runs every ``sweep_interval`` seconds, the
    scheduler every ``schedule_interval`` (at most a minute apart)."""
    retry = procrastinate.RetryStrategy(max_attempts=3, wait=1)
    app.task(name=DELIVER_BATCH, queue="deliveries", pass_context=True, retry=retry)(deliver_batch)
    sweeper: Any = app.task(
        name=SWEEP, queue="maintenance", pass_context=True, queueing_lock=SWEEP
    )(sweep)
    # croniter's sixth field is the second ("*/5 * * * * *" was every second of every fifth
    # minute).
    app.periodic(cron=f"* * * * * */{sweep_interval}", periodic_id="sweeper")(sweeper)
    scheduler: Any = app.task(
        name=SCHEDULE, queue="maintenance", pass_context=True, queueing_lock=SCHEDULE
    )(schedule)
    every = f"* * * * * */{schedule_interval}" if schedule_interval < 60 else "* * * * *"
    app.periodic(cron=every, periodic_id="scheduler")(scheduler)
    app.task(name=PREPARE_CHUNK, queue="bulk", pass_context=True, retry=retry)(prepare_chunk)
    app.task(name=CHECK_PART, queue="bulk", pass_context=True, retry=retry)(check_preflight_part)
    app.task(
        name=BULK_ROUND, queue="bulk", pass_context=True, lock=BULK_ROUND, queueing_lock=BULK_ROUND
    )(bulk_round)
