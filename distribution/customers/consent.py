"""Consent: signed unsubscribe links and the project's suppression list.

A marketing message carries ``links.unsubscribe_url``: a URL on this service holding a token
signed with the service secret (HMAC-SHA256 over project, customer, channel and the moment the
link was issued), so one click unsubscribes without a login and nobody can forge a link for
someone else.

A link stops working when it is older than the operator's limit, or when the customer opted in
again on its channel after it was issued (see `unsubscribe_link_refusal`): an old message must
not undo a later opt-in. Links made before they carried their moment of issue work until the
customer's next opt-in on the channel, since messages already sent cannot be recalled.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from distribution.customer_sync import enqueue_customer_sync
from distribution.errors import FieldError, InvalidInputError
from distribution.models import Customer, Delivery, Resubscription, Suppression, utcnow
from distribution.storage.ids import new_id
from distribution.webhooks.subscriptions import emit

__all__ = [
    "ChannelConsent",
    "ConsentChange",
    "UnsubscribeLink",
    "consents_of",
    "is_suppressed",
    "message_of_link",
    "read_unsubscribe_token",
    "resubscribe_customer",
    "suppress",
    "unsubscribe_customer",
    "unsubscribe_link_refusal",
    "unsubscribe_token",
]

CHANNELS = ("email", "sms")
_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class UnsubscribeLink:
    """What a valid token says: who unsubscribes from what, and when the link was issued.

    ``issued_at`` (naive UTC, millisecond precision) is None for a link made before links
    carried it.
    """

    project_id: str
    customer_id: str
    channel: str
    issued_at: datetime | None


def _signature(secret: str, payload: str) -> str:
    digest = hmac.new(f"unsubscribe:{secret}".encode(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")


def _milliseconds(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def unsubscribe_token(
    secret: str,
    project_id: str,
    customer_id: str,
    channel: str,
    *,
    issued_at: datetime | None = None,
) -> str:
    """An opaque, unforgeable token naming who unsubscribes from what, issued now by default."""
    issued = utcnow() if issued_at is None else issued_at
    payload = f"{project_id}.{customer_id}.{channel}.{_milliseconds(issued)}"
    encoded = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    return f"{encoded}.{_signature(secret, payload)}"


def read_unsubscribe_token(secret: str, token: str) -> UnsubscribeLink:
    """What a valid token says; InvalidInputError otherwise."""
    invalid = InvalidInputError([FieldError("token", "is not a valid unsubscribe link")])
    encoded, _, signature = token.partition(".")
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise invalid from None
    if not hmac.compare_digest(signature, _signature(secret, payload)):
        raise invalid
    parts = payload.split(".")
    if len(parts) not in (3, 4) or parts[2] not in CHANNELS:
        raise invalid
    issued_at = None
    if len(parts) == 4:
        if not parts[3].isdigit() or len(parts[3]) > 15:
            raise invalid
        issued_at = _EPOCH + timedelta(milliseconds=int(parts[3]))
    return UnsubscribeLink(parts[0], parts[1], parts[2], issued_at)


def unsubscribe_link_refusal(
    session: Session, link: UnsubscribeLink, max_age: timedelta, *, now: datetime | None = None
) -> str | None:
    """Why a valid link may no longer unsubscribe, for the person who followed it; None if it may.

    A link applies to the consent it was issued under: one issued before the customer's latest
    opt-in on its channel is refused, and so is one older than ``max_age``.
    """
    current = utcnow() if now is None else now
    if link.issued_at is not None and current - link.issued_at > max_age:
        return "This link has expired. Use the unsubscribe link in a more recent message."
    resubscribed = session.get(Resubscription, (link.customer_id, link.channel))
    if resubscribed is not None:
        # Compared at the token's millisecond precision: a link issued in the very millisecond
        # of the opt-in is given the benefit of the doubt.
        opted_in = _EPOCH + timedelta(milliseconds=_milliseconds(resubscribed.at))
        if link.issued_at is None or link.issued_at < opted_in:
            return (
                "This link has expired: you subscribed again since it was sent. "
                "Use the unsubscribe link in a more recent message."
            )
    return None


def suppress(
    session: Session,
    project_id: str,
    channel: str,
    address: str,
    *,
    customer_id: str | None,
    reason: str,
    delivery_id: str | None = None,
) -> None:
    """Add an address to the suppression list (no-op when it is already there); through the
    unsubscribe link of message ``delivery_id`` when one is named."""
    exists = session.exec(
        select(Suppression.id).where(
            Suppression.project_id == project_id,
            Suppression.channel == channel,
            Suppression.address == address,
        )
    ).first()
    if exists:
        return
    try:
        with session.begin_nested():
            session.add(
                Suppression(
                    id=new_id("sup"),
                    project_id=project_id,
                    channel=channel,
                    address=address,
                    customer_id=customer_id,
                    reason=reason,
                    delivery_id=delivery_id,
                )
            )
            session.flush()
            emit(
                session,
                project_id,
                "customer.unsubscribed",
                {"customer_id": customer_id, "channel": channel, "reason": reason},
            )
    except IntegrityError:
        return  # added concurrently: the outcome is the same
    _sync_consent(session, project_id, customer_id)


def _sync_consent(session: Session, project_id: str, customer_id: str | None) -> None:
    """Carry the customer's consent to the platforms they are synced to (an opt-out only:
    ``customer_sync`` never writes an opt-in)."""
    customer = session.get(Customer, customer_id) if customer_id else None
    if customer is not None and customer.project_id == project_id:
        enqueue_customer_sync(session, project_id, [customer])


def unsubscribe_customer(
    session: Session,
    project_id: str,
    customer_id: str,
    channel: str,
    *,
    reason: str,
    delivery_id: str | None = None,
) -> bool:
    """Suppress a customer's current address on a channel; False when they have none.
    ``delivery_id``: the message whose link they followed."""
    customer = session.get(Customer, customer_id)
    if customer is None or customer.project_id != project_id:
        return False
    address = customer.email if channel == "email" else customer.phone
    suppress(
        session,
        project_id,
        channel,
        address or f"customer:{customer_id}",
        customer_id=customer_id,
        reason=reason,
        delivery_id=delivery_id,
    )
    return True


#: How long before a link's moment of issue its message may have been created: a bulk batch
#: or an event stamps its rows when it starts, and renders (signs links) after.
_RENDERED_WITHIN = timedelta(hours=1)


def message_of_link(session: Session, link: UnsubscribeLink, token: str) -> str | None:
    """The id of the message that carried this link (None for a link made before links were
    dated, or whose message is gone).

    The token names no message (it is signed while the message is rendered, before its row has
    an id); the message is the customer's one on the channel, created just before the link was
    issued, whose stored ``unsubscribe_url`` is this very link.
    """
    if link.issued_at is None:
        return None
    candidates = session.exec(
        select(Delivery.id, Delivery.content).where(
            Delivery.project_id == link.project_id,
            Delivery.customer_id == link.customer_id,
            Delivery.channel == link.channel,
            col(Delivery.created_at) >= link.issued_at - _RENDERED_WITHIN,
            # Milliseconds in the token, microseconds in the row.
            col(Delivery.created_at) <= link.issued_at + timedelta(milliseconds=1),
        )
    )
    suffix = f"/u/{token}"
    for delivery_id, content in candidates:
        if str((content or {}).get("unsubscribe_url", "")).endswith(suffix):
            return delivery_id
    return None


_SUPPRESSIONS = Suppression.__table__  # type: ignore[attr-defined]
# Built once (every marketing delivery asks): building a statement cost about as much as running it.
_SUPPRESSED_ADDRESS = (
    select(_SUPPRESSIONS.c.id)
    .where(
        _SUPPRESSIONS.c.project_id == bindparam("project_id"),
        _SUPPRESSIONS.c.channel == bindparam("channel"),
        _SUPPRESSIONS.c.address == bindparam("address"),
    )
    .limit(1)
)
_SUPPRESSED_ADDRESS_OR_CUSTOMER = (
    select(_SUPPRESSIONS.c.id)
    .where(
        _SUPPRESSIONS.c.project_id == bindparam("project_id"),
        _SUPPRESSIONS.c.channel == bindparam("channel"),
        or_(
            _SUPPRESSIONS.c.address == bindparam("address"),
            _SUPPRESSIONS.c.customer_id == bindparam("customer_id"),
        ),
    )
    .limit(1)
)


def is_suppressed(
    session: Session, project_id: str, channel: str, address: str, customer_id: str | None
) -> bool:
    """Whether marketing on ``channel`` to this address or customer is suppressed."""
    values = {"project_id": project_id, "channel": channel, "address": address}
    statement = _SUPPRESSED_ADDRESS
    if customer_id:
        statement = _SUPPRESSED_ADDRESS_OR_CUSTOMER
        values["customer_id"] = customer_id
    return session.connection().execute(statement, values).first() is not None


def resubscribe_customer(session: Session, project_id: str, customer_id: str, channel: str) -> int:
    """Lift a customer's suppressions on a channel (they opted in again); how many were lifted."""
    rows = list(
        session.exec(
            select(Suppression).where(
                Suppression.project_id == project_id,
                Suppression.channel == channel,
                Suppression.customer_id == customer_id,
            )
        )
    )
    for row in rows:
        session.delete(row)
    if rows:
        # Only an actual opt-in voids older links: a system that confirms "subscribed" again
        # and again must not break the links in messages the customer already has.
        _record_resubscription(session, project_id, customer_id, channel)
        # A queued opt-out must not go out any more; nothing subscribes them on the platform.
        session.flush()
        _sync_consent(session, project_id, customer_id)
    return len(rows)


