"""Segments: named customer filters. Membership is computed from the filter, never stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from distribution.accounts.project_cache import CACHE, changed
from distribution.customers.segment_filter import Filter, filter_clause, matches, parse_filter
from distribution.customers.segment_filter.parse import COLUMN_FIELDS, parse_instant
from distribution.errors import FieldError, InvalidInputError
from distribution.models import Customer, Segment, utcnow
from distribution.storage.db import flush_or_conflict
from distribution.storage.ids import new_id
from distribution.storage.project_rows import project_row, project_rows

__all__ = [
    "FIELD_SAMPLE",
    "count_matching",
    "count_members",
    "create_segment",
    "delete_segment",
    "get_segment",
    "is_member",
    "list_segments",
    "member_condition",
    "metadata_keys",
    "parsed_segments",
    "schema_fields",
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


def count_matching(session: Session, project_id: str, tree: Filter) -> int:
    """How many live customers a parsed filter selects now (an unsaved segment's count)."""
    statement = select(func.count()).where(
        Customer.project_id == project_id,
        col(Customer.erased_at).is_(None),
        filter_clause(tree, session.get_bind().dialect.name),
    )
    return int(session.exec(statement).one())


def schema_fields() -> list[dict[str, str]]:
    """The customer columns a filter can name, each ``text`` or ``datetime``."""
    dates = {"created_at", "updated_at"}
    return [
        {"field": name, "type": "datetime" if name in dates else "text"} for name in COLUMN_FIELDS
    ]


#: How many of the newest customers ``metadata_keys`` looks at: enough to find the keys a
#: project uses without reading every row of a large project.
FIELD_SAMPLE = 2000


def _json_type(value: Any) -> str:
    # bool before int: True is an int in Python.
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "date" if parse_instant(value) is not None else "text"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "null"


def metadata_keys(
    session: Session, project_id: str, sample: int = FIELD_SAMPLE
) -> list[dict[str, Any]]:
    """The top-level metadata keys the project's newest ``sample`` live customers hold: each as
    ``metadata.<key>`` with the value types seen (``text``, ``number``, ``boolean``, ``date``
    for strings in the filter's date grammar, ``array``, ``object``) and how many customers
    hold it, most used first."""
    statement = (
        select(Customer.meta)
        .where(Customer.project_id == project_id, col(Customer.erased_at).is_(None))
        .order_by(col(Customer.id).desc())
        .limit(sample)
    )
    seen: dict[str, dict[str, int]] = {}
    for meta in session.exec(statement):
        for key, value in (meta or {}).items():
            kind = _json_type(value)
            if kind == "null":
                continue
            types = seen.setdefault(key, {})
            types[kind] = types.get(kind, 0) + 1
    keys = [
        {
            "field": f"metadata.{key}",
            "types": sorted(types, key=lambda t: -types[t]),
            "customers": sum(types.values()),
        }
        for key, types in seen.items()
        if "." not in key
    ]
    return sorted(keys, key=lambda k: (-k["customers"], k["field"]))
