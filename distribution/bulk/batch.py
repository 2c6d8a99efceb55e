"""One batch of a bulk job's recipients: rendered first, then written in one short transaction.

Rendering is most of a batch's cost and needs only reads, so ``render_batch`` can run in a
reading transaction with codes picked but not yet taken; ``write_batch`` then assigns the codes
(after checking that nobody took them meanwhile), inserts the delivery rows and status changes
with Core executemany and announces them. On SQLite the single writer lock is thus held for the
writes alone, and the delivery worker's claims and outcomes are not kept waiting behind renders.

Delivery rows are inserted with ``ON CONFLICT DO NOTHING`` on their idempotency key, so a batch
run twice (a crashed run's retry, or two overlapping chunks) never writes a message twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select
from sqlmodel import Session

from distribution.bulk.audience import live_customers
from distribution.bulk.jobs import get_job
from distribution.bulk.recipients import JobChannel, Recipients, load_channels
from distribution.bulk.timing import phase
from distribution.codes.assignment import (
    CodeClaim,
    assign_claims,
    code_links,
    held_codes,
    pick_codes,
)
from distribution.codes.campaigns import get_campaign
from distribution.codes.code_pools import get_pool, note_stock
from distribution.models import (
    BulkJob,
    CustomerRecord,
    Delivery,
    DeliveryStatus,
    DeliveryStatusChange,
    Project,
    utcnow,
)
from distribution.outbox import (
    ChannelSpec,
    LinkSettings,
    PreparedMessage,
    Refusal,
    RefusalKind,
)
from distribution.storage.driver_sql import insert_many
from distribution.storage.ids import new_id
from distribution.webhooks.message_data import message_data
from distribution.webhooks.subscriptions import emit_many, wants

__all__ = [
    "BULK_PRIORITY",
    "PreparedCounts",
    "RenderedBatch",
    "prepare_customers",
    "render_batch",
    "write_batch",
]

BULK_PRIORITY = 10
_DELIVERIES: Table = Delivery.__table__  # type: ignore[attr-defined]
_CHANGES: Table = DeliveryStatusChange.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class PreparedCounts:
    """What preparing some recipients did: customers prepared, messages queued, codes given."""

    prepared: int = 0
    queued: int = 0
    codes_assigned: int = 0
    no_code: int = 0
    #: The ids of the queued rows written (not those a previous run had written already).
    queued_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class RenderedBatch:
    """Recipients rendered with the codes planned for them, ready to be written."""

    prepared: int
    claims: list[CodeClaim]
    held: dict[str, str]  # customer -> the code of the campaign they held already
    codes_assigned: int
    no_code: int
    rows: list[dict[str, Any]]


def render_batch(
    session: Session,
    job: BulkJob,
    customers: Sequence[CustomerRecord],
    links: LinkSettings,
    *,
    lock_codes: bool,
    enqueued_until: datetime | None = None,
) -> RenderedBatch:
    """Plan codes for the recipients who need one and render every recipient's messages.

    Writes nothing. ``lock_codes`` takes the planned codes for this transaction (use it in the
    writing transaction); without it the plan is checked again by ``write_batch``.
    """
    project = session.get(Project, job.project_id)
    assert project is not None
    campaign = get_campaign(session, project.id, str(job.campaign_id))
    pool = get_pool(session, project.id, str(job.options["pool_id"]))
    channels = load_channels(session, project.id, ChannelSpec.from_stored(job.channels))
    recipients = Recipients(session, project, campaign, links, channels)
    with phase("assignment"):
        suppressed = {c.index: recipients.suppressed(customers, c) for c in channels}
        wanting = [
            customer.id
            for customer in customers
            if any(
                channel.reachable(customer) and customer.id not in suppressed[channel.index]
                for channel in channels
            )
        ]
        held = held_codes(session, pool.campaign_id, wanting)
        codes = dict(held)
        claims = pick_codes(session, pool, [c for c in wanting if c not in codes], lock=lock_codes)
        codes.update((c.customer_id, c.code) for c in claims)
    with phase("rendering"):
        due = datetime.fromisoformat(str(job.options["send_at"]))
        now = utcnow()
        rows: list[dict[str, Any]] = []
        wanted = set(wanting)
        for customer in customers:
            code = codes.get(customer.id)
            values = code_links(links, campaign, code) if code is not None else None
            for channel in channels:
                prepared: PreparedMessage | Refusal
                if customer.id in wanted and code is None:
                    address = {"email": customer.email, "sms": customer.phone}
                    prepared = Refusal(RefusalKind.NO_CODE, address=address.get(channel.channel))
                else:
                    prepared = recipients.prepare(
                        customer,
                        channel,
                        values,
                        suppressed=customer.id in suppressed[channel.index],
                    )
                rows.append(_row(job, customer, channel, prepared, code, due, now, enqueued_until))
    return RenderedBatch(
        prepared=len(customers),
        claims=claims,
        held=held,
        codes_assigned=len(codes),
        no_code=len(wanted) - len(codes),
        rows=rows,
    )


def write_batch(
    session: Session, job: BulkJob, batch: RenderedBatch, *, verify: bool
) -> PreparedCounts | None:
    """Assign the batch's codes, insert its new rows, announce them and add the job's counts.

    With ``verify`` (the batch was rendered outside this transaction) None is returned, with
    nothing written, when one of its planned codes or customers was assigned meanwhile, or a
    code a customer held was revoked.
    """
    pool = get_pool(session, job.project_id, str(job.options["pool_id"]))
    with phase("assignment"):
        # A code held at render time may have been revoked since: the message would carry it.
        if verify and held_codes(session, pool.campaign_id, list(batch.held)) != batch.held:
            return None
        if not assign_claims(session, pool, batch.claims, verify=verify):
            return None
    with phase("inserting"):
        rows = _insert_new(session, batch.rows)
        if rows:
            insert_many(
                session.connection(),
                _CHANGES,
                ("delivery_id", "status", "detail", "at"),
                ((r["id"], r["status"], r["last_error"], r["created_at"]) for r in rows),
            )
            _announce(session, job.project_id, rows)
        queued_ids = tuple(r["id"] for r in rows if r["status"] == DeliveryStatus.QUEUED)
        counts = PreparedCounts(
            prepared=batch.prepared,
            queued=len(queued_ids),
            codes_assigned=batch.codes_assigned,
            no_code=batch.no_code,
            queued_ids=queued_ids,
        )
        note_stock(session, pool)
        _add_counts(session, job, counts)
    return counts


def prepare_customers(
    session: Session,
    job: BulkJob,
    customers: Sequence[str] | Sequence[CustomerRecord],
    links: LinkSettings,
    *,
    enqueued_until: datetime | None = None,
) -> PreparedCounts:
    """Prepare exactly these recipients of ``job`` in the caller's (writing) transaction.

    Assigns their codes, renders their messages, writes their delivery rows (a recipient
    already prepared is not written twice: the idempotency key is the same) and announces them,
    then adds the counts to the job's under a row lock taken last, so concurrent chunks of one
    job only queue on each other for the final update. ``customers`` are ids or loaded rows;
    ids of erased or unknown customers are skipped. ``enqueued_until`` marks the queued rows as
    carried by a delivery job the caller defers after the commit (``counts.queued_ids``).
    """
    if customers and isinstance(customers[0], str):
        loaded = live_customers(session, job.project_id, [str(c) for c in customers])
    else:
        loaded = [c for c in customers if isinstance(c, CustomerRecord)]
    if not loaded:
        return PreparedCounts()
    batch = render_batch(
        session, job, loaded, links, lock_codes=True, enqueued_until=enqueued_until
    )
    counts = write_batch(session, job, batch, verify=False)
    assert counts is not None  # unverified writes always go through
    return counts


def _row(
    job: BulkJob,
    customer: CustomerRecord,
    channel: JobChannel,
    prepared: PreparedMessage | Refusal,
    code: str | None,
    due: datetime,
    now: datetime,
    enqueued_until: datetime | None,
) -> dict[str, Any]:
    if isinstance(prepared, Refusal):
        status, reason, content = prepared.status, prepared.reason, {}
    else:
        status, reason, content = DeliveryStatus.QUEUED, None, prepared.content
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
        "template_id": channel.template or None,
        "template_version_id": prepared.version_id,
        "marketing": channel.marketing,
        "recipient": prepared.address,
        "status": status,
        "priority": BULK_PRIORITY,
        "content": content,
        "attempts": 0,
        "next_attempt_at": due,
        "lease_until": None,
        # A queued row can be written already marked as carried by a job that is deferred
        # right after the commit (distributed mode): no second write of every row to mark it.
        "enqueued_until": enqueued_until if status == DeliveryStatus.QUEUED else None,
        "provider_message_id": None,
        "last_error": reason,
        "created_at": now,
        "updated_at": now,
        "sent_at": None,
        # What a redemption of the code is attributed by; a refused row carried nothing.
        "code": None if isinstance(prepared, Refusal) else code,
    }


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert the delivery rows whose idempotency key is new; the rows actually inserted."""
    if not rows:
        return rows
    connection = session.connection()
    names = tuple(rows[0])  # every row comes from ``_row``: the same keys in the same order
    inserted = insert_many(
        connection,
        _DELIVERIES,
        names,
        ([row[name] for name in names] for row in rows),
        skip_conflicts_on=("project_id", "idempotency_key"),
    )
    if inserted == len(rows):
        return rows
    # Some recipients were prepared before (a retried batch): their fresh ids were not stored.
    ids = [row["id"] for row in rows]
    stored = set(
        connection.execute(select(_DELIVERIES.c.id).where(_DELIVERIES.c.id.in_(ids))).scalars()
    )
    return [row for row in rows if row["id"] in stored]


def _announce(session: Session, project_id: str, rows: list[dict[str, Any]]) -> None:
    """``message.queued``/``message.failed`` for new rows, only if some subscription wants it."""
    for status in (DeliveryStatus.QUEUED, DeliveryStatus.FAILED):
        if not wants(session, project_id, f"message.{status}"):
            continue
        emit_many(
            session,
            project_id,
            f"message.{status}",
            [
                message_data(
                    id=row["id"],
                    status=row["status"],
                    channel=row["channel"],
                    bulk_job_id=row["bulk_job_id"],
                    customer_id=row["customer_id"],
                    campaign_id=row["campaign_id"],
                    reason=row["last_error"],
                )
                for row in rows
                if row["status"] == status
            ],
        )


def _add_counts(session: Session, job: BulkJob, counts: PreparedCounts) -> None:
    locked = get_job(session, job.project_id, job.id, lock=True)
    total = dict(locked.counts)
    for name in ("prepared", "codes_assigned", "no_code"):
        total[name] = int(total.get(name, 0)) + getattr(counts, name)
    locked.counts = total
    locked.updated_at = utcnow()
    session.add(locked)
