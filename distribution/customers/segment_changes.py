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

What becomes of a change (an event row, the distributions it triggers, its webhooks) is decided
above this layer, by the handler the composition root installs
(``distribution.events.segment_events.install_segment_events``); a process that writes customers
a watched segment could see without one installed is a wiring bug, and the write fails loudly
rather than lose the events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from distribution.accounts.project_cache import CACHE
from distribution.customers.segment_filter import Filter, matches, parse_filter
from distribution.models import Customer, CustomerLike, Distribution, Segment
from distribution.webhooks.subscriptions import wants

__all__ = [
    "SEGMENT_ENTERED",
    "SEGMENT_EVENTS",
    "SEGMENT_LEFT",
    "SegmentChange",
    "SegmentChangeHandler",
    "SegmentWatch",
    "WatchedSegment",
    "emit_segment_changes",
    "install_segment_change_handler",
    "segment_watch",
]

SEGMENT_ENTERED = "customer.segment.entered"
SEGMENT_LEFT = "customer.segment.left"
SEGMENT_EVENTS = (SEGMENT_ENTERED, SEGMENT_LEFT)


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
    customer: Customer
    segment_id: str
    segment_name: str
    #: The same write retried gives the same key, so the event table's unique dedupe key
    #: stores it once: customer, segment, direction and the write's ``updated_at``.
    dedupe_key: str


#: What turns a write's changes into events, called in the write's transaction.
SegmentChangeHandler = Callable[[Session, str, Sequence[SegmentChange]], None]

_handler: list[SegmentChangeHandler] = []


def install_segment_change_handler(handler: SegmentChangeHandler) -> None:
    """Make ``handler`` the one this process hands segment changes to."""
    _handler[:] = [handler]


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
        self, customer: Customer, before: frozenset[str], after: frozenset[str]
    ) -> list[SegmentChange]:
        """The events between two memberships of ``customer`` (as written), oldest segment
        first, left before entered."""
        if before == after:
            return []
        stamp = _stamp(customer.updated_at)
        return [
            SegmentChange(
                type=kind,
                customer=customer,
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
    """Hand a write's changes to the installed handler, in the write's transaction."""
    if not changes:
        return
    if not _handler:
        raise RuntimeError(
            "customers moved between watched segments, but this process installed no segment "
            "event handler (distribution.events.segment_events.install_segment_events)"
        )
    _handler[0](session, project_id, changes)
