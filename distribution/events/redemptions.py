"""Redemptions of codes, and the messages that carried the code credited with them (attribution).

The rule (docs/attribution.md): a redemption is credited to every message of the project that
carried its code and went out (``sent`` or ``delivered``, not a test send) **at or before** the
moment of the redemption; a message sent later never gets credit. Each credited message gets
``converted_at`` (its first redemption) and the order's amount added to ``conversion_amount``.
A redemption whose code no message carried is stored all the same, unattributed. The same
redemption (Voucherify's redemption id, else the event's dedupe key) is stored and credited
once, however many times and in whichever envelope it arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, case, func, update
from sqlmodel import Session, col, select

from distribution.errors import FieldError, InvalidInputError
from distribution.events.event_input import MAX_ID_LENGTH, IncomingEvent
from distribution.events.voucherify_events import voucherify_redemption_id
from distribution.models import Delivery, DeliveryStatus, Redemption, RedemptionAttribution, utcnow
from distribution.storage.driver_sql import insert_many
from distribution.storage.ids import new_id
from distribution.storage.pages import IdPage, newest_first
from distribution.webhooks.message_data import delivery_data
from distribution.webhooks.subscriptions import emit_many

__all__ = [
    "CREDITED_STATUSES",
    "REDEMPTION_EVENTS",
    "RedemptionIn",
    "RedemptionPage",
    "attributed_messages",
    "code_redeemed",
    "list_redemptions",
    "record_redemption",
    "redemption_input",
]

#: Event types that report a code redeemed: Voucherify's, and ours for other systems.
REDEMPTION_EVENTS = frozenset({"redemption.succeeded", "code.redeemed"})
#: The statuses of a message that went out and can be credited.
CREDITED_STATUSES = (DeliveryStatus.SENT.value, DeliveryStatus.DELIVERED.value)
MAX_PAGE = 100
_MAX_AMOUNT = 2**62  # a BIGINT with room to add a few up on a message
_REDEMPTIONS: Table = Redemption.__table__  # type: ignore[attr-defined]
_ATTRIBUTIONS: Table = RedemptionAttribution.__table__  # type: ignore[attr-defined]
_DELIVERIES: Table = Delivery.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RedemptionIn:
    """What a redemption event says: the code, the order, when, and its dedupe key."""

    code: str
    dedupe_key: str | None
    redeemed_at: datetime
    order_id: str | None = None
    amount: int | None = None
    currency: str | None = None


def redemption_input(incoming: IncomingEvent, now: datetime) -> RedemptionIn | None:
    """The redemption an event reports, or None for an event of another type.

    Raises:
        InvalidInputError: ``code.redeemed`` without a code, or an order whose amount is
            not a whole number of minor units (the field is named).
    """
    if incoming.type not in REDEMPTION_EVENTS:
        return None
    errors: list[FieldError] = []
    code = (incoming.code or {}).get("code")
    if not isinstance(code, str) or not code or len(code) > MAX_ID_LENGTH:
        if incoming.source == "voucherify" or incoming.type != "code.redeemed":
            # A redemption of no code (a promotion tier, or a reward event of a shop that
            # names no code): nothing to credit, and the event goes on as before.
            return None
        errors.append(FieldError("code", f"must name the code redeemed (at most {MAX_ID_LENGTH})"))
    order = incoming.order or {}
    amount = order.get("amount")
    if amount is not None and (
        isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount < _MAX_AMOUNT
    ):
        errors.append(
            FieldError("order.amount", "must be a whole number of minor units, 0 or more")
        )
    currency = order.get("currency")
    if currency is not None and (not isinstance(currency, str) or not 0 < len(currency) <= 8):
        errors.append(FieldError("order.currency", "must be a currency code such as EUR"))
    order_id = order.get("id")
    if order_id is not None and (
        isinstance(order_id, bool)
        or not isinstance(order_id, str | int)
        or len(str(order_id)) > MAX_ID_LENGTH
    ):
        errors.append(FieldError("order.id", f"must be a string of at most {MAX_ID_LENGTH}"))
    if errors:
        raise InvalidInputError(errors)
    upstream = voucherify_redemption_id(incoming.data) if incoming.source == "voucherify" else None
    if upstream is not None:
        key: str | None = f"voucherify:{upstream}"
    else:
        key = f"event:{incoming.upstream_id}" if incoming.upstream_id else None
    return RedemptionIn(
        code=str(code),
        dedupe_key=key,
        redeemed_at=_redeemed_at(incoming.created_at, now),
        order_id=None if order_id is None else str(order_id),
        amount=amount,
        currency=currency.upper() if isinstance(currency, str) else None,
    )


def _redeemed_at(created_at: str | None, now: datetime) -> datetime:
    """When upstream says it happened (naive UTC), never later than now; else now.

    A clock ahead of ours must not credit messages sent after the redemption really happened.
    """
    if not created_at:
        return now
    try:
        parsed = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return now
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return min(parsed, now)


def record_redemption(
    session: Session,
    project_id: str,
    redemption: RedemptionIn,
    *,
    event_id: str,
    customer_id: str | None,
) -> Redemption | None:
    """Store the redemption and credit the messages that carried its code (module docstring).

    None when the same redemption was stored before: it is neither stored nor credited again.
    """
    row = Redemption(
        id=new_id("rdm"),
        project_id=project_id,
        dedupe_key=redemption.dedupe_key or f"event:{event_id}",
        code=redemption.code,
        order_id=redemption.order_id,
        amount=redemption.amount,
        currency=redemption.currency,
        customer_id=customer_id,
        event_id=event_id,
        redeemed_at=redemption.redeemed_at,
    )
    connection = session.connection()
    credited = _credited(session, project_id, redemption)
    row.attributed = len(credited)
    values = row.model_dump()
    names = tuple(values)
    inserted = insert_many(
        connection,
        _REDEMPTIONS,
        names,
        [[values[n] for n in names]],
        skip_conflicts_on=("project_id", "dedupe_key"),
    )
    if not inserted:
        return None
    if credited:
        _credit(session, project_id, row, [d.id for d in credited])
        emit_many(
            session,
            project_id,
            "message.converted",
            [_converted_payload(d, row) for d in credited],
        )
    return row


def _credited(session: Session, project_id: str, redemption: RedemptionIn) -> list[Delivery]:
    return list(
        session.exec(
            select(Delivery)
            .where(
                col(Delivery.project_id) == project_id,
                col(Delivery.code) == redemption.code,
                col(Delivery.status).in_(CREDITED_STATUSES),
                col(Delivery.test).is_(False),
                col(Delivery.sent_at).is_not(None),
                col(Delivery.sent_at) <= redemption.redeemed_at,
            )
            .order_by(col(Delivery.id))
        )
    )


def _credit(session: Session, project_id: str, row: Redemption, delivery_ids: list[str]) -> None:
    connection = session.connection()
    insert_many(
        connection,
        _ATTRIBUTIONS,
        ("redemption_id", "delivery_id"),
        [(row.id, delivery_id) for delivery_id in delivery_ids],
    )
    deliveries = _DELIVERIES.c
    first = deliveries.converted_at.is_(None)
    added: ColumnElement[Any] = deliveries.conversion_amount
    if row.amount is not None:
        added = func.coalesce(deliveries.conversion_amount, 0) + row.amount
    connection.execute(
        update(_DELIVERIES)
        .where(deliveries.project_id == project_id, deliveries.id.in_(delivery_ids))
        .values(
            converted_at=case((first, row.redeemed_at), else_=deliveries.converted_at),
            conversion_amount=added,
            conversion_currency=func.coalesce(deliveries.conversion_currency, row.currency),
            updated_at=utcnow(),
        )
    )


def _converted_payload(delivery: Delivery, row: Redemption) -> dict[str, Any]:
    return delivery_data(
        delivery,
        template_version_id=delivery.template_version_id,
        redemption_id=row.id,
        code=row.code,
        order_id=row.order_id,
        amount=row.amount,
        currency=row.currency,
        converted_at=row.redeemed_at.isoformat() + "Z",
    )


RedemptionPage = IdPage[Redemption]


def list_redemptions(
    session: Session,
    project_id: str,
    *,
    limit: int = 50,
    starting_after: str | None = None,
    attributed: bool | None = None,
    code: str | None = None,
) -> RedemptionPage:
    """Newest first (ids sort by creation); ``attributed``: credited to a message, or not."""
    limit = max(1, min(limit, MAX_PAGE))
    statement = select(Redemption).where(col(Redemption.project_id) == project_id)
    if attributed is not None:
        counted = col(Redemption.attributed)
        statement = statement.where(counted > 0 if attributed else counted == 0)
    if code is not None:
        statement = statement.where(col(Redemption.code) == code)
    return newest_first(
        session, statement, Redemption.id, limit=limit, starting_after=starting_after
    )


def attributed_messages(session: Session, redemption_id: str) -> list[str]:
    """The ids of the messages a redemption was credited to."""
    return list(
        session.exec(
            select(RedemptionAttribution.delivery_id)
            .where(col(RedemptionAttribution.redemption_id) == redemption_id)
            .order_by(col(RedemptionAttribution.delivery_id))
        )
    )


def code_redeemed(session: Session, project_id: str, code: str, *, since: datetime) -> bool:
    """Whether ``code`` of the project was redeemed at or after ``since`` (naive UTC): the one
    reader of a code's redemption state (a follow-up's "if not redeemed" asks it)."""
    found = session.exec(
        select(Redemption.id)
        .where(
            Redemption.project_id == project_id,
            col(Redemption.redeemed_at) >= since,
            Redemption.code == code,
        )
        .limit(1)
    ).first()
    return found is not None
