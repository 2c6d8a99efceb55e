"""Where verified provider status callbacks hand their events to the delivery engine."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from providers import DeliveryEvent

__all__ = ["record_delivery_events"]


def record_delivery_events(
    session: Session, project_id: str, provider_name: str, events: Sequence[DeliveryEvent]
) -> int:
    """Record delivery events against their deliveries; the delivery engine fills this in."""
    return len(events)
