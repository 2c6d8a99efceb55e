"""A filter as a SQL condition over the ``customer`` table, for SQLite and PostgreSQL.

Every value and every metadata key travels as a bound parameter. Each leaf is built so that it is
never NULL (SQL's third truth value would make ``not`` disagree with Python), and every type test
guards its cast inside a CASE, so mixed JSON types never make PostgreSQL raise.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Numeric,
    String,
    Table,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

from distribution.customers.segment_filter.evaluate import ascii_lower
from distribution.customers.segment_filter.parse import (
    DATE_REGEX,
    And,
    Condition,
    Filter,
    Instant,
    Not,
    Or,
    Scalar,
    date_bound,
)
from distribution.models import Customer

__all__ = ["filter_clause"]

_TABLE = typing.cast(Table, Customer.__table__)  # type: ignore[attr-defined]
_EPOCH = datetime(1970, 1, 1)
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# DATE_REGEX spelled as GLOB patterns, since SQLite has no regular expressions of its own.
_D2 = "[0-9][0-9]"
_GLOB_DATE = f"{_D2}{_D2}-{_D2}-{_D2}"
_GLOB_PATTERNS = [_GLOB_DATE] + [
    f"{_GLOB_DATE}[T ]{_D2}:{_D2}:{_D2}{fraction}{zone}"
    for fraction in ["", *("." + "[0-9]" * digits for digits in range(1, 10))]
    for zone in ("", "Z", f"[-+]{_D2}:{_D2}")
]


@dataclass(frozen=True)
class _Typed:
    """One stored value seen through SQL: type tests and the value to compare when they hold."""

    present: ColumnElement[bool]
    is_text: ColumnElement[bool]
    text: ColumnElement[Any]
    is_number: ColumnElement[bool]
    number: ColumnElement[Any]
    is_true: ColumnElement[bool]
    is_false: ColumnElement[bool]


_Predicate = Callable[[_Typed], ColumnElement[bool]]


def filter_clause(filter: Filter, dialect_name: str) -> ColumnElement[bool]:
    """The filter as a WHERE condition on the ``customer`` table.

    The caller adds ``Customer.project_id == ...`` and ``Customer.erased_at.is_(None)``.

    Args:
        filter: a tree from ``parse_filter``.
        dialect_name: ``"sqlite"`` or ``"postgresql"`` (``engine.dialect.name``).

    Raises:
        ValueError: for any other dialect.
    """
    if dialect_name not in ("sqlite", "postgresql"):
        raise ValueError(f"segment filters support sqlite and postgresql, not {dialect_name!r}")
    return _Builder(postgres=dialect_name == "postgresql").node(filter)


def _guard(test: ColumnElement[bool], comparison: ColumnElement[bool]) -> ColumnElement[bool]:
    return case((test, comparison), else_=false())


class _Builder:
    def __init__(self, *, postgres: bool) -> None:
        self.postgres = postgres

    def node(self, node: Filter) -> ColumnElement[bool]:
        if isinstance(node, And):
            return and_(*(self.node(child) for child in node.children))
        if isinstance(node, Or):
            return or_(*(self.node(child) for child in node.children))
        if isinstance(node, Not):
            return not_(self.node(node.child))
        return self.condition(node)

    # --- where a value lives -------------------------------------------------------------

    def where(self, node: Condition, predicate: _Predicate) -> ColumnElement[bool]:
        """Apply a predicate to the field's value; false when the value is missing."""
        field = node.field
        if field.kind != "metadata":
            column = _TABLE.c[field.column]
            present = column.is_not(None)
            typed = _Typed(present, present, column, false(), column, false(), false())
            return _guard(present, predicate(typed))
        if self.postgres:
            return self.postgres_json(field.path, predicate)
        return self.sqlite_json(field.path, predicate)

    def postgres_json(self, path: tuple[str, ...], predicate: _Predicate) -> ColumnElement[bool]:
        parent: ColumnElement[Any] = _TABLE.c["metadata"]
        for key in path[:-1]:
            parent = parent.op("->", return_type=JSONB)(literal(key, String))
        last = literal(path[-1], String)
        node = parent.op("->", return_type=JSONB)(last)
        kind = func.jsonb_typeof(node)
        text = parent.op("->>", return_type=String)(last)
        typed = _Typed(
            present=kind != "null",
            is_text=kind == "string",
            text=text,
            is_number=kind == "number",
            number=cast(node, Numeric),
            is_true=and_(kind == "boolean", text == "true"),
            is_false=and_(kind == "boolean", text == "false"),
        )
        # A missing key gives NULL type tests; the CASE turns that into false.
        return _guard(node.is_not(None), predicate(typed))

    def sqlite_json(self, path: tuple[str, ...], predicate: _Predicate) -> ColumnElement[bool]:
        # json_each, not json_extract: SQLite before 3.45 matches a JSON path against the raw key
        # text, so a key stored escaped ("caf\u00e9") would never match "café". json_each
        # decodes keys, and the key is compared as a bound value, never spliced into a path.
        parent: ColumnElement[Any] = _TABLE.c["metadata"]
        for key in path[:-1]:
            members = func.json_each(parent).table_valued("key", "type", "value")
            parent = (
                select(members.c.value)
                .where(members.c.key == literal(key, String), members.c.type == "object")
                .limit(1)
                .scalar_subquery()
            )
        members = func.json_each(parent).table_valued("key", "type", "value")
        kind, value = members.c.type, members.c.value
        typed = _Typed(
            present=kind != "null",
            is_text=kind == "text",
            text=value,
            is_number=kind.in_(["integer", "real"]),
            number=value,
            is_true=kind == "true",
            is_false=kind == "false",
        )
        return exists(
            select(literal(1)).where(members.c.key == literal(path[-1], String), predicate(typed))
        )

    # --- operators -----------------------------------------------------------------------

    def condition(self, node: Condition) -> ColumnElement[bool]:
        op, wanted = node.op, node.value
        if op == "exists":
            found = self.where(node, lambda typed: typed.present)
            return found if wanted is True else not_(found)
        if op in ("eq", "ne", "in", "not_in"):
            options = node.options
            found = self.where(node, lambda typed: self.equal_any(node, typed, options))
            return found if op in ("eq", "in") else not_(found)
        if op in ("contains", "starts_with"):
            assert isinstance(wanted, str)
            return self.where(node, lambda typed: self.text_match(node, typed, op, wanted))
        if isinstance(wanted, Instant):
            return self.date_compare(node, wanted)
        assert isinstance(wanted, int | float)
        number = self.number(wanted)
        compare: dict[str, Callable[[ColumnElement[Any]], ColumnElement[bool]]] = {
            "gt": lambda stored: stored > number,
            "gte": lambda stored: stored >= number,
            "lt": lambda stored: stored < number,
            "lte": lambda stored: stored <= number,
        }
        return self.where(node, lambda typed: _guard(typed.is_number, compare[op](typed.number)))

    def number(self, value: int | float) -> ColumnElement[Any]:
        if self.postgres:
            # jsonb numbers are exact decimals written from repr(float); repr keeps order and
            # equality of doubles, and float8 -> numeric would round to 15 digits.
            return literal(Decimal(repr(value)), Numeric())
        return literal(value)

    def fold(self, text: ColumnElement[Any]) -> ColumnElement[Any]:
        # A-Z only: PostgreSQL's lower() follows the locale, SQLite's is ASCII-only.
        if self.postgres:
            return func.translate(text, _UPPER, _UPPER.lower())
        return func.lower(text)

    def equal_any(
        self, node: Condition, typed: _Typed, options: tuple[Scalar, ...]
    ) -> ColumnElement[bool]:
        tests: list[ColumnElement[bool]] = []
        texts = [option for option in options if isinstance(option, str)]
        if texts:
            if node.field.name == "email":
                folded = [literal(ascii_lower(text), String) for text in texts]
                tests.append(_guard(typed.is_text, self.fold(typed.text).in_(folded)))
            else:
                values = [literal(text, String) for text in texts]
                tests.append(_guard(typed.is_text, typed.text.in_(values)))
        numbers = [
            self.number(option)
            for option in options
            if isinstance(option, int | float) and not isinstance(option, bool)
        ]
        if numbers:
            tests.append(_guard(typed.is_number, typed.number.in_(numbers)))
        # `True in options` would also be true for the number 1.
        if any(option is True for option in options):
            tests.append(typed.is_true)
        if any(option is False for option in options):
            tests.append(typed.is_false)
        return or_(*tests)

    def text_match(
        self, node: Condition, typed: _Typed, op: str, wanted: str
    ) -> ColumnElement[bool]:
        text = typed.text
        if node.field.name == "email":
            text, wanted = self.fold(text), ascii_lower(wanted)
        needle = literal(wanted, String)
        # instr/strpos and substr take the needle literally; LIKE would need escaping for % and _
        # and is case-insensitive on SQLite.
        if op == "contains":
            found = (func.strpos if self.postgres else func.instr)(text, needle) > 0
        else:
            found = func.substr(text, 1, literal(len(wanted))) == needle
        return _guard(typed.is_text, found)

    def date_compare(self, node: Condition, wanted: Instant) -> ColumnElement[bool]:
        relation, bound = date_bound(node.op, wanted)
        if node.field.kind == "datetime":
            column = _TABLE.c[node.field.column]
            try:
                moment = _EPOCH + timedelta(microseconds=bound)
            except OverflowError:
                # Beyond the years 1-9999 every stored time lies on one side of the bound.
                below = bound < 0
                return column.is_not(None) if below == (relation == ">=") else false()
            found: ColumnElement[bool] = column >= moment if relation == ">=" else column < moment
            return _guard(column.is_not(None), found)

        def predicate(typed: _Typed) -> ColumnElement[bool]:
            micros = self.instant(typed.text)
            found = micros >= bound if relation == ">=" else micros < bound
            return _guard(typed.is_text, func.coalesce(found, false()))

        return self.where(node, predicate)

    def instant(self, text: ColumnElement[Any]) -> ColumnElement[Any]:
        """Microseconds since the epoch for an ISO 8601 string, NULL when it is not one.

        The same arithmetic as ``parse_instant``, so both databases and Python agree exactly;
        the date functions of SQLite and PostgreSQL differ in what they accept.
        """
        shaped: ColumnElement[bool]
        if self.postgres:
            shaped = text.op("~", is_comparison=True)(literal(f"^{DATE_REGEX}$", String))
        else:
            shaped = or_(
                *(text.op("GLOB", is_comparison=True)(literal(p, String)) for p in _GLOB_PATTERNS)
            )
        length = func.length(text)

        def digits(start: Any, count: int) -> ColumnElement[Any]:
            return cast(func.substr(text, start, count), BigInteger)

        year, month, day = digits(1, 4), digits(6, 2), digits(9, 2)
        timed = length > 10
        hour = case((timed, digits(12, 2)), else_=0)
        minute = case((timed, digits(15, 2)), else_=0)
        second = case((timed, digits(18, 2)), else_=0)
        sign = func.substr(text, length - 5, 1)
        has_offset = and_(length > 19, sign.in_(["+", "-"]))
        zone_length = case(
            (and_(length > 19, func.substr(text, length, 1) == "Z"), 1),
            (has_offset, 6),
            else_=0,
        )
        offset_hour, offset_minute = digits(length - 4, 2), digits(length - 1, 2)
        offset = case(
            (has_offset, case((sign == "-", -1), else_=1) * (offset_hour * 60 + offset_minute)),
            else_=0,
        )
        fraction = func.substr(text, 21, length - 20 - zone_length, type_=String)
        micro = case(
            (
                func.substr(text, 20, 1) == ".",
                cast(func.substr(fraction.concat("000000"), 1, 6), BigInteger),
            ),
            else_=0,
        )
        leap = or_(and_(year % 4 == 0, year % 100 != 0), year % 400 == 0)
        month_days = case(
            (month == 2, case((leap, 29), else_=28)),
            (month.in_([4, 6, 9, 11]), 30),
            else_=31,
        )
        valid = and_(
            year >= 1,
            month >= 1,
            month <= 12,
            day >= 1,
            day <= month_days,
            hour <= 23,
            minute <= 59,
            second <= 59,
            case((has_offset, and_(offset_hour <= 23, offset_minute <= 59)), else_=true()),
        )
        # days_from_civil in parse.py, step by step.
        shifted = year - case((month <= 2, 1), else_=0)
        era = shifted // 400
        year_of_era = shifted - era * 400
        day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
        day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
        days = era * 146097 + day_of_era - 719468
        seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset * 60
        # Nested CASEs: PostgreSQL may reorder AND, but never evaluates a CASE branch early,
        # so the casts only ever see digits.
        return case((shaped, case((valid, seconds * 1_000_000 + micro))))
