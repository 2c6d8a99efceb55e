"""The ``data`` of every ``message.*`` webhook and stream entry, built in one place.

Every message event carries the same keys, whichever path moved the message (an event, a bulk
send, a worker's send, a provider's report, a redemption), so a consumer reads one shape;
what only one event knows (``provider_message_id``, ``reason``, the redemption) comes as extras.
"""

from __future__ import annotations

from typing import Any

from distribution.models import Delivery

__all__ = ["delivery_data", "message_data"]


def message_data(
    *,
    id: str,
    status: str,
    channel: str,
    customer_id: str | None,
    campaign_id: str | None,
    distribution_id: str | None = None,
    event_id: str | None = None,
    bulk_job_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A message's webhook data: its identity, where it came from, and ``extra``."""
    return {
        "object": "message",
        "id": id,
        "status": status,
        "channel": channel,
        "distribution_id": distribution_id,
        "event_id": event_id,
        "bulk_job_id": bulk_job_id,
        "customer_id": customer_id,
        "campaign_id": campaign_id,
        **extra,
    }


def delivery_data(delivery: Delivery, **extra: Any) -> dict[str, Any]:
    """``message_data`` of a loaded delivery row."""
    return message_data(
        id=delivery.id,
        status=delivery.status,
        channel=delivery.channel,
        distribution_id=delivery.distribution_id,
        event_id=delivery.event_id,
        bulk_job_id=delivery.bulk_job_id,
        customer_id=delivery.customer_id,
        campaign_id=delivery.campaign_id,
        **extra,
    )
