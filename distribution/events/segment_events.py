"""``customer.segment.entered`` / ``customer.segment.left``: the distributions a stored segment
change triggers.

A customer write stores its segment changes as **pending** events, in its own transaction
(``distribution.customers.segment_changes``). Here they are taken in like any received event:
the active distributions on the event's type match it (``filters.segment_id`` names the segment
the event is about, none means any segment: a customer who left is no longer a member, so
membership is not asked), and the same ``OutboxWriter`` as a received event's prepares their
deliveries. A batch of pending events is claimed, prepared and marked done in **one
transaction**, deliveries inserted with one statement per table: each event's deliveries are
written exactly once (on PostgreSQL, ``SKIP LOCKED`` keeps two processes off the same events).

``SegmentEventRunner`` does it in every API process, moments after the write commits; while the
process imports a file it waits, so the import's own events are prepared after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, update
from sqlmodel import Session, col, select

from distribution.accounts.projects import cached_project
from distribution.customers.customer_files import import_running
from distribution.events.distributions import active_rules
from distribution.events.event_input import CustomerRef, IncomingEvent
from distribution.events.ingest import OutboxWriter, insert_deliveries
from distribution.models import Customer, Event
from distribution.outbox import LinkSettings
from distribution.storage.db import Database
from distribution.storage.polling_loop import PollingLoop

__all__ = ["BATCH", "SegmentEventRunner", "prepare_segment_events"]

#: Pending events prepared in one transaction.
BATCH = 500
_EVENTS = Event.__table__  # type: ignore[attr-defined]
_DONE = (
    update(_EVENTS)
    .where(_EVENTS.c.id == bindparam("event_id"))
    .values(result=bindparam("event_result"), pending=False)
)


def prepare_segment_events(session: Session, links: LinkSettings, limit: int = BATCH) -> int:
    """Prepare the deliveries of up to ``limit`` pending events, oldest first; how many."""
    claimed = list(
        session.exec(
            select(Event)
            .where(col(Event.pending).is_(True))
            .order_by(col(Event.received_at), col(Event.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not claimed:
        return 0
    ids = {event.customer_id for event in claimed if event.customer_id}
    customers = {c.id: c for c in session.exec(select(Customer).where(col(Customer.id).in_(ids)))}
    deliveries: list[dict[str, Any]] = []
    done: list[dict[str, Any]] = []
    for event in claimed:
        customer = customers.get(event.customer_id or "")
        rows, result = _prepare(session, links, event, customer)
        deliveries += rows
        done.append({"event_id": event.id, "event_result": result})
    session.connection().execute(_DONE, done)
    insert_deliveries(session, deliveries)
    session.expunge_all()
    return len(claimed)


def _prepare(
    session: Session, links: LinkSettings, event: Event, customer: Customer | None
) -> tuple[Sequence[dict[str, Any]], dict[str, Any]]:
    """One event's delivery rows and the result stored with it."""
    segment: dict[str, str] = event.payload.get("segment") or {}
    if customer is None:  # cannot happen (customers are never deleted), but must not loop
        return [], {"deliveries": [], "notes": ["the customer is gone"]}
    incoming = IncomingEvent(
        type=event.type,
        customer=CustomerRef(id=customer.id),
        source=event.source,
        data={"segment": segment},
    )
    project = cached_project(session, event.project_id)
    writer = OutboxWriter(session, project, event.id, incoming, links, segment=segment)
    for rule in active_rules(session, event.project_id).get(event.type, ()):
        filters = rule.distribution.filters
        # No campaign: a distribution limited to one never matches, as for any event without.
        if filters.get("campaign_id") is None and filters.get("segment_id") in (
            None,
            segment.get("id"),
        ):
            writer.write(rule, customer, None)
    result = {
        "deliveries": [s.__dict__ for s in writer.summaries],
        "customer": {"id": customer.id, "source_id": customer.source_id},
        "notes": [],
    }
    return writer.rows, result


class SegmentEventRunner(PollingLoop):
    """Prepares pending segment events in a thread, a batch a round, until none is left."""

    name = "segment-event-runner"

    def __init__(
        self, database: Database, links: LinkSettings, *, poll_interval: float = 0.5
    ) -> None:
        super().__init__(poll_interval=poll_interval, shutdown_grace=30.0)
        self.database = database
        self.links = links

    def _round(self) -> int:
        with self.database.session() as session:
            return prepare_segment_events(session, self.links)

    async def run_once(self) -> int:
        if import_running():  # its rows' events wait for its end (see import_running)
            return 0
        return await asyncio.to_thread(self._round)
