"""Bulk jobs: creation, progress, pause, resume, cancel and "send now".

Statuses: ``scheduled`` (waiting for its start) -> ``preparing`` (preflight done; batches of
recipients get their code and delivery row) -> ``sending`` (everyone prepared; the worker sends)
-> ``completed``. Also ``paused``, ``cancelled`` and ``failed`` (the preflight refused, or the
job could not go on; ``error`` says why). A job's deliveries become due ``send_delay_seconds``
after it starts, a window in which it can still be cancelled with nothing sent.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, update
from sqlmodel import Session, col, select

from distribution.bulk.audience import resolve_listed
from distribution.bulk.preflight import StockCheck, stock_check
from distribution.bulk.recipients import load_channels
from distribution.codes.campaigns import get_campaign
from distribution.codes.code_pools import get_pool
from distribution.customers.customer_files import RowError, read_csv_rows
from distribution.customers.store import upsert_customers
from distribution.errors import ConflictError, FieldError, InvalidInputError, NotFoundError
from distribution.models import (
    PENDING_STATUSES,
    UNSENT_STATUSES,
    BulkJob,
    Code,
    CodePool,
    Delivery,
    DeliveryStatus,
    DeliveryStatusChange,
    utcnow,
)
from distribution.outbox import ChannelSpec
from distribution.storage.ids import new_id
from distribution.storage.project_rows import project_row

__all__ = [
    "DEFAULT_SEND_DELAY",
    "BulkSpec",
    "Progress",
    "build_job",
    "cancel_job",
    "create_job",
    "get_job",
    "job_outcome",
    "job_pool",
    "job_progress",
    "pause_job",
    "resume_job",
    "send_now",
    "start_job",
]

DEFAULT_SEND_DELAY = 600.0
MAX_SEND_DELAY = 7 * 24 * 3600.0
MAX_CSV_ROWS = 100_000
#: Statuses of a job (not of its deliveries) it never leaves.
FINAL = ("completed", "cancelled", "failed")


@dataclass(frozen=True)
class BulkSpec:
    """A bulk send as asked for; the audience is a segment, customers, or CSV text."""

    campaign_id: str
    channels: Sequence[ChannelSpec]
    segment_id: str | None = None
    customers: list[str] | None = None
    csv: str | None = None
    pool_id: str | None = None
    send_delay_seconds: float = DEFAULT_SEND_DELAY
    scheduled_at: datetime | None = None
    send_to_available: bool = False


def job_pool(session: Session, project_id: str, campaign_id: str, pool_id: str | None) -> CodePool:
    """The pool a job draws from: the one named, or the campaign's only pool."""
    if pool_id is not None:
        try:
            pool = get_pool(session, project_id, pool_id)
        except NotFoundError:
            raise InvalidInputError([FieldError("pool", "no such code pool")]) from None
        if pool.campaign_id != campaign_id:
            raise InvalidInputError([FieldError("pool", "belongs to another campaign")])
        return pool
    pools = list(session.exec(select(CodePool).where(CodePool.campaign_id == campaign_id).limit(2)))
    if len(pools) != 1:
        reason = "the campaign has no code pool" if not pools else "the campaign has several pools"
        raise InvalidInputError([FieldError("pool", f"{reason}: name one")])
    return pools[0]


def _audience(session: Session, project_id: str, spec: BulkSpec, region: str) -> dict[str, Any]:
    given = [x for x in (spec.segment_id, spec.customers, spec.csv) if x is not None]
    if len(given) != 1:
        raise InvalidInputError(
            [FieldError("audience", "give exactly one of segment, customers or csv")]
        )
    if spec.segment_id is not None:
        return {"segment_id": spec.segment_id}
    if spec.customers is not None:
        if not spec.customers:
            raise InvalidInputError([FieldError("audience.customers", "must not be empty")])
        return {"customer_ids": resolve_listed(session, project_id, spec.customers)}
    read = list(read_csv_rows(io.StringIO(spec.csv or "")))
    if not read or len(read) > MAX_CSV_ROWS:
        raise InvalidInputError(
            [FieldError("audience.csv", f"must hold 1-{MAX_CSV_ROWS:,} customer rows")]
        )
    rows = [row for row in read if not isinstance(row, RowError)]
    items = upsert_customers(session, project_id, [r for _, r in rows], default_region=region)
    bad = [
        FieldError(f"audience.csv.row{r.row}.{r.field}", r.reason)
        for r in read
        if isinstance(r, RowError)
    ] + [
        FieldError(f"audience.csv.row{rows[i.index][0]}.{e.field}", e.reason)
        for i in items
        for e in i.errors
    ]
    if bad:
        raise InvalidInputError(bad[:50])
    return {"customer_ids": sorted({str(i.customer_id) for i in items}), "uploaded": len(rows)}


