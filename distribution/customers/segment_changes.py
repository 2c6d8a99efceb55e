"""Segment entered / left: which customer writes move a customer into or out of a segment.

Membership is computed from the filter, never stored, so a change is found by evaluating the
filter in memory (``segment_filter.matches``, the evaluation the SQL twin is proven against) on
the customer as it was before the write and as it is after, in the write's transaction.

Only **watched** segments are evaluated: those an active distribution on
``customer.segment.entered`` / ``customer.segment.left`` names in ``filters.segment_id`` (every
segment when one names none), and every segment when an outgoing webhook subscription asks for
either event. Nothing listens, nothing is evaluated: the cost of a write stays what it was. The
watched list is cached per project (``accounts.project_cache``) until a distribution or segment
changes, and the webhook half until a subscription changes.

Each change is stored in the write's transaction as an event row (source ``segment``, payload
``segment: {id, name}``) under a deterministic dedupe key, and queued for the webhook
subscriptions that asked for it: the write and its events commit together, or neither. The
event is stored ``pending``: the distributions it triggers are matched and their deliveries
prepared just after the commit by ``distribution.events.segment_events`` (a layer above), in
batches, so an import that moves 50,000 customers pays for 50,000 row inserts in its own
transactions, not for 50,000 renders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlmodel import Session, col, select

from distribution.accounts.project_cache import CACHE
from distribution.customers.segment_filter import Filter, matches, parse_filter
from distribution.models import CustomerLike, Distribution, Event, Segment, utcnow
from distribution.storage.driver_sql import DriverInsert, insert_many
from distribution.storage.ids import new_id
from distribution.webhooks.subscriptions import emit_many, wants

__all__ = [
    "SEGMENT_ENTERED",
    "SEGMENT_EVENTS",
    "SEGMENT_LEFT",
    "SEGMENT_SOURCE",
    "SegmentChange",
    "SegmentWatch",
    "WatchedSegment",
    "emit_segment_changes",
    "segment_watch",
]

SEGMENT_ENTERED = "customer.segment.entered"
SEGMENT_LEFT = "customer.segment.left"
SEGMENT_EVENTS = (SEGMENT_ENTERED, SEGMENT_LEFT)
#: The ``source`` of the event rows a segment change makes (the others: api, voucherify).
SEGMENT_SOURCE = "segment"
_EVENTS: Table = Event.__table__  # type: ignore[attr-defined]
# Every column of the event table: insert_many fills no defaults.
_EVENT_COLUMNS = (
    "id",
    "project_id",
    "dedupe_key",
    "type",
    "source",
    "customer_id",
    "payload",
    "result",
    "received_at",
    "pending",
)
# From this many events, insert_many; below, the cursor statement, which costs a few
# microseconds where insert_many's execution costs 60-80 (and COPY more): a customer's event
# moves them into a segment or two.
_MANY = 100
_INSERT_EVENTS = DriverInsert(_EVENTS)


@dataclass(frozen=True)
class WatchedSegment:
    """A segment some distribution or webhook listens to, its filter parsed."""

    id: str
    name: str
    filter: Filter


@dataclass(frozen=True)
class SegmentChange:
    """One customer entering or leaving one segment through one write."""

    type: str  # SEGMENT_ENTERED or SEGMENT_LEFT
    customer_id: str
    source_id: str | None
    segment_id: str
    segment_name: str
    #: The same write retried gives the same key, so the event table's unique dedupe key
    #: stores it once: customer, segment, direction and the write's ``updated_at``.
    dedupe_key: str


class SegmentWatch:
    """The watched segments of one project for one write: membership and its changes."""

    def __init__(self, segments: Sequence[WatchedSegment]) -> None:
        self.segments = segments

    def __bool__(self) -> bool:
        return bool(self.segments)

    def members(self, customer: CustomerLike) -> frozenset[str]:
        """The ids of the watched segments the customer is in (none once erased)."""
        return frozenset(s.id for s in self.segments if matches(s.filter, customer))

    def changes(
        self, customer: CustomerLike, before: frozenset[str], after: frozenset[str]
    ) -> list[SegmentChange]:
        """The events between two memberships of ``customer`` (as written), oldest segment
        first, left before entered."""
        if before == after:
            return []
        stamp = _stamp(customer.updated_at)
        return [
            SegmentChange(
                type=kind,
                customer_id=customer.id,
                source_id=customer.source_id,
                segment_id=segment.id,
                segment_name=segment.name,
                dedupe_key=f"segment:{customer.id}:{segment.id}:{kind}:{stamp}",
            )
            for kind, ids in ((SEGMENT_LEFT, before - after), (SEGMENT_ENTERED, after - before))
            for segment in self.segments
            if segment.id in ids
        ]


def _stamp(at: datetime | None) -> str:
    return at.isoformat() if at is not None else ""


def segment_watch(session: Session, project_id: str) -> SegmentWatch:
    """The project's watched segments now (cached; see the module docstring)."""
    if any(wants(session, project_id, kind) for kind in SEGMENT_EVENTS):
        return SegmentWatch(_segments(session, project_id, every=True))
    return SegmentWatch(_segments(session, project_id, every=False))


