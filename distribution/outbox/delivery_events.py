"""Provider status callbacks move deliveries on: delivered, bounced, failed, complaints, opt-outs.

Callbacks arrive late, twice and out of order, so a status only ever moves forward
(``sent`` < ``delivered`` < ``bounced``/``failed``) and every report lands in the history. A report
for a delivery recorded ``unknown`` settles it: the provider did send it. Complaints and opt-outs
put the address on the project's suppression list for the channel.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, select

from distribution.customers.consent import suppress
from distribution.models import Delivery, DeliveryStatus, DeliveryStatusChange, utcnow
from distribution.webhooks.message_data import delivery_data
from distribution.webhooks.subscriptions import emit
from providers import DeliveryEvent

__all__ = ["record_delivery_events"]

# The delivery status a report implies; reports not listed only join the history.
_STATUS_OF = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "bounced": DeliveryStatus.BOUNCED,
    "rejected": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
}
_SUPPRESSING = {"complained": "spam complaint", "unsubscribed": "opted out at the provider"}


def record_delivery_events(
    session: Session, project_id: str, provider_name: str, events: Sequence[DeliveryEvent]
) -> int:
    """Apply verified events to the project's deliveries; how many matched a delivery."""
    ids = {e.provider_message_id for e in events if e.provider_message_id}
    if not ids:
        return 0
    deliveries = {
        d.provider_message_id: d
        for d in session.exec(
            select(Delivery).where(
                Delivery.project_id == project_id,
                Delivery.provider == provider_name,
                Delivery.provider_message_id.in_(ids),  # type: ignore[union-attr]
            )
        )
    }
    matched = 0
    now = utcnow()
    for event in events:
        delivery = deliveries.get(event.provider_message_id)
        if delivery is None:
            continue
        matched += 1
        detail = event.reason or event.description
        session.add(
            DeliveryStatusChange(
                delivery_id=delivery.id,
                status=event.type,
                detail=f"reported by {provider_name}" + (f": {detail}" if detail else ""),
                at=now,
            )
        )
        status = _STATUS_OF.get(event.type)
        if status and status.rank > DeliveryStatus(delivery.status).rank:
            delivery.status = status
            delivery.updated_at = now
            if status in (DeliveryStatus.BOUNCED, DeliveryStatus.FAILED):
                delivery.last_error = detail or event.type
            session.add(delivery)
            if status != DeliveryStatus.SENT:
                emit(session, project_id, f"message.{status}", _announced(delivery, detail))
        reason = _SUPPRESSING.get(event.type)
        if reason and delivery.recipient:
            suppress(
                session,
                project_id,
                delivery.channel,
                delivery.recipient,
                customer_id=delivery.customer_id,
                reason=reason,
            )
    return matched


def _announced(delivery: Delivery, detail: str | None) -> dict[str, object]:
    """The ``message.delivered``/``bounced``/``failed`` webhook data."""
    return delivery_data(
        delivery,
        provider_message_id=delivery.provider_message_id,
        reason=detail,
    )
