"""Bulk preparation in chunks, so several workers prepare one large campaign in parallel.

A job's audience is cut into keyset ranges of customer ids (the plan, kept in the job's
options): by the parts of its preflight, each for its own span (``bulk_checks``), or else when
it starts preparing. The ranges are contiguous and the last is open-ended, so customers added
after the plan still fall in one. Each chunk job prepares its range with ``prepare_customers``
in one transaction that also records the chunk as done; the job moves to ``sending`` with its
last chunk. Preparing is idempotent, so a chunk run twice (a lost worker, a re-deferred job) writes
nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from distribution.bulk.audience import customer_pages, id_ranges
from distribution.bulk.jobs import get_job
from distribution.bulk.prepare import BULK_PRIORITY, prepare_customers
from distribution.distributed.enqueue import ENQUEUE_WINDOW, Marked
from distribution.models import BulkJob, CustomerRecord, utcnow
from distribution.outbox import LinkSettings
from distribution.storage.db import Database

__all__ = ["CHUNK_SIZE", "Chunk", "pending_chunks", "prepare_chunk_rows"]

# Recipients per chunk: one transaction of codes, renders and delivery rows.
CHUNK_SIZE = 1000


@dataclass(frozen=True)
class Chunk:
    """Customers with ids in (after, upto] of a job's audience; ``upto`` None: to the end."""

    index: int
    after: str | None
    upto: str | None


def pending_chunks(database: Database, project_id: str, job_id: str) -> list[Chunk]:
    """The chunks of a ``preparing`` job not done yet, planning them unless its preflight
    parts did (``bulk_checks``). A job without any (an empty audience) moves on to sending."""
    with database.session() as session:
        job = get_job(session, project_id, job_id, lock=True)
        if job.status != "preparing":
            return []
        if "chunks" not in job.options:
            bounds = id_ranges(session, job, job.cursor, CHUNK_SIZE)
            job.options = {**job.options, "chunks": [list(b) for b in bounds], "chunks_done": []}
            session.add(job)
        done = set(job.options.get("chunks_done", []))
        pending = [
            Chunk(index, after, upto)
            for index, (after, upto) in enumerate(job.options["chunks"])
            if index not in done
        ]
        if not pending:
            _finish_if_prepared(job)
            session.add(job)
        return pending


def prepare_chunk_rows(
    database: Database, project_id: str, job_id: str, chunk: Chunk, links: LinkSettings
) -> list[Marked]:
    """Prepare one chunk and record it done, in one transaction; the rows it queued, already
    marked as carried by a job (defer it for them: ``defer_marked``)."""
    with database.reader() as session:
        # Read apart from the writing session: prepare_customers locks and re-reads the job
        # there, so the counts and the chunks done of concurrent chunks are never stale.
        job = get_job(session, project_id, job_id)
    if job.status != "preparing" or chunk.index in job.options.get("chunks_done", []):
        return []
    due = datetime.fromisoformat(str(job.options["send_at"]))
    # As ``mark_enqueued`` would mark them, written with the rows instead of after them: a
    # crash before the job is deferred leaves them to the sweeper once the window has passed.
    enqueued_until = max(due, utcnow()) + ENQUEUE_WINDOW
    with database.session() as session:
        customers = _customers(session, job, chunk)
        counts = prepare_customers(session, job, customers, links, enqueued_until=enqueued_until)
        locked = get_job(session, project_id, job_id, lock=True)
        if locked.status != "preparing":  # paused or cancelled meanwhile: roll the chunk back
            session.rollback()
            return []
        done = sorted({*locked.options.get("chunks_done", []), chunk.index})
        locked.options = {**locked.options, "chunks_done": done}
        _finish_if_prepared(locked)
        session.add(locked)
    return [Marked(queued, due, BULK_PRIORITY) for queued in counts.queued_ids]


def _finish_if_prepared(job: BulkJob) -> None:
    options: dict[str, Any] = job.options
    if len(options.get("chunks_done", [])) >= len(options.get("chunks", [])):
        job.status = "sending"
        job.updated_at = utcnow()


def _customers(session: Session, job: BulkJob, chunk: Chunk) -> list[CustomerRecord]:
    pages = customer_pages(session, job, chunk.after, chunk.upto, CHUNK_SIZE)
    return [customer for page in pages for customer in page]