def _segments(session: Session, project_id: str, *, every: bool) -> tuple[WatchedSegment, ...]:
    def load() -> tuple[WatchedSegment, ...]:
        named: set[str | None] = set()
        if not every:
            rules = session.exec(
                select(Distribution.filters).where(
                    Distribution.project_id == project_id,
                    Distribution.status == "active",
                    col(Distribution.trigger).in_(SEGMENT_EVENTS),
                )
            )
            named = {(filters or {}).get("segment_id") for filters in rules}
            if not named:
                return ()
        rows = session.exec(
            select(Segment).where(Segment.project_id == project_id).order_by(col(Segment.id))
        )
        return tuple(
            WatchedSegment(row.id, row.name, parse_filter(row.filter))
            for row in rows
            if every or None in named or row.id in named
        )

    return CACHE.get(project_id, ("watched-segments", project_id, every), load)


def emit_segment_changes(
    session: Session, project_id: str, changes: Sequence[SegmentChange]
) -> None:
    """Store a write's changes as pending events and queue their webhooks, in the write's
    transaction (one statement for all the events)."""
    if not changes:
        return
    now = utcnow()
    events: list[tuple[Any, ...]] = []
    announced: dict[str, list[dict[str, Any]]] = {kind: [] for kind in SEGMENT_EVENTS}
    heard = {kind for kind in SEGMENT_EVENTS if wants(session, project_id, kind)}
    # Events of one kind and segment share one payload object, and all one empty result: an
    # import stores tens of thousands, and insert_many encodes a value that is the very object
    # of the row before once (each JSON encoding cost as much as storing the row).
    payloads: dict[tuple[str, str], dict[str, Any]] = {}
    no_result: dict[str, Any] = {}  # none yet: preparing the event writes it
    for change in changes:
        segment = {"id": change.segment_id, "name": change.segment_name}
        payload = payloads.get((change.type, change.segment_id))
        if payload is None:
            payload = payloads[change.type, change.segment_id] = {
                "type": change.type,
                "source": SEGMENT_SOURCE,
                "segment": segment,
            }
        event_id = new_id("evt")
        events.append(
            (
                event_id,
                project_id,
                change.dedupe_key,
                change.type,
                SEGMENT_SOURCE,
                change.customer_id,
                payload,
                no_result,
                now,
                True,
            )
        )
        if change.type in heard:
            announced[change.type].append(
                {
                    "object": "event",
                    "id": event_id,
                    "type": change.type,
                    "customer_id": change.customer_id,
                    "source_id": change.source_id,
                    "segment": segment,
                }
            )
    if len(events) < _MANY:
        _INSERT_EVENTS.execute(
            session.connection(), [dict(zip(_EVENT_COLUMNS, e, strict=True)) for e in events]
        )
    else:
        insert_many(session.connection(), _EVENTS, _EVENT_COLUMNS, events)
    for event_type, datas in announced.items():
        emit_many(session, project_id, event_type, datas)
