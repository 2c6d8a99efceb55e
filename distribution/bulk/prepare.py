"""Preparing a bulk job in batches: each batch assigns codes and writes delivery rows together.

One writing transaction per batch moves the job's cursor with the rows it wrote, so a crash
leaves every recipient either fully prepared (code and delivery rows committed) or not started;
a restarted job carries on after the cursor. The batch itself is ``distribution.bulk.batch``:
rendered before that transaction, written in it, at priority 10 so triggered sends (priority 0)
are claimed first.

A job starts on the checks that can refuse it (the stock of codes, the channels), which are
counts. The checks of every row (``check_rows``: ``preflight.check_range``, a walk over the
whole audience) cannot refuse it any more, so they run beside its batches instead of before
them; the job turns ``sending`` only once its report holds them.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from distribution.bulk.audience import next_customers
from distribution.bulk.batch import (
    BULK_PRIORITY,
    PreparedCounts,
    prepare_customers,
    render_batch,
    write_batch,
)
from distribution.bulk.jobs import get_job, start_job
from distribution.bulk.preflight import StockCheck, assemble, check_range
from distribution.bulk.timing import phase
from distribution.errors import DistributionError
from distribution.models import PENDING_STATUSES, BulkJob, Delivery, utcnow
from distribution.outbox import LinkSettings
from distribution.storage.db import Database

__all__ = [
    "BULK_PRIORITY",
    "PreparedCounts",
    "begin_job",
    "check_rows",
    "due_jobs",
    "finish_if_sent",
    "prepare_batch",
    "prepare_customers",
]


#: Recipients of a job's first batch: a small one, so that its first messages go out a moment
#: after the start, before the preparation process is ready to take the larger ones.
FIRST_BATCH = 250


def begin_job(database: Database, project_id: str, job_id: str, links: LinkSettings) -> str:
    """Start a due ``scheduled`` job: store the checks that can refuse it, then prepare (or
    fail). Its rows are checked beside its batches (``check_rows``)."""
    with database.reader() as session:
        job = get_job(session, project_id, job_id)
        if job.status != "scheduled":
            return job.status
        try:
            with phase("preflight"):
                report: dict[str, Any] | None = assemble(session, job, [])
            error = None
        except DistributionError as exc:
            report, error = None, f"preflight failed: {exc}"
    with database.session() as session:
        return start_job(session, get_job(session, project_id, job_id, lock=True), report, error)


def prepare_batch(
    database: Database, project_id: str, job_id: str, links: LinkSettings, size: int = 2000
) -> tuple[str, int]:
    """Prepare the next ``size`` recipients: (job status, queued rows). Once every recipient
    is prepared the job turns ``sending``, but not before ``check_rows`` has stored its report:
    until then a call queues nothing and the job stays ``preparing``.

    The batch is rendered in a reading transaction, then written in a short one that also
    moves the cursor; if the job moved on meanwhile the render is dropped, and if a planned code
    was taken meanwhile the batch is prepared again inside the writing transaction.
    """
    with database.reader() as session:
        job = get_job(session, project_id, job_id)
        if job.status != "preparing":
            return job.status, 0
        start = job.cursor
        if start is None:
            size = min(size, FIRST_BATCH)
        customers, cursor = next_customers(session, job, start, size)
        batch = (
            render_batch(session, job, customers, links, lock_codes=False) if customers else None
        )
    with database.session() as session:
        job = get_job(session, project_id, job_id, lock=True)
        if job.status != "preparing" or job.cursor != start:
            return job.status, 0
        if cursor == start:
            if not job.preflight.get("rows_checked", True):
                return job.status, 0  # every row prepared, but not yet every row checked
            job.status = "sending"
            job.updated_at = utcnow()
            session.add(job)
            return job.status, 0
        counts = write_batch(session, job, batch, verify=True) if batch is not None else None
        if counts is None:
            counts = prepare_customers(session, job, [c.id for c in customers], links)
        job.cursor = cursor
        session.add(job)
        return job.status, counts.queued


def check_rows(database: Database, project_id: str, job_id: str, links: LinkSettings) -> str:
    """Walk a ``preparing`` job's audience (reading) and store the report of every row in its
    preflight, unless it holds one already: the job's status.

    It may run while batches are prepared: it reads the audience, as the job started on it,
    and writes only the job's report, under the job's lock.
    """
    with database.reader() as session:
        job = get_job(session, project_id, job_id)
        if job.status != "preparing" or job.preflight.get("rows_checked", True):
            return job.status
        with phase("preflight"):
            rows = check_range(session, job, links)
            # The stock as the job started on it: its batches have assigned codes since.
            started = job.preflight
            stock = StockCheck(
                started["audience"],
                started["already_have_code"],
                started["codes_needed"],
                started["codes_available"],
            )
            report = assemble(session, job, [rows], stock)
    with database.session() as writing:
        locked = get_job(writing, project_id, job_id, lock=True)
        if locked.status == "preparing":
            # The refusing checks were made at the start; these rows cannot fail the job now.
            locked.preflight = {**report, "ok": started["ok"], "problems": started["problems"]}
            writing.add(locked)
        return locked.status


def due_jobs(database: Database) -> list[tuple[str, str, str]]:
    """(project, job, status) of jobs with work: due ``scheduled``, ``preparing``, ``sending``."""
    now = utcnow()
    with database.reader() as session:
        rows = session.exec(
            select(BulkJob.project_id, BulkJob.id, BulkJob.status)
            .where(
                (BulkJob.status == "preparing")
                | (BulkJob.status == "sending")
                | ((BulkJob.status == "scheduled") & (BulkJob.scheduled_at <= now))
            )
            .order_by(BulkJob.created_at)  # type: ignore[arg-type]
        ).all()
    return [(str(p), str(i), str(s)) for p, i, s in rows]


def finish_if_sent(database: Database, project_id: str, job_id: str) -> str:
    """Complete a ``sending`` job once none of its messages is waiting or in flight."""
    with database.session() as session:
        job = get_job(session, project_id, job_id, lock=True)
        if job.status != "sending":
            return job.status
        waiting = session.exec(
            select(Delivery.id)
            .where(
                Delivery.bulk_job_id == job.id,
                col(Delivery.status).in_(PENDING_STATUSES),
            )
            .limit(1)
        ).first()
        if waiting is None:
            now = utcnow()
            job.status, job.finished_at, job.updated_at = "completed", now, now
            session.add(job)
        return job.status
