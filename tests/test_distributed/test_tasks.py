"""The distributed jobs on PostgreSQL: deliver_batch, the sweeper, retries and graceful stop.

Each test runs real procrastinate workers in this process against a schema of this module,
with providers faked at the provider boundary only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import procrastinate
import pytest
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.types import JSONDict, JSONValue
from sqlalchemy import text
from sqlmodel import col, func, select

from distribution.bulk import begin_job, cancel_job, create_job
from distribution.bulk.jobs import get_job
from distribution.distributed import (
    InProcessWorker,
    QueueNotifier,
    WorkerRuntime,
    build_queue_app,
    run_worker,
)
from distribution.distributed.bulk_chunks import CHUNK_SIZE, pending_chunks
from distribution.distributed.enqueue import DELIVER_BATCH, ENQUEUE_WINDOW, enqueue_ids, sweep_due
from distribution.distributed.tasks import RUNTIME, SWEEP, kick_bulk, prepare_chunk, retry_stalled
from distribution.models import Code, Delivery, utcnow
from distribution.outbox.delivery import DeliveryPolicy
from distribution.storage.db import Database
from distribution.storage.ids import new_id
from distribution.storage.migrate import queue_schema_applied, upgrade_queue
from providers import Message, SendResult, TransientProviderError
from providers.capture import CaptureConfig, CaptureProvider
from tests.builders import bulk_setup, bulk_spec
from tests.conftest import make_project, migrated_database
from tests.test_distribution.engine_helpers import LINKS, Senders, capture
from web.cli import main

POLICY = DeliveryPolicy(max_attempts=5, base_backoff=1.0, max_backoff=1.0)


class HeldProvider:
    """Answers only once its gate opens: a provider call that is still in flight."""

    kind = "held"
    channels = frozenset({"email"})

    def __init__(self, name: str) -> None:
        self.name = name
        self.gate = asyncio.Event()
        self.called: list[str] = []

    async def send(self, message: Message) -> SendResult:
        self.called.append(message.id)
        await self.gate.wait()
        return SendResult(status="sent", provider_message_id=f"held-{message.id}")

    async def check(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class FlakyOnce:
    """Fails each message's first call with a transient error, accepts the second."""

    kind = "flaky"
    channels = frozenset({"email"})

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[str] = []

    async def send(self, message: Message) -> SendResult:
        self.seen.append(message.id)
        if self.seen.count(message.id) == 1:
            raise TransientProviderError("try again", provider=self.name)
        return SendResult(status="sent", provider_message_id=f"flaky-{message.id}")

    async def check(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


@pytest.fixture(scope="module")
def queue_url(postgres_url: str, postgres: Database) -> str:
    upgrade_queue(postgres.engine)
    return postgres_url


@pytest.fixture
async def queue(queue_url: str) -> AsyncIterator[procrastinate.App]:
    app = build_queue_app(queue_url, sweep_interval=1)
    async with app.open_async():
        yield app


@pytest.fixture
def project_id(postgres: Database) -> str:
    return make_project(postgres).project.id


def queued_rows(
    database: Database,
    project_id: str,
    provider: str,
    count: int,
    *,
    enqueued_until: datetime | None = None,
) -> list[str]:
    """``count`` due ``queued`` deliveries through ``provider``; their ids."""
    ids = [new_id("msg") for _ in range(count)]
    with database.session() as session:
        session.add_all(
            Delivery(
                id=delivery_id,
                project_id=project_id,
                idempotency_key=delivery_id,
                channel="email",
                provider=provider,
                recipient=f"{delivery_id}@example.com",
                content={"subject": "Hi", "html": "<p>Hi</p>", "text": "Hi"},
                next_attempt_at=utcnow() - timedelta(seconds=1),
                enqueued_until=enqueued_until,
            )
            for delivery_id in ids
        )
    return ids


def statuses(database: Database, ids: Sequence[str]) -> dict[str, str]:
    with database.reader() as session:
        rows = session.exec(
            select(Delivery.id, Delivery.status).where(col(Delivery.id).in_(list(ids)))
        ).all()
    return dict(rows)


def runtime(database: Database, **providers: object) -> WorkerRuntime:
    return WorkerRuntime(database, Senders(dict(providers)), POLICY, LINKS)  # type: ignore[arg-type]


async def drain(queue: procrastinate.App, work: WorkerRuntime, *queues: str) -> None:
    """Run a worker until the given queues are empty."""
    await run_worker(
        queue,
        work,
        concurrency=4,
        queues=queues,
        shutdown_grace=5.0,
        install_signal_handlers=False,
        wait=False,
    )


async def wait_until(condition: object, what: str) -> None:
    for _ in range(400):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_deliver_batch_claims_only_its_ids(
    queue: procrastinate.App, postgres: Database, project_id: str
) -> None:
    sink = capture()
    mine = queued_rows(postgres, project_id, "capture", 3)
    other = queued_rows(postgres, project_id, "capture", 2)
    await queue.tasks[DELIVER_BATCH].defer_async(ids=mine)
    await drain(queue, runtime(postgres, capture=sink), "deliveries")
    assert set(statuses(postgres, mine).values()) == {"sent"}
    assert set(statuses(postgres, other).values()) == {"queued"}
    assert sorted(m.message.id for m in sink.messages) == sorted(mine)


async def test_a_duplicate_job_sends_nothing_twice(
    queue: procrastinate.App, postgres: Database, project_id: str
) -> None:
    sink: CaptureProvider = capture()
    ids = queued_rows(postgres, project_id, "capture", 20)
    task = queue.tasks[DELIVER_BATCH]
    batches: list[JSONDict] = [{"ids": list[JSONValue](batch)} for batch in (ids, ids, ids[:5])]
    await task.batch_defer_async(*batches)
    await drain(queue, runtime(postgres, capture=sink), "deliveries")
    sent = [m.message.id for m in sink.messages]
    assert sorted(sent) == sorted(ids)
    assert set(statuses(postgres, ids).values()) == {"sent"}


async def test_the_sweeper_enqueues_rows_whose_enqueue_was_lost(
    queue: procrastinate.App, postgres: Database, project_id: str
) -> None:
    sink = capture()
    never = queued_rows(postgres, project_id, "capture", 3)
    # Marked as carried by a job that never ran (its window passed).
    lost = queued_rows(postgres, project_id, "capture", 2, enqueued_until=utcnow())
    # Carried by a job still believed pending: the sweeper leaves them to it.
    pending = queued_rows(
        postgres, project_id, "capture", 2, enqueued_until=utcnow() + ENQUEUE_WINDOW
    )
    # One sweep may already wait (the periodic deferrer of an earlier worker): that one will do.
    with contextlib.suppress(AlreadyEnqueued):
        await queue.tasks[SWEEP].defer_async(timestamp=0)
    # A worker without wait stops when it finds no job: the sweep's jobs come after it.
    await drain(queue, runtime(postgres, capture=sink), "maintenance")
    await drain(queue, runtime(postgres, capture=sink), "deliveries")
    assert set(statuses(postgres, never + lost).values()) == {"sent"}
    assert set(statuses(postgres, pending).values()) == {"queued"}
    # The sweep also finds rows other tests of this schema left without a job: once each.
    sent = [m.message.id for m in sink.messages]
    assert len(sent) == len(set(sent))
    assert set(never + lost) <= set(sent)


async def test_a_retry_gets_a_job_scheduled_for_when_it_comes_due(
    queue: procrastinate.App, postgres: Database, project_id: str
) -> None:
    flaky = FlakyOnce("flaky")
    [delivery_id] = queued_rows(postgres, project_id, "flaky", 1)
    await queue.tasks[DELIVER_BATCH].defer_async(ids=[delivery_id])
    await drain(queue, runtime(postgres, flaky=flaky), "deliveries")
    with postgres.reader() as session:
        row = session.get(Delivery, delivery_id)
        assert row is not None
        assert row.status == "queued"
        assert row.attempts == 1
        scheduled = (
            session.connection()
            .execute(
                text(
                    "SELECT scheduled_at FROM procrastinate_jobs WHERE status = 'todo' "
                    "AND task_name = :task AND args -> 'ids' ? :id"
                ),
                {"task": DELIVER_BATCH, "id": delivery_id},
            )
            .scalar_one()
        )
    assert scheduled.astimezone(UTC).replace(tzinfo=None) >= row.next_attempt_at
    # The worker keeps polling, so the scheduled job runs once it is due.
    worker = InProcessWorker(
        queue,
        runtime(postgres, flaky=flaky),
        concurrency=1,
        queues=["deliveries"],
        shutdown_grace=5.0,
    )
    await worker.start()
    try:
        await wait_until(
            lambda: statuses(postgres, [delivery_id]) == {delivery_id: "sent"}, "retry"
        )
    finally:
        await worker.stop()
    assert flaky.seen == [delivery_id, delivery_id]


async def test_stopping_waits_for_the_batch_in_flight(
    queue: procrastinate.App, postgres: Database, project_id: str
) -> None:
    held = HeldProvider("held")
    ids = queued_rows(postgres, project_id, "held", 3)
    worker = InProcessWorker(
        queue, runtime(postgres, held=held), concurrency=1, queues=["deliveries"], shutdown_grace=30
    )
    await worker.start()
    await queue.tasks[DELIVER_BATCH].defer_async(ids=ids)
    await wait_until(lambda: len(held.called) == 3, "the provider calls")
    stopping = asyncio.create_task(worker.stop())
    await asyncio.sleep(0.2)
    held.gate.set()  # the provider answers while the worker is stopping
    await stopping
    assert set(statuses(postgres, ids).values()) == {"sent"}


async def test_stopping_past_the_grace_puts_unsent_rows_back(
    queue: procrastinate.App, postgres: Database, project_id: str
) -> None:
    held = HeldProvider("held")
    ids = queued_rows(postgres, project_id, "held", 3)
    worker = InProcessWorker(
        queue,
        runtime(postgres, held=held),
        concurrency=1,
        queues=["deliveries"],
        shutdown_grace=0.2,
    )
    await worker.start()
    await queue.tasks[DELIVER_BATCH].defer_async(ids=ids)
    await wait_until(lambda: len(held.called) == 3, "the provider calls")
    assert set(statuses(postgres, ids).values()) == {"sending"}
    await worker.stop()  # the provider never answers: the job is aborted after 0.2 s
    with postgres.reader() as session:
        rows = session.exec(select(Delivery).where(col(Delivery.id).in_(ids))).all()
    assert {(r.status, r.attempts, r.lease_until, r.enqueued_until) for r in rows} == {
        ("queued", 0, None, None)
    }


async def run_bulk_job(
    queue: procrastinate.App, postgres: Database, project_id: str, recipients: int, concurrency: int
) -> tuple[str, dict[str, str], CaptureProvider]:
    """A send-now bulk job to ``recipients`` run to its end by a worker of ``concurrency``
    jobs at once: the job's id, its setup's ids and the capture that received it."""
    ids = bulk_setup(postgres, project_id, recipients, recipients)
    with postgres.session() as session:
        job_id = create_job(
            session, project_id, bulk_spec(ids, send_delay_seconds=0), actor="test"
        ).id
    sink = CaptureProvider("capture", CaptureConfig(max_messages=2 * recipients))
    worker = InProcessWorker(
        queue,
        runtime(postgres, capture=sink),
        concurrency=concurrency,
        queues=["bulk", "deliveries", "maintenance"],
        shutdown_grace=5.0,
    )
    await worker.start()
    try:
        await kick_bulk(queue)

        def finished() -> bool:
            with postgres.reader() as session:
                return get_job(session, project_id, job_id).status in ("completed", "failed")

        await wait_until(finished, "the bulk job to complete")
    finally:
        await worker.stop()
    return job_id, ids, sink


async def test_a_bulk_job_is_prepared_in_parallel_chunks_and_sent_once(
    queue: procrastinate.App, postgres: Database, project_id: str
) -> None:
    recipients = 2 * CHUNK_SIZE + 500  # three chunks
    job_id, ids, sink = await run_bulk_job(queue, postgres, project_id, recipients, 3)
    with postgres.reader() as session:
        job = get_job(session, project_id, job_id)
        holders = session.exec(
            select(Code.customer_id).where(Code.pool_id == ids["pool"], Code.status == "assigned")
        ).all()
    assert job.status == "completed", job.error
    assert job.options["chunks_done"] == [0, 1, 2]
    assert job.counts["prepared"] == recipients
    sent_to = [m.message.to for m in sink.messages]
    assert len(sent_to) == len(set(sent_to)) == recipients
    assert len(set(holders)) == recipients


async def test_a_prepared_chunk_is_sent_before_the_next_chunk_is_prepared(
    queue: procrastinate.App, postgres: Database, project_id: str
) -> None:
    # One job at a time: the queue's order alone decides what runs next.
    job_id, _ids, _sink = await run_bulk_job(queue, postgres, project_id, 2 * CHUNK_SIZE + 10, 1)
    with postgres.reader() as session:
        first_sent, last_prepared = session.exec(
            select(func.min(Delivery.sent_at), func.max(Delivery.created_at)).where(
                Delivery.bulk_job_id == job_id
            )
        ).one()
    assert first_sent is not None
    assert last_prepared is not None
    assert first_sent < last_prepared, "every chunk was prepared before the first send"


async def test_a_chunk_writes_its_rows_marked_and_defers_their_jobs(
    queue: procrastinate.App, postgres: Database, project_id: str
) -> None:
    ids = bulk_setup(postgres, project_id, 30, 30)
    with postgres.session() as session:
        job_id = create_job(
            session, project_id, bulk_spec(ids, send_delay_seconds=600), actor="test"
        ).id
    assert begin_job(postgres, project_id, job_id, LINKS) == "preparing"
    [chunk] = pending_chunks(postgres, project_id, job_id)
    # What prepare_chunk reads of procrastinate's JobContext: the app and our runtime.
    context = SimpleNamespace(app=queue, additional_context={RUNTIME: runtime(postgres)})
    await prepare_chunk(
        context,  # type: ignore[arg-type]
        project_id,
        job_id,
        chunk.index,
        chunk.after,
        chunk.upto,
    )
    with postgres.reader() as session:
        rows = session.exec(
            select(Delivery.id, Delivery.next_attempt_at, Delivery.enqueued_until).where(
                Delivery.bulk_job_id == job_id
            )
        ).all()
        carried = (
            session.connection()
            .execute(
                text(
                    "SELECT args->'ids', scheduled_at FROM procrastinate_jobs "
                    "WHERE task_name = :task AND status = 'todo'"
                ),
                {"task": DELIVER_BATCH},
            )
            .all()
        )
    assert len(rows) == 30
    # Marked when written (no second write of each row), for the send time plus the window.
    assert {until - due for _id, due, until in rows} == {ENQUEUE_WINDOW}
    in_jobs = [i for job_ids, _start in carried for i in job_ids if i in {r[0] for r in rows}]
    assert sorted(in_jobs) == sorted(r[0] for r in rows)
    # Their job is scheduled for the send time, ten minutes on.
    assert all(start > datetime.now(UTC) + timedelta(minutes=9) for _ids, start in carried)
    with postgres.session() as session:
        cancel_job(session, project_id, job_id, release_codes=False)


async def test_a_later_send_gets_a_job_for_its_time_and_a_send_now_one_for_now(
    queue: procrastinate.App, postgres: Database, project_id: str
) -> None:
    [delivery_id] = queued_rows(postgres, project_id, "capture", 1)
    later = utcnow() + timedelta(hours=1)
    with postgres.session() as session:
        row = session.get(Delivery, delivery_id)
        assert row is not None
        row.next_attempt_at = later
    assert await enqueue_ids(queue, postgres, [delivery_id]) == 1
    assert job_starts(postgres, delivery_id) == [
        later.replace(microsecond=0) + timedelta(seconds=1)
    ]
    # Sent now after all: its job is an hour away, so the sweeper gives it one for now.
    with postgres.session() as session:
        row = session.get(Delivery, delivery_id)
        assert row is not None
        row.next_attempt_at = utcnow() - timedelta(seconds=1)
    assert await sweep_due(queue, postgres) >= 1
    starts = job_starts(postgres, delivery_id)
    assert len(starts) == 2
    assert min(starts) <= utcnow()


def job_starts(database: Database, delivery_id: str) -> list[datetime]:
    """When the waiting deliver_batch jobs that carry this delivery may start (UTC)."""
    with database.reader() as session:
        found = session.connection().execute(
            text(
                "SELECT coalesce(scheduled_at, now()) FROM procrastinate_jobs "
                "WHERE status = 'todo' AND task_name = :task AND args -> 'ids' ? :id"
            ),
            {"task": DELIVER_BATCH, "id": delivery_id},
        )
        return sorted(start.astimezone(UTC).replace(tzinfo=None) for start in found.scalars())


def test_dm_migrate_adds_the_queue_tables_once_and_dm_worker_needs_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with migrated_database("postgresql", tmp_path) as url:
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("DM_MODE", "distributed")
        monkeypatch.setenv("DM_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("DM_SECRET_KEY", "k")
        database = Database(url)
        try:
            assert main(["worker"]) == 2
            assert "dm migrate" in capsys.readouterr().err
            assert not queue_schema_applied(database.engine)
            assert main(["migrate"]) == 0
            assert main(["migrate"]) == 0  # idempotent
            assert queue_schema_applied(database.engine)
        finally:
            database.dispose()


async def test_the_api_notifier_enqueues_committed_ids_and_flushes_them_when_stopping(
    queue: procrastinate.App, postgres: Database, project_id: str
) -> None:
    sent_soon = queued_rows(postgres, project_id, "capture", 3)
    at_stop = queued_rows(postgres, project_id, "capture", 2)
    notifier = QueueNotifier(queue, postgres)
    await notifier.start()
    notifier.queued(sent_soon)
    await wait_until(lambda: all(job_starts(postgres, i) for i in sent_soon), "their jobs")
    await notifier.stop()
    notifier.queued(at_stop)  # handed over after the loop ended: the stop flushes them
    await notifier.stop()
    assert all(len(job_starts(postgres, i)) == 1 for i in sent_soon + at_stop)
    with postgres.reader() as session:
        marks = session.exec(
            select(Delivery.enqueued_until).where(col(Delivery.id).in_(sent_soon + at_stop))
        ).all()
    assert all(mark is not None and mark > utcnow() for mark in marks)


ASIDE = "stalled-test"


async def test_jobs_of_a_killed_worker_run_again_unless_a_twin_waits(
    queue: procrastinate.App, postgres: Database
) -> None:
    task = queue.tasks[DELIVER_BATCH]
    # A queue of their own: no other test's job is taken with them.
    alone = await task.configure(queue=ASIDE, queueing_lock="stalled-alone").defer_async(ids=[])
    twinned = await task.configure(queue=ASIDE, queueing_lock="stalled-twin").defer_async(ids=[])
    manager = queue.job_manager
    worker_id = await manager.register_worker()
    # The worker takes both jobs, then dies: its heartbeat stops.
    taken: set[int | None] = set()
    while len(taken) < 2:
        job = await manager.fetch_job(queues=[ASIDE], worker_id=worker_id)
        assert job is not None
        taken.add(job.id)
    assert {alone, twinned} <= taken
    twin = await task.configure(queue=ASIDE, queueing_lock="stalled-twin").defer_async(ids=[])
    with postgres.session() as session:
        session.connection().execute(
            text(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' "
                "WHERE id = :id"
            ),
            {"id": worker_id},
        )
    assert await retry_stalled(queue) >= 2
    with postgres.reader() as session:
        status: dict[int, str] = dict(
            session.connection()
            .execute(
                text("SELECT id, status FROM procrastinate_jobs WHERE id IN (:a, :b, :c)"),
                {"a": alone, "b": twinned, "c": twin},
            )
            .all()
        )
    assert status == {alone: "todo", twinned: "failed", twin: "todo"}
