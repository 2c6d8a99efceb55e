"""Giving codes to customers: at most one per customer per campaign, never one code to two.

The unique (campaign, customer) constraint is the rule itself; the claim of an available code is
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (concurrent claimers take different rows) and the single
writer on SQLite (writing transactions begin ``IMMEDIATE``), and the update re-checks that the
code is still available. A concurrent twin for the same customer trips the constraint; the loser
rolls back its savepoint and answers with the winner's code, so asking again is always stable.

Each new assignment ingests a ``code.assigned`` event in the same transaction (distributions can
trigger on it) and queues the ``code.assigned`` webhook; a revocation does the same with
``code.revoked``. Bulk sends assign with ``assign_batch`` and do not ingest events: the bulk
message is the announcement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Table, bindparam, func, update
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from distribution.codes.campaigns import get_campaign, referral_url
from distribution.codes.code_pools import get_pool, note_stock
from distribution.customers.store import get_customer
from distribution.errors import ConflictError, FieldError, InvalidInputError, NotFoundError
from distribution.events.event_input import CustomerRef, IncomingEvent
from distribution.events.ingest import ingest_event
from distribution.models import Campaign, Code, CodePool, Project, utcnow
from distribution.outbox import LinkSettings
from distribution.storage.driver_sql import Among, update_many
from distribution.webhooks.subscriptions import emit, emit_many
from templates.schema import with_aliases

__all__ = [
    "AssignedCode",
    "CodeClaim",
    "assign_batch",
    "assign_claims",
    "assign_code",
    "code_links",
    "codes_of_customer",
    "held_codes",
    "pick_codes",
    "revoke_code",
]

_ATTEMPTS = 50


@dataclass(frozen=True)
class AssignedCode:
    """A code and who holds it, with its links."""

    code: str
    pool_id: str
    campaign_id: str
    status: str
    customer_id: str | None
    assigned_at: datetime | None
    referral_url: str | None
    qr_url: str
    created: bool = False
    deliveries: int = 0


def code_links(links: LinkSettings, campaign: Campaign, code: str) -> dict[str, Any]:
    """The template variables of a code: ``code``, ``qr_url`` and ``referral_link``.

    Named by the variable schema (`templates.VARIABLE_SCHEMA`); its deprecated aliases are
    added too (``referral_url``, the name sends used before), so older templates still work.
    """
    values: dict[str, Any] = {
        "code": code,
        "qr_url": links.qr_url(code),
    }
    url = referral_url(campaign.referral_url_template, code)
    if url is not None:
        values["referral_link"] = url
    return with_aliases("code", values)


def _answer(
    row: Code, campaign: Campaign, links: LinkSettings, *, created: bool, deliveries: int = 0
) -> AssignedCode:
    extra = code_links(links, campaign, row.code)
    return AssignedCode(
        code=row.code,
        pool_id=row.pool_id,
        campaign_id=row.campaign_id,
        status=row.status,
        customer_id=row.customer_id,
        assigned_at=row.assigned_at,
        referral_url=extra.get("referral_url"),
        qr_url=extra["qr_url"],
        created=created,
        deliveries=deliveries,
    )


def codes_of_customer(
    session: Session, project_id: str, customer_ref: str, links: LinkSettings
) -> list[AssignedCode]:
    """The codes a customer (id or source id) holds or held (revoked), oldest first."""
    customer = get_customer(session, project_id, customer_ref)
    rows = session.exec(
        select(Code)
        .where(
            Code.project_id == project_id,
            (Code.customer_id == customer.id) | (Code.revoked_customer_id == customer.id),
        )
        .order_by(col(Code.id))
    ).all()
    campaigns: dict[str, Campaign] = {}
    answer = []
    for row in rows:
        if row.campaign_id not in campaigns:
            campaigns[row.campaign_id] = get_campaign(session, project_id, row.campaign_id)
        answer.append(_answer(row, campaigns[row.campaign_id], links, created=False))
    return answer


def _held(session: Session, campaign_id: str, customer_id: str) -> Code | None:
    return session.exec(
        select(Code).where(Code.campaign_id == campaign_id, Code.customer_id == customer_id)
    ).first()


def _candidate(session: Session, pool: CodePool, *, skip_locked: bool) -> int | None:
    picked = _next_available(session, pool, 1, lock="skip" if skip_locked else "wait")
    return picked[0][0] if picked else None


def _claim_one(session: Session, pool: CodePool, customer_id: str) -> Code | None:
    """Move one available code to the customer; None when a twin won the customer first."""
    for _ in range(_ATTEMPTS):
        try:
            # The row lock is taken inside the savepoint, so a loser's rollback frees the code
            # for others at once instead of at the end of its transaction.
            with session.begin_nested():
                candidate = _candidate(session, pool, skip_locked=True)
                if candidate is None:
                    # Every available code may be locked by claimers still deciding: wait for
                    # them (the WHERE is re-checked after the wait) before calling the pool empty.
                    candidate = _candidate(session, pool, skip_locked=False)
                if candidate is None:
                    raise ConflictError(f"code pool {pool.id!r} has no available codes")
                moved = session.connection().execute(
                    update(Code)
                    .where(col(Code.id) == candidate, col(Code.status) == "available")
                    .values(status="assigned", customer_id=customer_id, assigned_at=utcnow())
                )
        except IntegrityError:
            return None  # the (campaign, customer) pair is taken: a twin assigned first
        if moved.rowcount == 1:
            return session.get(Code, candidate, populate_existing=True)
    raise ConflictError("could not claim a code under contention; try again")


def _event(
    session: Session,
    project: Project,
    kind: str,
    row: Code,
    customer_id: str,
    campaign: Campaign,
    links: LinkSettings,
) -> int:
    code_values = code_links(links, campaign, row.code) | {"pool_id": row.pool_id}
    incoming = IncomingEvent(
        type=kind,
        customer=CustomerRef(id=customer_id),
        upstream_id=f"{kind}:{row.id}:{customer_id}",
        source="codes",
        campaign={"id": campaign.id, "name": campaign.name, "type": campaign.type},
        code=code_values,
    )
    result = ingest_event(session, project, incoming, links)
    emit(
        session,
        project.id,
        kind,
        {
            "object": "code",
            "code": row.code,
            "pool_id": row.pool_id,
            "campaign_id": campaign.id,
            "customer_id": customer_id,
            "referral_url": code_values.get("referral_url"),
        },
    )
    return sum(1 for d in result.deliveries if d.status == "queued")


def assign_code(
    session: Session, project: Project, pool_id: str, customer: str, links: LinkSettings
) -> AssignedCode:
    """The customer's code in the pool's campaign, assigning one from the pool if needed.

    Raises:
        NotFoundError: No such pool in the project.
        InvalidInputError: ``customer`` (id or source id) names no customer of the project.
        ConflictError: The pool has no available code.
    """
    pool = get_pool(session, project.id, pool_id)
    campaign = get_campaign(session, project.id, pool.campaign_id)
    try:
        if "\x00" in customer:  # PostgreSQL refuses NUL in a query; no id holds one
            raise NotFoundError("customer", customer)
        holder = get_customer(session, project.id, customer)
    except NotFoundError:
        raise InvalidInputError([FieldError("customer", "no such customer")]) from None
    held = _held(session, campaign.id, holder.id)
    if held is not None:
        return _answer(held, campaign, links, created=False)
    claimed = _claim_one(session, pool, holder.id)
    if claimed is None:
        held = _held(session, campaign.id, holder.id)
        if held is None:  # pragma: no cover - the twin's row is visible once it fails us
            raise ConflictError("a concurrent assignment failed; try again")
        return _answer(held, campaign, links, created=False)
    queued = _event(session, project, "code.assigned", claimed, holder.id, campaign, links)
    note_stock(session, pool)
    return _answer(claimed, campaign, links, created=True, deliveries=queued)


def revoke_code(session: Session, project: Project, code: str, links: LinkSettings) -> AssignedCode:
    """Revoke a code for good; its holder (kept as ``revoked_customer_id``) may get a new one.

    Revoking a revoked code changes nothing.

    Raises:
        NotFoundError: No such code in the project.
    """
    row = session.exec(
        select(Code).where(Code.project_id == project.id, Code.code == code).with_for_update()
    ).first()
    if row is None:
        raise NotFoundError("code", code)
    campaign = get_campaign(session, project.id, row.campaign_id)
    if row.status == "revoked":
        return _answer(row, campaign, links, created=False)
    holder = row.customer_id
    row.status = "revoked"
    row.revoked_customer_id = holder
    row.customer_id = None
    row.revoked_at = utcnow()
    session.add(row)
    session.flush()
    queued = 0
    if holder is not None:
        queued = _event(session, project, "code.revoked", row, holder, campaign, links)
    return _answer(row, campaign, links, created=False, deliveries=queued)


_CODES: Table = Code.__table__  # type: ignore[attr-defined]
# Ids per IN list: well under SQLite's and PostgreSQL's parameter limits.
_IN_CHUNK = 5_000


@dataclass(frozen=True)
class CodeClaim:
    """An available code picked for a customer, not yet assigned."""

    code_id: int
    code: str
    customer_id: str


def held_codes(session: Session, campaign_id: str, customer_ids: Sequence[str]) -> dict[str, str]:
    """customer id -> code, for the customers who already hold a code of the campaign."""
    held: dict[str, str] = {}
    connection = session.connection()
    for start in range(0, len(customer_ids), _IN_CHUNK):
        ids = list(customer_ids[start : start + _IN_CHUNK])
        rows = connection.execute(_HELD, {"campaign": campaign_id, "ids": ids})
        held.update((str(customer), str(code)) for customer, code in rows)
    return held


# Built once, run on the connection: once per batch of a bulk send, the ORM's statement and
# row handling cost more than the lookup.
_HELD = core_select(_CODES.c.customer_id, _CODES.c.code).where(
    _CODES.c.campaign_id == bindparam("campaign"),
    Among(_CODES.c.customer_id, "ids"),
)


# Pool id -> the highest code id this process picked from it: where its available codes
# probably start, as codes are assigned in id order. Without it, PostgreSQL's planner walked the
# primary key from the pool's first code and skipped every one already assigned (its statistics
# cannot tell that they come first), so each batch of a bulk send read the codes of all batches
# before it. Only a hint: codes released below it are still found, after the ones above it.
_PICKED_UPTO: dict[str, int] = {}


def _next_available(
    session: Session, pool: CodePool, limit: int, *, lock: Literal["skip", "wait"] | None
) -> list[tuple[int, str]]:
    """Up to ``limit`` available (id, code) of the pool, in id order from where this process
    last picked. ``lock``: row locks skipping codes others hold, or waiting for them."""
    hint = _PICKED_UPTO.get(pool.id, 0)
    picked = _available(session, pool, limit, lock, col(Code.id) > hint)
    if len(picked) < limit and hint:
        picked += _available(session, pool, limit - len(picked), lock, col(Code.id) <= hint)
    if picked:
        _PICKED_UPTO[pool.id] = max(hint, *(code_id for code_id, _code in picked))
    return picked


def _available(
    session: Session,
    pool: CodePool,
    limit: int,
    lock: Literal["skip", "wait"] | None,
    among: ColumnElement[bool],
) -> list[tuple[int, str]]:
    query = (
        select(Code.id, Code.code)
        .where(Code.pool_id == pool.id, Code.status == "available", among)
        .order_by(col(Code.id))
        .limit(limit)
    )
    if lock is not None:
        query = query.with_for_update(skip_locked=lock == "skip")
    # A stored code always has its id.
    return [(code_id, code) for code_id, code in session.exec(query) if code_id is not None]


def pick_codes(
    session: Session, pool: CodePool, customer_ids: Sequence[str], *, lock: bool
) -> list[CodeClaim]:
    """Available codes for the customers, in order; fewer when the pool runs short.

    With ``lock`` the codes are claimed for the transaction (``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL); without, they are a plan that ``assign_claims`` checks again when writing.
    """
    if not customer_ids:
        return []
    picks = _next_available(session, pool, len(customer_ids), lock="skip" if lock else None)
    return [
        CodeClaim(code_id, code, customer_id)
        for customer_id, (code_id, code) in zip(customer_ids, picks, strict=False)
    ]


def _claims_still_free(session: Session, pool: CodePool, claims: Sequence[CodeClaim]) -> bool:
    """Every planned code still available (locked now) and no planned customer holds one."""
    code_ids = [c.code_id for c in claims]
    customers = [c.customer_id for c in claims]
    for start in range(0, len(claims), _IN_CHUNK):
        free = session.exec(
            select(func.count()).select_from(
                select(Code.id)
                .where(
                    col(Code.id).in_(code_ids[start : start + _IN_CHUNK]),
                    Code.status == "available",
                )
                .with_for_update()
                .subquery()
            )
        ).one()
        if free != len(code_ids[start : start + _IN_CHUNK]):
            return False
    return not held_codes(session, pool.campaign_id, customers)


def assign_claims(
    session: Session, pool: CodePool, claims: Sequence[CodeClaim], *, verify: bool
) -> bool:
    """Assign picked codes with one executemany and queue ``code.assigned`` for them.

    With ``verify`` (codes picked outside this transaction) nothing is written, and False is
    returned, when another assignment took one of the codes or gave one of the customers a code
    in the meantime.
    """
    if not claims:
        return True
    if verify and not _claims_still_free(session, pool, claims):
        return False
    now = utcnow()
    # The status key keeps a code that is no longer available from being handed out again.
    update_many(
        session.connection(),
        _CODES,
        ("status", "customer_id", "assigned_at"),
        ("id", "status"),
        (("assigned", c.customer_id, now, c.code_id, "available") for c in claims),
    )
    emit_many(
        session,
        pool.project_id,
        "code.assigned",
        [
            {
                "object": "code",
                "code": c.code,
                "pool_id": pool.id,
                "campaign_id": pool.campaign_id,
                "customer_id": c.customer_id,
            }
            for c in claims
        ],
    )
    return True


def assign_batch(session: Session, pool: CodePool, customer_ids: Sequence[str]) -> dict[str, str]:
    """Codes for many customers at once: customer id -> code. Customers left out: no stock.

    Customers who already hold a code of the campaign keep it. New codes are claimed in one
    query and assigned with one executemany in the caller's transaction.
    """
    codes = held_codes(session, pool.campaign_id, customer_ids)
    claims = pick_codes(session, pool, [c for c in customer_ids if c not in codes], lock=True)
    assign_claims(session, pool, claims, verify=False)
    codes.update((c.customer_id, c.code) for c in claims)
    return codes