def _record_resubscription(
    session: Session, project_id: str, customer_id: str, channel: str
) -> None:
    now = utcnow()
    row = session.get(Resubscription, (customer_id, channel))
    if row is not None:
        row.at = now
        session.add(row)
        return
    try:
        with session.begin_nested():
            session.add(
                Resubscription(
                    customer_id=customer_id, channel=channel, project_id=project_id, at=now
                )
            )
            session.flush()
    except IntegrityError:
        return  # a concurrent opt-in recorded the same moment, give or take


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """One stored change of a customer's marketing consent on a channel."""

    status: str  # "unsubscribed" | "subscribed"
    at: datetime
    reason: str | None


@dataclass(frozen=True, slots=True)
class ChannelConsent:
    """A channel's consent as sends judge it, with the stored changes that led there."""

    channel: str
    status: str  # "unsubscribed" | "subscribed"
    history: list[ConsentChange]


def consents_of(session: Session, project_id: str, customer: Customer) -> list[ChannelConsent]:
    """Each channel's consent, judged as marketing sends judge it (``is_suppressed``: the
    customer or their current address is suppressed), with what is stored of its history: the
    suppressions still in force (when and why) and the last opt-in, oldest first."""
    answer = []
    for channel in CHANNELS:
        address = customer.email if channel == "email" else customer.phone
        mine = col(Suppression.customer_id) == customer.id
        rows = session.exec(
            select(Suppression).where(
                Suppression.project_id == project_id,
                Suppression.channel == channel,
                or_(mine, col(Suppression.address) == address) if address else mine,
            )
        ).all()
        history = [ConsentChange("unsubscribed", row.created_at, row.reason) for row in rows]
        opt_in = session.get(Resubscription, (customer.id, channel))
        if opt_in is not None and opt_in.project_id == project_id:
            history.append(ConsentChange("subscribed", opt_in.at, None))
        history.sort(key=lambda change: change.at)
        status = "unsubscribed" if rows else "subscribed"
        answer.append(ChannelConsent(channel, status, history))
    return answer
