"""Normalized delivery events, and parsers for Twilio, Mandrill and the generic bounce webhook."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "DeliveryEvent",
    "EventType",
    "parse_bounce_webhook",
    "parse_mandrill_events",
    "parse_twilio_status_callback",
]

EventType = Literal[
    "queued",
    "sent",
    "delivered",
    "deferred",
    "bounced",
    "rejected",
    "failed",
    "complained",
    "unsubscribed",
    "opened",
    "clicked",
    "unknown",
]


@dataclass(frozen=True, slots=True)
class DeliveryEvent:
    """One thing that happened to a sent message, in the provider-independent vocabulary."""

    provider_message_id: str | None
    type: EventType
    timestamp: datetime
    recipient: str | None = None
    reason: str | None = None
    description: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


TWILIO_STATUSES: Mapping[str, EventType] = {
    "accepted": "queued",
    "queued": "queued",
    "scheduled": "queued",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "bounced",
    "failed": "failed",
    "read": "opened",
    "canceled": "failed",
}
TWILIO_UNSUBSCRIBED = "21610"


def _twilio_done_date(value: str | None) -> datetime | None:
    """`RawDlrDoneDate` is YYMMDDhhmm (the carrier's delivery receipt time, taken as UTC)."""
    if not value or len(value) != 10 or not value.isdigit():
        return None
    try:
        return datetime.strptime(value, "%y%m%d%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None


def parse_twilio_status_callback(
    params: Mapping[str, str], *, received_at: datetime | None = None
) -> DeliveryEvent:
    """Map a Twilio status callback (form fields) to an event; ErrorCode 21610 = unsubscribed.

    Twilio sends no event time except `RawDlrDoneDate`, so `received_at` (default now) is used.
    Callbacks can arrive out of order: the caller must keep statuses monotonic.
    """
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    error_code = params.get("ErrorCode") or None
    event_type: EventType = TWILIO_STATUSES.get(status, "unknown")
    if error_code == TWILIO_UNSUBSCRIBED:
        event_type = "unsubscribed"
    timestamp = _twilio_done_date(params.get("RawDlrDoneDate")) or received_at or datetime.now(UTC)
    return DeliveryEvent(
        provider_message_id=params.get("MessageSid") or params.get("SmsSid"),
        type=event_type,
        timestamp=timestamp,
        recipient=params.get("To"),
        reason=error_code,
        description=params.get("ChannelStatusMessage"),
        raw=dict(params),
    )


MANDRILL_EVENTS: Mapping[str, EventType] = {
    "send": "sent",
    "delivered": "delivered",
    "deferral": "deferred",
    "hard_bounce": "bounced",
    "soft_bounce": "bounced",
    "open": "opened",
    "click": "clicked",
    "spam": "complained",
    "unsub": "unsubscribed",
    "reject": "rejected",
}


def parse_mandrill_events(mandrill_events: str) -> list[DeliveryEvent]:
    """Parse the `mandrill_events` form field (a JSON array of up to 1,000 events).

    Raises:
        ValueError: the field is not a JSON array.
    """
    events = json.loads(mandrill_events)
    if not isinstance(events, list):
        raise ValueError("mandrill_events must be a JSON array")
    parsed = []
    for event in events:
        if not isinstance(event, dict):
            continue
        msg = event.get("msg") if isinstance(event.get("msg"), dict) else {}
        reject = event.get("reject") if isinstance(event.get("reject"), dict) else {}
        assert isinstance(msg, dict)
        assert isinstance(reject, dict)
        # Sync events (whitelist/blacklist) carry `type` instead of `event`: unknown here.
        event_type: EventType = MANDRILL_EVENTS.get(str(event.get("event")), "unknown")
        ts = event.get("ts")
        timestamp = (
            datetime.fromtimestamp(ts, UTC) if isinstance(ts, int | float) else datetime.now(UTC)
        )
        reason = msg.get("bounce_description") or reject.get("reason")
        if event.get("event") == "soft_bounce" and not reason:
            reason = "soft_bounce"
        parsed.append(
            DeliveryEvent(
                provider_message_id=event.get("_id") or msg.get("_id"),
                type=event_type,
                timestamp=timestamp,
                recipient=msg.get("email") or reject.get("email"),
                reason=str(reason) if reason else None,
                description=msg.get("diag") or reject.get("detail"),
                raw=event,
            )
        )
    return parsed


BOUNCE_TYPES: Mapping[str, EventType] = {
    "email.delivered": "delivered",
    "email.deferred": "deferred",
    "email.bounced": "bounced",
    "email.rejected": "rejected",
    "email.failed": "failed",
    "email.complained": "complained",
    "email.unsubscribed": "unsubscribed",
}


def parse_bounce_webhook(body: bytes) -> list[DeliveryEvent]:
    """Parse the generic signed bounce report (see docs/providers.md for the format).

    A soft bounce (`data.bounce_type == "soft"`) is `deferred`: the receiving side may still
    deliver it later.

    Raises:
        ValueError: the body is not a JSON object with `type`, `timestamp` and `data`.
    """
    event = json.loads(body)
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        raise ValueError("expected {type, timestamp, data}")
    data: dict[str, Any] = event["data"]
    event_type: EventType = BOUNCE_TYPES.get(str(event.get("type")), "unknown")
    if event_type == "bounced" and data.get("bounce_type") == "soft":
        event_type = "deferred"
    try:
        timestamp = datetime.fromisoformat(str(event.get("timestamp")))
    except ValueError:
        raise ValueError("timestamp must be ISO 8601") from None
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    return [
        DeliveryEvent(
            provider_message_id=data.get("message_id"),
            type=event_type,
            timestamp=timestamp,
            recipient=data.get("recipient"),
            reason=data.get("reason") or data.get("bounce_type"),
            description=data.get("description") or data.get("diagnostic"),
            raw=event,
        )
    ]
