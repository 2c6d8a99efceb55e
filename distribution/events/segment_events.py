"""``customer.segment.entered`` / ``customer.segment.left``: a customer write's segment changes,
taken in like any received event.

``distribution.customers.segment_changes`` finds the changes in the customer write's transaction
and hands them here (the handler ``install_segment_events`` installs). Each change becomes an
event row under a deterministic dedupe key, the active distributions on its type match it
(``filters.segment_id`` names the segment the event is about; none means any segment), their
deliveries are prepared by the same ``OutboxWriter`` as a received event's, and webhook
subscriptions get it. A whole write's changes (an import chunk's thousands) are inserted with
one statement per table.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from sqlmodel import Session

from distribution.accounts.projects import cached_project
from distribution.customers.segment_changes import (
    SegmentChange,
    install_segment_change_handler,
)
from distribution.events.distributions import active_rules
from distribution.events.event_input import CustomerRef, IncomingEvent
from distribution.events.ingest import OutboxWriter, insert_deliveries
from distribution.models import Event
from distribution.outbox import LinkSettings
from distribution.storage.driver_sql import DriverInsert
from distribution.storage.ids import new_id
from distribution.webhooks.subscriptions import emit_many

__all__ = ["SEGMENT_SOURCE", "install_segment_events", "record_segment_changes"]

#: The ``source`` of the event rows a segment change makes (the others: api, voucherify).
SEGMENT_SOURCE = "segment"
_INSERT_EVENTS = DriverInsert(Event.__table__)  # type: ignore[attr-defined]


def install_segment_events(links: LinkSettings) -> None:
    """Turn this process's customer writes' segment changes into events (composition root)."""
    install_segment_change_handler(partial(record_segment_changes, links=links))


def record_segment_changes(
    session: Session, project_id: str, changes: Sequence[SegmentChange], *, links: LinkSettings
) -> None:
    """Store each change as an event, write its distributions' deliveries and queue its
    webhooks, in the caller's transaction."""
    project = cached_project(session, project_id)
    rules = active_rules(session, project_id)
    events: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    announced: dict[str, list[dict[str, Any]]] = {}
    for change in changes:
        segment = {"id": change.segment_id, "name": change.segment_name}
        customer = change.customer
        incoming = IncomingEvent(
            type=change.type,
            customer=CustomerRef(id=customer.id),
            source=SEGMENT_SOURCE,
            data={"segment": segment},
        )
        writer = OutboxWriter(session, project, new_id("evt"), incoming, links, segment=segment)
        for rule in rules.get(change.type, ()):
            filters = rule.distribution.filters
            # No campaign: a distribution limited to one never matches (as for any event
            # without one).
            if filters.get("campaign_id") is None and filters.get("segment_id") in (
                None,
                change.segment_id,
            ):
                writer.write(rule, customer, None)
        events.append(writer.event_row(change.dedupe_key, customer))
        deliveries += writer.rows
        announced.setdefault(change.type, []).append(
            {
                "object": "event",
                "id": writer.event_id,
                "type": change.type,
                "customer_id": customer.id,
                "source_id": customer.source_id,
                "segment": segment,
            }
        )
    _INSERT_EVENTS.execute(session.connection(), events)
    insert_deliveries(session, deliveries)
    for event_type, datas in announced.items():
        emit_many(session, project_id, event_type, datas)
