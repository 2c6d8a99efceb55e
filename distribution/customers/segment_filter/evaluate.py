"""In-memory evaluation of a filter against one customer (the event path).

Every rule here has a twin in sql.py; the property test in
tests/test_distribution/test_segment_filter_agreement.py holds them together.
"""

from __future__ import annotations

from datetime import datetime

from distribution.customers.segment_filter.parse import (
    And,
    Condition,
    Filter,
    Instant,
    Not,
    Op,
    Or,
    Scalar,
    date_bound,
    instant_of_datetime,
    parse_instant,
)
from distribution.models import CustomerLike

__all__ = ["ascii_lower", "matches"]

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower-case A-Z only: the one case folding SQLite, PostgreSQL and Python all agree on."""
    return text.translate(_ASCII_LOWER)


def matches(filter: Filter, customer: CustomerLike) -> bool:
    """Whether a customer is in the segment the filter describes; erased customers never are."""
    if customer.erased_at is not None:
        return False
    return _evaluate(filter, customer)


def _evaluate(node: Filter, customer: CustomerLike) -> bool:
    if isinstance(node, And):
        return all(_evaluate(child, customer) for child in node.children)
    if isinstance(node, Or):
        return any(_evaluate(child, customer) for child in node.children)
    if isinstance(node, Not):
        return not _evaluate(node.child, customer)
    return _condition(node, customer)


def _lookup(node: Condition, customer: CustomerLike) -> object:
    """The field's value, None when it is missing or JSON null."""
    if node.field.kind != "metadata":
        return getattr(customer, node.field.column)
    value: object = customer.meta
    for key in node.field.path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _is_number(value: object) -> bool:
    # bool is a subclass of int in Python, but true is not the number 1 in this language.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(stored: object, wanted: Scalar, fold: bool) -> bool:
    if isinstance(wanted, bool):
        return isinstance(stored, bool) and stored == wanted
    if isinstance(wanted, str):
        if not isinstance(stored, str):
            return False
        return ascii_lower(stored) == ascii_lower(wanted) if fold else stored == wanted
    return _is_number(stored) and stored == wanted


def _condition(node: Condition, customer: CustomerLike) -> bool:
    stored = _lookup(node, customer)
    op, wanted = node.op, node.value
    fold = node.field.name == "email"
    if op == "exists":
        return (stored is not None) is wanted
    if op in ("eq", "ne", "in", "not_in"):
        found = any(_equal(stored, option, fold) for option in node.options)
        return found if op in ("eq", "in") else not found
    if op in ("contains", "starts_with"):
        if not isinstance(stored, str) or not isinstance(wanted, str):
            return False
        if fold:
            stored, wanted = ascii_lower(stored), ascii_lower(wanted)
        return wanted in stored if op == "contains" else stored.startswith(wanted)
    if isinstance(wanted, Instant):
        return _compare_instant(op, wanted, stored)
    if not _is_number(stored) or not _is_number(wanted):
        return False
    assert isinstance(stored, int | float)
    assert isinstance(wanted, int | float)
    if op == "gt":
        return stored > wanted
    if op == "gte":
        return stored >= wanted
    if op == "lt":
        return stored < wanted
    return stored <= wanted


def _compare_instant(op: Op, wanted: Instant, stored: object) -> bool:
    if isinstance(stored, datetime):
        micros: int | None = instant_of_datetime(stored)
    elif isinstance(stored, str):
        parsed = parse_instant(stored)
        micros = None if parsed is None else parsed.micros
    else:
        micros = None
    if micros is None:
        return False
    relation, bound = date_bound(op, wanted)
    return micros >= bound if relation == ">=" else micros < bound
