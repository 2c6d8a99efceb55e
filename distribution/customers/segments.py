"""Segments: named customer filters. Membership is computed from the filter, never stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from distribution.accounts.project_cache import CACHE, changed
from distribution.customers.segment_filter import Filter, filter_clause, matches, parse_filter
from distribution.errors import FieldError, InvalidInputError
from distribution.models import Customer, Segment, utcnow
from distribution.storage.db import flush_or_conflict
from distribution.storage.ids import new_id
from distribution.storage.project_rows import project_row, project_rows

__all__ = [
    "count_members",
    "create_segment",
    "delete_segment",
    "get_segment",
    "is_member",
    "list_segments",
    "member_condition",
    "parsed_segments",
    "segments_of",
    "update_segment",
]


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInputError([FieldError("name", "must be 1-200 characters")])
    return name


def _flush_unique(session: Session, name: str) -> None:
    flush_or_conflict(session, f"a segment named {name!r} already exists")


def create_segment(session: Session, project_id: str, name: str, raw_filter: Any) -> Segment:
    """Create a segment after checking its filter."""
    parse_filter(raw_filter)
    segment = Segment(
        id=new_id("seg"), project_id=project_id, name=_check_name(name), filter=raw_filter
    )
    session.add(segment)
    _flush_unique(session, segment.name)
    changed(session, project_id)
    return segment


def get_segment(session: Session, project_id: str, segment_id: str) -> Segment:
    """A segment of the project."""
    return project_row(session, Segment, project_id, segment_id, "segment")


def list_segments(session: Session, project_id: str) -> list[Segment]:
    """Every segment of the project, oldest first."""
    return project_rows(session, Segment, project_id)


def update_segment(
    session: Session,
    project_id: str,
    segment_id: str,
    *,
    name: str | None = None,
    raw_filter: Any = None,
) -> Segment:
    """Rename a segment or replace its filter."""
    segment = get_segment(session, project_id, segment_id)
    if raw_filter is not None:
        parse_filter(raw_filter)
        segment.filter = raw_filter
    if name is not None:
        segment.name = _check_name(name)
    segment.updated_at = utcnow()
    session.add(segment)
    _flush_unique(session, segment.name)
    changed(session, project_id)
    return segment


def delete_segment(session: Session, project_id: str, segment_id: str) -> None:
    """Delete a segment (customers are untouched)."""
    session.delete(get_segment(session, project_id, segment_id))
    changed(session, project_id)  # template variants for it stop targeting anyone


def parsed_segments(session: Session, project_id: str) -> tuple[tuple[str, Filter], ...]:
    """Every segment's id and parsed filter, oldest first (cached until a segment changes)."""

    def load() -> tuple[tuple[str, Filter], ...]:
        return tuple((s.id, parse_filter(s.filter)) for s in list_segments(session, project_id))

    return CACHE.get(project_id, ("segments", project_id), load)


def member_condition(segment: Segment, dialect_name: str) -> ColumnElement[bool]:
    """The SQL condition that selects the segment's customers (add the project filter)."""
    return filter_clause(parse_filter(segment.filter), dialect_name)


def count_members(session: Session, project_id: str, segment: Segment) -> int:
    """How many live customers the segment holds now."""
    dialect = session.get_bind().dialect.name
    statement = select(func.count()).where(
        Customer.project_id == project_id,
        col(Customer.erased_at).is_(None),
        member_condition(segment, dialect),
    )
    return int(session.exec(statement).one())


def is_member(segment: Segment, customer: Customer) -> bool:
    """Whether one customer is in the segment, evaluated in memory (no query)."""
    return matches(parse_filter(segment.filter), customer)


def segments_of(session: Session, project_id: str, customer: Customer) -> list[Segment]:
    """The project's segments the customer is in now, oldest first."""
    return [s for s in list_segments(session, project_id) if is_member(s, customer)]