def create_job(
    session: Session,
    project_id: str,
    spec: BulkSpec,
    *,
    actor: str,
    region: str = "US",
) -> BulkJob:
    """Check and store a job; it starts at ``scheduled_at`` (now by default).

    Raises:
        InvalidInputError: A field is wrong (every one named).
        ConflictError: The pool cannot cover the audience and ``send_to_available`` is off.
    """
    job, stock = build_job(session, project_id, spec, actor=actor, region=region)
    if stock.short and not spec.send_to_available:
        raise ConflictError(
            f"the pool has {stock.available} codes but the audience needs {stock.needed}; "
            "add codes or send with send_to_available: true"
        )
    session.add(job)
    session.flush()
    return job


def build_job(
    session: Session, project_id: str, spec: BulkSpec, *, actor: str, region: str = "US"
) -> tuple[BulkJob, StockCheck]:
    """A checked job, not added to the session (a dry run stops here), and its stock of codes.

    Raises:
        InvalidInputError: A field is wrong (every one named).
    """
    if not 0 <= spec.send_delay_seconds <= MAX_SEND_DELAY:
        raise InvalidInputError(
            [FieldError("send_delay_seconds", f"must be between 0 and {MAX_SEND_DELAY:.0f}")]
        )
    try:
        campaign = get_campaign(session, project_id, spec.campaign_id)
    except NotFoundError:
        raise InvalidInputError([FieldError("campaign", "no such campaign")]) from None
    pool = job_pool(session, project_id, campaign.id, spec.pool_id)
    load_channels(session, project_id, spec.channels)
    if spec.segment_id is not None and "\x00" in spec.segment_id:
        raise InvalidInputError([FieldError("audience.segment", "no such segment")])
    now = utcnow()
    job = BulkJob(
        id=new_id("bulk"),
        project_id=project_id,
        campaign_id=campaign.id,
        status="scheduled",
        audience=_audience(session, project_id, spec, region),
        channels=[channel.to_json() for channel in spec.channels],
        options={
            "pool_id": pool.id,
            "send_delay_seconds": spec.send_delay_seconds,
            "send_to_available": spec.send_to_available,
        },
        scheduled_at=spec.scheduled_at or now,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    stock = stock_check(session, job)
    job.counts = {"audience": stock.audience}
    return job, stock


def get_job(session: Session, project_id: str, job_id: str, *, lock: bool = False) -> BulkJob:
    """A job of the project (locked for update when ``lock``)."""
    return project_row(session, BulkJob, project_id, job_id, "bulk send", lock=lock)


@dataclass(frozen=True)
class Progress:
    """Where a job stands: recipients prepared, messages by status, rate and ETA."""

    audience: int
    prepared: int
    messages: dict[str, int] = field(default_factory=dict)
    rate_per_second: float | None = None
    eta_seconds: float | None = None


def job_outcome(status: str, messages: dict[str, int]) -> str:
    """What a job came to, for people: its status, except that a ``completed`` job none of
    whose messages went out but some failed is ``failed``, and one with both sent and failed
    messages is ``completed_with_failures``. The one place this is decided (API and pages)."""
    if status != "completed":
        return status
    sent = messages.get(DeliveryStatus.SENT, 0) + messages.get(DeliveryStatus.DELIVERED, 0)
    failed = messages.get(DeliveryStatus.FAILED, 0) + messages.get(DeliveryStatus.BOUNCED, 0)
    if failed and not sent:
        return "failed"
    return "completed_with_failures" if failed else "completed"


def job_progress(session: Session, job: BulkJob) -> Progress:
    """Counts from the job's delivery rows; rate over the sends so far, ETA of the rest."""
    by_status = dict(
        session.exec(
            select(Delivery.status, func.count())
            .where(Delivery.bulk_job_id == job.id)
            .group_by(col(Delivery.status))
        ).all()
    )
    messages = {str(k): int(v) for k, v in by_status.items()}
    first, last = session.exec(
        select(func.min(Delivery.sent_at), func.max(Delivery.sent_at)).where(
            Delivery.bulk_job_id == job.id, col(Delivery.sent_at).is_not(None)
        )
    ).one()
    sent = messages.get(DeliveryStatus.SENT, 0) + messages.get(DeliveryStatus.DELIVERED, 0)
    rate = eta = None
    if first is not None and last is not None and sent > 1 and last > first:
        rate = sent / (last - first).total_seconds()
        audience = int(job.counts.get("audience", 0))
        prepared = int(job.counts.get("prepared", 0))
        channels = max(1, len(job.channels))
        remaining = sum(messages.get(s, 0) for s in PENDING_STATUSES)
        remaining += max(0, audience - prepared) * channels
        eta = remaining / rate if job.status not in FINAL else 0.0
    return Progress(
        audience=int(job.counts.get("audience", 0)),
        prepared=int(job.counts.get("prepared", 0)),
        messages=messages,
        rate_per_second=rate,
        eta_seconds=eta,
    )


def _move(
    session: Session,
    job: BulkJob,
    old: Collection[DeliveryStatus],
    new: DeliveryStatus,
    detail: str,
) -> int:
    now = utcnow()
    ids = [
        row[0]
        for row in session.connection().execute(
            update(Delivery)
            .where(col(Delivery.bulk_job_id) == job.id, col(Delivery.status).in_(old))
            .values(status=new, updated_at=now)
            .returning(col(Delivery.id))
        )
    ]
    if ids:
        session.connection().execute(
            insert(DeliveryStatusChange.__table__),  # type: ignore[attr-defined]
            [{"delivery_id": i, "status": new, "detail": detail, "at": now} for i in ids],
        )
    return len(ids)


def pause_job(session: Session, project_id: str, job_id: str) -> BulkJob:
    """Stop preparing and sending; unsent messages wait as ``paused``."""
    job = get_job(session, project_id, job_id, lock=True)
    if job.status == "paused":
        return job
    if job.status not in ("scheduled", "preparing", "sending"):
        raise ConflictError(f"a {job.status} bulk send cannot be paused")
    job.options = {**job.options, "resume_to": job.status}
    job.status = "paused"
    job.updated_at = utcnow()
    _move(
        session,
        job,
        {DeliveryStatus.QUEUED},
        DeliveryStatus.PAUSED,
        "the bulk send was paused",
    )
    session.add(job)
    return job


def resume_job(session: Session, project_id: str, job_id: str) -> BulkJob:
    """Carry on where the job was paused."""
    job = get_job(session, project_id, job_id, lock=True)
    if job.status != "paused":
        raise ConflictError(f"a {job.status} bulk send cannot be resumed")
    job.status = str(job.options.get("resume_to", "preparing"))
    job.updated_at = utcnow()
    _move(
        session,
        job,
        {DeliveryStatus.PAUSED},
        DeliveryStatus.QUEUED,
        "the bulk send was resumed",
    )
    session.add(job)
    return job


def send_now(session: Session, project_id: str, job_id: str) -> BulkJob:
    """End the waiting window: queued messages (and those prepared later) are due now."""
    job = get_job(session, project_id, job_id, lock=True)
    if job.status in FINAL:
        raise ConflictError(f"a {job.status} bulk send has nothing left to send")
    now = utcnow()
    job.options = {**job.options, "send_at": now.isoformat()}
    if job.status == "scheduled":
        job.scheduled_at = min(job.scheduled_at, now)
    job.updated_at = now
    session.connection().execute(
        update(Delivery)
        .where(
            col(Delivery.bulk_job_id) == job.id,
            col(Delivery.status).in_(UNSENT_STATUSES),
            col(Delivery.next_attempt_at) > now,
        )
        .values(next_attempt_at=now)
    )
    session.add(job)
    return job


def cancel_job(session: Session, project_id: str, job_id: str, *, release_codes: bool) -> BulkJob:
    """Cancel unsent messages; codes the job assigned to them are released when asked.

    A customer keeps a code that was sent to them, and one they held before the job.
    """
    job = get_job(session, project_id, job_id, lock=True)
    if job.status == "cancelled":
        return job
    if job.status in FINAL:
        raise ConflictError(f"a {job.status} bulk send cannot be cancelled")
    now = utcnow()
    _move(session, job, UNSENT_STATUSES, DeliveryStatus.CANCELLED, "the bulk send was cancelled")
    released = 0
    if release_codes and job.started_at is not None:
        kept = select(Delivery.customer_id).where(
            Delivery.bulk_job_id == job.id, col(Delivery.status) != DeliveryStatus.CANCELLED
        )
        cancelled = select(Delivery.customer_id).where(
            Delivery.bulk_job_id == job.id, Delivery.status == DeliveryStatus.CANCELLED
        )
        released = (
            session.connection()
            .execute(
                update(Code)
                .where(
                    col(Code.campaign_id) == job.campaign_id,
                    col(Code.status) == "assigned",
                    col(Code.assigned_at) >= job.started_at,
                    col(Code.customer_id).in_(cancelled),
                    col(Code.customer_id).not_in(kept),
                )
                .values(status="available", customer_id=None, assigned_at=None)
            )
            .rowcount
        )
    job.status = "cancelled"
    job.finished_at = now
    job.updated_at = now
    job.counts = {**job.counts, "codes_released": released}
    session.add(job)
    return job


def start_job(
    session: Session, job: BulkJob, report: dict[str, Any] | None, error: str | None
) -> str:
    """Store the preflight ``report`` of a locked ``scheduled`` job and move it on: to
    ``preparing``, or to ``failed`` when the report refuses it or the checks raised ``error``.
    Any other status (paused or cancelled meanwhile) is left alone. The job's status."""
    if job.status != "scheduled":
        return job.status
    if error is None and report is not None and not report["ok"]:
        error = "; ".join(report["problems"])
    now = utcnow()
    job.preflight = report or {}
    job.started_at = now
    job.updated_at = now
    if error:
        job.status, job.error, job.finished_at = "failed", error, now
    else:
        job.status = "preparing"
        job.options = {**job.options, "send_at": send_at(job, now).isoformat()}
        job.counts = {**job.counts, "prepared": 0}
    session.add(job)
    return job.status


def send_at(job: BulkJob, now: datetime) -> datetime:
    """When the job's messages become due."""
    stored = job.options.get("send_at")
    if stored:
        return datetime.fromisoformat(str(stored))
    return now + timedelta(seconds=float(job.options.get("send_delay_seconds", DEFAULT_SEND_DELAY)))
