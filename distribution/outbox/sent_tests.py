"""The editor's test sends, recorded as messages marked ``test``.

A test send goes straight to its provider (no queue, no retries), then is written here with what
was sent and what the provider answered, so it shows in the messages log and the delivery feed
like any message. It has no distribution, bulk job or customer, so no statistic counts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from distribution.models import Delivery, DeliveryStatus, DeliveryStatusChange, utcnow
from distribution.outbox.messages import MESSAGE_ID_PREFIX
from distribution.storage.ids import new_id

__all__ = ["EditorTestSend", "new_test_message_id", "record_test_send"]


def new_test_message_id() -> str:
    """The id a test message gets, given to the provider too so its callbacks find the row."""
    return new_id(MESSAGE_ID_PREFIX)


@dataclass(frozen=True)
class EditorTestSend:
    """What was sent, to whom, through which provider, and its answer."""

    message_id: str
    channel: str
    provider: str
    recipient: str
    content: dict[str, Any]
    sent: bool
    provider_message_id: str | None = None
    provider_status: str | None = None
    error: str | None = None
    template_id: str | None = None
    actor: str | None = None


def record_test_send(session: Session, project_id: str, send: EditorTestSend) -> Delivery:
    """Write the test message (status `sent`, or `failed` with the provider's reason)."""
    now = utcnow()
    status = DeliveryStatus.SENT if send.sent else DeliveryStatus.FAILED
    delivery = Delivery(
        id=send.message_id,
        project_id=project_id,
        idempotency_key=f"test:{send.message_id}",
        channel=send.channel,
        provider=send.provider,
        template_id=send.template_id,
        recipient=send.recipient,
        test=True,
        status=status.value,
        content=send.content,
        attempts=1,
        provider_message_id=send.provider_message_id,
        provider_status=send.provider_status,
        last_error=send.error,
        created_at=now,
        updated_at=now,
        next_attempt_at=now,
        sent_at=now if send.sent else None,
    )
    session.add(delivery)
    session.flush()
    who = f" by {send.actor}" if send.actor else ""
    session.add(
        DeliveryStatusChange(
            delivery_id=delivery.id,
            status=status.value,
            detail=f"test send from the editor{who}" + (f": {send.error}" if send.error else ""),
            at=now,
        )
    )
    session.flush()
    return delivery
