"""A bulk job's preflight in parts, so several workers check one large campaign in parallel.

The preflight walks every recipient (addresses, suppressions, a render check per row) before
anything is prepared; on one worker that walk would hold up the whole fleet at the start of a
large job. So when a ``scheduled`` job comes due its audience is cut into keyset ranges of
customer ids (kept in the job's options), each checked by a job of its own
(``preflight.check_range``) that stores its part with the job. The part that completes the set
assembles the report (``preflight.assemble``: the same report as one walk) and starts the job
(``start_job``), all under the job's row lock, so exactly one part does it.

A part run twice stores nothing twice; a lost one is deferred again by the next bulk round.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from distribution.bulk.audience import id_ranges
from distribution.bulk.jobs import get_job, start_job
from distribution.bulk.preflight import assemble, check_range
from distribution.distributed.bulk_chunks import CHUNK_SIZE, Chunk
from distribution.errors import DistributionError
from distribution.models import BulkJob
from distribution.outbox import LinkSettings
from distribution.storage.db import Database

__all__ = ["CHECK_SIZE", "MAX_PARTS", "check_part", "pending_checks"]

# Recipients per part. A multiple of the preflight's own batch, so the parts' pages are the
# pages of one walk and the assembled report is the same, samples and failures included.
CHECK_SIZE = 10_000
# Every stored part rewrites the job's options with the parts before it, so a very large
# audience gets larger parts (a multiple of CHECK_SIZE) rather than more of them.
MAX_PARTS = 100


def pending_checks(
    database: Database,
    project_id: str,
    job_id: str,
    size: int = CHECK_SIZE,
    max_parts: int = MAX_PARTS,
) -> tuple[str, list[Chunk]]:
    """The job's status and, while it is ``scheduled``, the parts of its preflight still to
    check, planned the first time. A job with nothing left to check is started here."""
    with database.session() as session:
        job = get_job(session, project_id, job_id, lock=True)
        if job.status != "scheduled":
            return job.status, []
        checks: dict[str, Any] | None = job.options.get("checks")
        if checks is None:
            # The audience counted when the job was created is a good enough guide.
            sizes_per_part = -(-int(job.counts.get("audience", 0)) // (size * max_parts))
            part_size = size * max(1, sizes_per_part)
            try:
                bounds = id_ranges(session, job, None, part_size)
            except DistributionError as exc:  # its segment was deleted, say
                return start_job(session, job, None, f"preflight failed: {exc}"), []
            checks = {"ranges": [list(bound) for bound in bounds], "parts": {}}
            job.options = {**job.options, "checks": checks}
            session.add(job)
        pending = [
            Chunk(index, after, upto)
            for index, (after, upto) in enumerate(checks["ranges"])
            if str(index) not in checks["parts"]
        ]
        if not pending:  # an empty audience: nothing to check
            return _start(session, job, None), []
        return job.status, pending


def check_part(
    database: Database, project_id: str, job_id: str, part: Chunk, links: LinkSettings
) -> str | None:
    """Check one part and store it with the job; the status the job moved to if this part
    completed the set (or failed the checks), else None."""
    with database.reader() as session:
        job = get_job(session, project_id, job_id)
        if job.status != "scheduled" or str(part.index) in _parts(job):
            return None
        try:
            checked: dict[str, Any] | None = check_range(session, job, links, part.after, part.upto)
            # This span's preparation chunks, planned here so no worker plans them all later.
            bounds = id_ranges(session, job, part.after, CHUNK_SIZE, part.upto)
            chunks = [list(bound) for bound in bounds]
            error = None
        except DistributionError as exc:
            checked, chunks, error = None, [], f"preflight failed: {exc}"
    with database.session() as session:
        job = get_job(session, project_id, job_id, lock=True)
        if job.status != "scheduled" or "checks" not in job.options:
            return None
        if checked is None:
            return _start(session, job, error)
        checks = job.options["checks"]
        parts = {**checks["parts"], str(part.index): checked | {"chunks": chunks}}
        job.options = {**job.options, "checks": {**checks, "parts": parts}}
        session.add(job)
        if len(parts) < len(checks["ranges"]):
            return None
        return _start(session, job, None)


def _parts(job: BulkJob) -> dict[str, Any]:
    checks: dict[str, Any] = job.options.get("checks") or {}
    return dict(checks.get("parts", {}))


def _start(session: Session, job: BulkJob, error: str | None) -> str:
    """Assemble the stored parts (unless the checks failed) and start the locked job; the parts
    are dropped, the report keeps what they found."""
    report = None
    options = {key: value for key, value in job.options.items() if key != "checks"}
    if error is None:
        checks = job.options["checks"]
        parts = [checks["parts"][str(index)] for index in range(len(checks["ranges"]))]
        try:
            report = assemble(session, job, parts)
        except DistributionError as exc:
            error = f"preflight failed: {exc}"
        chunks = [chunk for part in parts for chunk in part["chunks"]]
        options |= {"chunks": chunks, "chunks_done": []}
    job.options = options
    return start_job(session, job, report, error)
