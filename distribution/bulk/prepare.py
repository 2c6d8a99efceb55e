"""Preparing a bulk job in batches: each batch assigns codes and writes delivery rows together.

One transaction per batch moves the job's cursor with the rows it wrote, so a crash leaves
every recipient either fully prepared (code and delivery rows committed) or not started; a
restarted job carries on after the cursor. Rows go in with Core executemany (no ORM objects per
row) at priority 10, so triggered sends (priority 0) are claimed first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from distribution.assignment import assign_batch, code_links
from distribution.bulk.audience import next_customers
from distribution.bulk.jobs import get_job, send_at
from distribution.bulk.preflight import preflight
from distribution.bulk.recipients import (
    Channel,
    Outcome,
    Recipients,
    address_problem,
    load_channels,
)
from distribution.bulk.timing import phase
from distribution.campaigns import get_campaign
from distribution.code_pools import get_pool, note_stock
from distribution.db import Database
from distribution.errors import DistributionError
from distribution.ids import new_id
from distribution.ingest import LinkSettings
from distribution.models import BulkJob, Customer, Delivery, DeliveryStatusChange, Project, utcnow
from distribution.webhooks import emit_many, wants

__all__ = [
    "BULK_PRIORITY",
    "PreparedCounts",
    "begin_job",
    "due_jobs",
    "finish_if_sent",
    "prepare_batch",
    "prepare_customers",
]

BULK_PRIORITY = 10
_NO_CODE = "the code pool ran out of codes before this recipient"
_DELIVERIES = Delivery.__table__  # type: ignore[attr-defined]
_CHANGES = DeliveryStatusChange.__table__  # type: ignore[attr-defined]


def begin_job(database: Database, project_id: str, job_id: str, links: LinkSettings) -> str:
    """Start a due ``scheduled`` job: run and store its preflight, then prepare (or fail)."""
    with database.reader() as session:
        job = get_job(session, project_id, job_id)
        if job.status != "scheduled":
            return job.status
        try:
            with phase("preflight"):
                report: dict[str, Any] | None = preflight(session, job, links)
            error = None if report is None or report["ok"] else "; ".join(report["problems"])
        except DistributionError as exc:
            report, error = None, f"preflight failed: {exc}"
    with database.session() as session:
        job = get_job(session, project_id, job_id, lock=True)
        if job.status != "scheduled":  # paused or cancelled meanwhile
            return job.status
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


def _row(
    job: BulkJob,
    customer: Customer,
    channel: Channel,
    outcome: Outcome,
    due: datetime,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": new_id("msg"),
        "project_id": job.project_id,
        "idempotency_key": f"bulk:{job.id}:{customer.id}:{channel.index}",
        "event_id": None,
        "distribution_id": None,
        "bulk_job_id": job.id,
        "customer_id": customer.id,
        "campaign_id": job.campaign_id,
        "channel": channel.channel,
        "provider": channel.provider,
        "template_id": channel.template_id,
        "template_version_id": outcome.version_id,
        "marketing": channel.marketing,
        "recipient": outcome.address,
        "status": outcome.status,
        "priority": BULK_PRIORITY,
        "content": outcome.content or {},
        "attempts": 0,
        "next_attempt_at": due,
        "lease_until": None,
        "provider_message_id": None,
        "last_error": outcome.reason,
        "created_at": now,
        "updated_at": now,
        "sent_at": None,
    }


def _announce(session: Session, project_id: str, rows: list[dict[str, Any]]) -> None:
    """``message.queued``/``message.failed`` for new rows, only if some subscription wants it."""
    for status in ("queued", "failed"):
        if not wants(session, project_id, f"message.{status}"):
            continue
        emit_many(
            session,
            project_id,
            f"message.{status}",
            [
                {
                    "object": "message",
                    "id": row["id"],
                    "status": row["status"],
                    "channel": row["channel"],
                    "bulk_job_id": row["bulk_job_id"],
                    "customer_id": row["customer_id"],
                    "campaign_id": row["campaign_id"],
                    "reason": row["last_error"],
                }
                for row in rows
                if row["status"] == status
            ],
        )


@dataclass(frozen=True)
class PreparedCounts:
    """What preparing some recipients did: customers prepared, messages queued, codes given."""

    prepared: int = 0
    queued: int = 0
    codes_assigned: int = 0
    no_code: int = 0


def _live_customers(session: Session, job: BulkJob, ids: Sequence[str]) -> list[Customer]:
    rows = session.exec(
        select(Customer).where(
            Customer.project_id == job.project_id,
            col(Customer.erased_at).is_(None),
            col(Customer.id).in_(list(ids)),
        )
    )
    return sorted(rows, key=lambda c: c.id)


def prepare_customers(
    session: Session,
    job: BulkJob,
    customers: Sequence[str] | Sequence[Customer],
    links: LinkSettings,
) -> PreparedCounts:
    """Prepare exactly these recipients of ``job`` in the caller's transaction.

    Assigns their codes, renders their messages, writes their delivery rows (a recipient
    already prepared is not written twice: the idempotency key is the same) and announces them,
    then adds the counts to the job's under a row lock taken last, so concurrent chunks of one
    job only queue on each other for the final update. ``customers`` are ids or loaded rows;
    ids of erased or unknown customers are skipped.
    """
    if customers and isinstance(customers[0], str):
        loaded = _live_customers(session, job, [str(c) for c in customers])
    else:
        loaded = [c for c in customers if isinstance(c, Customer)]
    if not loaded:
        return PreparedCounts()
    project = session.get(Project, job.project_id)
    assert project is not None
    campaign = get_campaign(session, project.id, str(job.campaign_id))
    pool = get_pool(session, project.id, str(job.options["pool_id"]))
    channels = load_channels(session, project.id, job.channels)
    now = utcnow()
    recipients = Recipients(session, project, campaign, links, channels)
    with phase("assignment"):
        suppressed = {c.index: recipients.suppressed(loaded, c) for c in channels}
        wanting = [
            customer.id
            for customer in loaded
            if any(
                _reachable(customer, channel) and customer.id not in suppressed[channel.index]
                for channel in channels
            )
        ]
        codes = assign_batch(session, pool, wanting)
    with phase("rendering"):
        due = datetime.fromisoformat(str(job.options["send_at"]))
        rows: list[dict[str, Any]] = []
        wanted = set(wanting)
        for customer in loaded:
            code = codes.get(customer.id)
            values = code_links(links, campaign, code) if code is not None else None
            for channel in channels:
                if customer.id in wanted and code is None:
                    address = customer.email if channel.channel == "email" else customer.phone
                    outcome = Outcome("failed", address, _NO_CODE)
                else:
                    outcome = recipients.outcome(
                        customer,
                        channel,
                        values,
                        suppressed=customer.id in suppressed[channel.index],
                    )
                rows.append(_row(job, customer, channel, outcome, due, now))
    with phase("inserting"):
        rows = _insert_new(session, rows)
        if rows:
            session.connection().execute(
                insert(_CHANGES),
                [
                    {
                        "delivery_id": r["id"],
                        "status": r["status"],
                        "detail": r["last_error"],
                        "at": now,
                    }
                    for r in rows
                ],
            )
            _announce(session, job.project_id, rows)
    counts = PreparedCounts(
        prepared=len(loaded),
        queued=sum(1 for r in rows if r["status"] == "queued"),
        codes_assigned=len(codes),
        no_code=len(wanted - set(codes)),
    )
    note_stock(session, pool)
    _add_counts(session, job, counts)
    return counts


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert the delivery rows whose idempotency key is new; the rows actually inserted."""
    if not rows:
        return rows
    dialect = session.get_bind().dialect.name
    build = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        build(_DELIVERIES)
        .on_conflict_do_nothing(index_elements=["project_id", "idempotency_key"])
        .returning(_DELIVERIES.c.id)
    )
    inserted = set(session.connection().execute(statement, rows).scalars())
    if len(inserted) == len(rows):
        return rows
    return [r for r in rows if r["id"] in inserted]


