"""A customer's events, for their profile's timeline, and what erasure leaves of them.

An event keeps its type, time and the deliveries it made after the customer is erased (the
delivery log needs them); what it carried about the person (its payload, the customer's own id
in the answer stored for repeats) is blanked. So is what ties them to a code or an order: the
code their messages carried (``delivery.code``; a later redemption of it is unattributed) and the
code and order id of their redemptions, which keep their amount and time for the statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select, update

from distribution.models import Delivery, Event, Redemption

__all__ = ["CustomerEvent", "events_of", "forget_event_details"]

#: The most events a profile lists.
MAX_EVENTS = 200


@dataclass(frozen=True)
class CustomerEvent:
    """An event as the customer's timeline shows it."""

    id: str
    type: str
    source: str
    received_at: datetime
    campaign_id: str | None
    code: str | None
    deliveries: list[dict[str, Any]]
    #: The segment a ``customer.segment.entered`` / ``.left`` event is about: ``{id, name}``.
    segment: dict[str, Any] | None = None


def _campaign_id(payload: dict[str, Any]) -> str | None:
    campaign = payload.get("campaign")
    found = campaign.get("id") if isinstance(campaign, dict) else None
    return found if isinstance(found, str) else None


def _code(payload: dict[str, Any]) -> str | None:
    code = payload.get("code")
    found = code.get("code") if isinstance(code, dict) else code
    return found if isinstance(found, str) else None


def _segment(payload: dict[str, Any]) -> dict[str, Any] | None:
    segment = payload.get("segment")
    return segment if isinstance(segment, dict) else None


def events_of(
    session: Session, project_id: str, customer_id: str, limit: int = 50
) -> list[CustomerEvent]:
    """The customer's latest events, newest first."""
    rows = session.exec(
        select(Event)
        .where(Event.project_id == project_id, Event.customer_id == customer_id)
        .order_by(col(Event.received_at).desc(), col(Event.id).desc())
        .limit(max(1, min(limit, MAX_EVENTS)))
    )
    return [
        CustomerEvent(
            id=row.id,
            type=row.type,
            source=row.source,
            received_at=row.received_at,
            campaign_id=_campaign_id(row.payload),
            code=_code(row.payload),
            deliveries=list(row.result.get("deliveries", [])),
            segment=_segment(row.payload),
        )
        for row in rows
    ]


def forget_event_details(session: Session, project_id: str, customer_id: str) -> None:
    """Blank what the customer's events say about them (see the module docstring)."""
    rows = session.exec(
        select(Event).where(Event.project_id == project_id, Event.customer_id == customer_id)
    )
    for row in rows:
        # The segment an entered / left event is about says nothing about the person, and a
        # pending one still needs it to find its distributions.
        row.payload = {"segment": row.payload["segment"]} if _segment(row.payload) else {}
        result = dict(row.result)
        result["customer"] = {"id": customer_id, "source_id": None}
        row.result = result
        session.add(row)
    connection = session.connection()
    connection.execute(
        update(Redemption)
        .where(col(Redemption.project_id) == project_id, col(Redemption.customer_id) == customer_id)
        .values(code="", order_id=None)
    )
    connection.execute(
        update(Delivery)
        .where(
            col(Delivery.customer_id) == customer_id,
            col(Delivery.project_id) == project_id,
            col(Delivery.code).is_not(None),
        )
        .values(code=None)
    )
