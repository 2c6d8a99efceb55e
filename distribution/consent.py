"""Consent: signed unsubscribe links and the project's suppression list.

A marketing message carries ``links.unsubscribe_url``: a URL on this service holding a token
signed with the service secret (HMAC-SHA256 over project, customer and channel), so one click
unsubscribes without a login and nobody can forge a link for someone else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from sqlalchemy import bindparam, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from distribution.errors import FieldError, InvalidInputError
from distribution.ids import new_id
from distribution.models import Customer, Suppression
from distribution.webhooks import emit

__all__ = [
    "is_suppressed",
    "read_unsubscribe_token",
    "resubscribe_customer",
    "suppress",
    "unsubscribe_customer",
    "unsubscribe_token",
]

CHANNELS = ("email", "sms")


def _signature(secret: str, payload: str) -> str:
    digest = hmac.new(f"unsubscribe:{secret}".encode(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")


def unsubscribe_token(secret: str, project_id: str, customer_id: str, channel: str) -> str:
    """An opaque, unforgeable token naming who unsubscribes from what."""
    payload = f"{project_id}.{customer_id}.{channel}"
    encoded = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    return f"{encoded}.{_signature(secret, payload)}"


def read_unsubscribe_token(secret: str, token: str) -> tuple[str, str, str]:
    """``(project_id, customer_id, channel)`` of a valid token; InvalidInputError otherwise."""
    invalid = InvalidInputError([FieldError("token", "is not a valid unsubscribe link")])
    encoded, _, signature = token.partition(".")
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise invalid from None
    if not hmac.compare_digest(signature, _signature(secret, payload)):
        raise invalid
    parts = payload.split(".")
    if len(parts) != 3 or parts[2] not in CHANNELS:
        raise invalid
    return parts[0], parts[1], parts[2]


def suppress(
    session: Session,
    project_id: str,
    channel: str,
    address: str,
    *,
    customer_id: str | None,
    reason: str,
) -> None:
    """Add an address to the suppression list (no-op when it is already there)."""
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


def unsubscribe_customer(
    session: Session, project_id: str, customer_id: str, channel: str, *, reason: str
) -> bool:
    """Suppress a customer's current address on a channel; False when they have none."""
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
    )
    return True


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
    return len(rows)