def _add_counts(session: Session, job: BulkJob, counts: PreparedCounts) -> None:
    locked = get_job(session, job.project_id, job.id, lock=True)
    total = dict(locked.counts)
    for name in ("prepared", "codes_assigned", "no_code"):
        total[name] = int(total.get(name, 0)) + getattr(counts, name)
    locked.counts = total
    locked.updated_at = utcnow()
    session.add(locked)


def prepare_batch(
    database: Database, project_id: str, job_id: str, links: LinkSettings, size: int = 1000
) -> tuple[str, int]:
    """Prepare the next ``size`` recipients in one transaction: (job status, queued rows)."""
    with database.session() as session:
        job = get_job(session, project_id, job_id, lock=True)
        if job.status != "preparing":
            return job.status, 0
        customers, cursor = next_customers(session, job, job.cursor, size)
        if cursor == job.cursor:
            job.status = "sending"
            job.updated_at = utcnow()
            session.add(job)
            return job.status, 0
        counts = prepare_customers(session, job, customers, links)
        job.cursor = cursor
        session.add(job)
        return job.status, counts.queued


def _reachable(customer: Customer, channel: Channel) -> bool:
    address = customer.email if channel.channel == "email" else customer.phone
    return address_problem(channel.channel, address) is None


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
                col(Delivery.status).in_(("queued", "sending", "paused")),
            )
            .limit(1)
        ).first()
        if waiting is None:
            now = utcnow()
            job.status, job.finished_at, job.updated_at = "completed", now, now
            session.add(job)
        return job.status
