"""The segment filter syntax: an immutable tree, its parser, and the ISO 8601 grammar for dates.

The language is documented in ``docs/segments.md``; this module is its executable definition.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeAlias

from distribution.errors import FieldError, InvalidInputError

__all__ = [
    "COLUMN_FIELDS",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_VALUES",
    "And",
    "Condition",
    "FieldRef",
    "Filter",
    "Instant",
    "Not",
    "Op",
    "Or",
    "Scalar",
    "date_bound",
    "instant_of_datetime",
    "parse_filter",
    "parse_instant",
]

MAX_DEPTH = 20
MAX_NODES = 200
# Every value becomes a bound parameter; this keeps a query far below both servers' limits.
MAX_VALUES = 1000
MAX_STRING = 1000
MAX_KEY = 100
MAX_PATH = 10
# Every integer up to 2**53 is exact as a double, so SQLite (which turns integers beyond 64 bits
# into doubles), PostgreSQL (exact numeric) and Python (exact) order such a bound identically
# against any stored number.
MAX_NUMBER = 2**53

# Filter field name -> Customer attribute.
COLUMN_FIELDS: dict[str, str] = {
    "id": "id",
    "source_id": "source_id",
    "name": "name",
    "email": "email",
    "phone": "phone",
    "description": "description",
    "locale": "locale",
    "timezone": "timezone",
    "birthdate": "birthdate",  # YYYY-MM-DD text: starts_with "1980-" finds a year
    "address.city": "address_city",
    "address.state": "address_state",
    "address.line_1": "address_line_1",
    "address.line_2": "address_line_2",
    "address.country": "address_country",
    "address.postal_code": "address_postal_code",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
_DATE_COLUMNS = frozenset({"created_at", "updated_at"})

Op: TypeAlias = Literal[
    "eq", "ne", "in", "not_in", "exists", "contains", "starts_with", "gt", "gte", "lt", "lte"
]
_OPS: tuple[Op, ...] = (
    "eq",
    "ne",
    "in",
    "not_in",
    "exists",
    "contains",
    "starts_with",
    "gt",
    "gte",
    "lt",
    "lte",
)
_ORDERING = frozenset({"gt", "gte", "lt", "lte"})
Scalar: TypeAlias = "str | int | float | bool"


@dataclass(frozen=True)
class Instant:
    """A parsed ISO 8601 date or date-time: microseconds since 1970-01-01T00:00Z."""

    micros: int
    date_only: bool


@dataclass(frozen=True)
class FieldRef:
    """What a condition looks at: a Customer column, or a path of keys into metadata."""

    name: str
    kind: Literal["text", "datetime", "metadata"]
    column: str = ""
    path: tuple[str, ...] = ()


@dataclass(frozen=True)
class Condition:
    """A leaf: ``field op value``; ``in``/``not_in`` hold a tuple, date bounds an Instant."""

    field: FieldRef
    op: Op
    value: Scalar | tuple[Scalar, ...] | Instant

    @property
    def options(self) -> tuple[Scalar, ...]:
        """The values an ``eq``, ``ne``, ``in`` or ``not_in`` compares with, as one tuple."""
        if isinstance(self.value, tuple):
            return self.value
        if isinstance(self.value, Instant):
            raise TypeError("a date bound is not a list of options")
        return (self.value,)


@dataclass(frozen=True)
class And:
    """True when every child is true."""

    children: tuple[Filter, ...]


@dataclass(frozen=True)
class Or:
    """True when at least one child is true."""

    children: tuple[Filter, ...]


@dataclass(frozen=True)
class Not:
    """True when the child is false."""

    child: Filter


Filter: TypeAlias = "And | Or | Not | Condition"

# The one date grammar, shared by filter values, metadata values, and (spelled as GLOB patterns or
# a POSIX regex) the SQL in sql.py. Explicit [0-9] because \d also matches non-ASCII digits.
DATE_REGEX = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
_DATE_PATTERN = re.compile(DATE_REGEX)
_DAY_MICROS = 86_400_000_000


def days_in_month(year: int, month: int) -> int:
    """Days in a month of the proleptic Gregorian calendar."""
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 for a date with year >= 1 (H. Hinnant's algorithm, integers only).

    Written with non-negative floor divisions only, so sql.py can repeat it operator for operator.
    """
    shifted = year - (1 if month <= 2 else 0)
    era = shifted // 400
    year_of_era = shifted - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def parse_instant(text: str) -> Instant | None:
    """The instant an ISO 8601 string names, or None when it is not one (see docs/segments.md).

    A date alone means midnight UTC; a date-time without an offset is UTC; fractions beyond
    microseconds are cut off.
    """
    if _DATE_PATTERN.fullmatch(text) is None:
        return None
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    hour = minute = second = micro = offset = 0
    if len(text) > 10:
        hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
        rest = text[19:]
        if rest.endswith("Z"):
            rest = rest[:-1]
        elif len(rest) >= 6 and rest[-6] in "+-":
            off_hour, off_minute = int(rest[-5:-3]), int(rest[-2:])
            if off_hour > 23 or off_minute > 59:
                return None
            offset = (off_hour * 60 + off_minute) * (-1 if rest[-6] == "-" else 1)
            rest = rest[:-6]
        if rest:
            micro = int((rest[1:] + "000000")[:6])
    if not (
        year >= 1
        and 1 <= month <= 12
        and 1 <= day <= days_in_month(year, month)
        and hour <= 23
        and minute <= 59
        and second <= 59
    ):
        return None
    seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    return Instant((seconds - offset * 60) * 1_000_000 + micro, date_only=len(text) == 10)


def instant_of_datetime(value: datetime) -> int:
    """Microseconds since the epoch for a stored datetime (naive means UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return (value - datetime(1970, 1, 1)) // timedelta(microseconds=1)


def date_bound(op: Op, instant: Instant) -> tuple[Literal[">=", "<"], int]:
    """Turn ``gt``/``gte``/``lt``/``lte`` against a date into ``x >= bound`` or ``x < bound``.

    A date alone stands for the whole UTC day, so ``lte 2024-01-31`` includes all of that day and
    ``gt 2024-01-31`` starts at February 1st; a date-time is exact to the microsecond.
    """
    step = _DAY_MICROS if instant.date_only else 1
    if op == "gt":
        return ">=", instant.micros + step
    if op == "gte":
        return ">=", instant.micros
    if op == "lt":
        return "<", instant.micros
    return "<", instant.micros + step


def parse_filter(raw: object) -> Filter:
    """Validate a JSON filter tree and return it as an immutable syntax tree.

    Args:
        raw: the decoded JSON ``filter`` value.

    Raises:
        InvalidInputError: listing each problem with the path of its node, e.g.
            ``filter.and[1].value``.
    """
    parser = _Parser()
    tree = parser.node(raw, "filter", 1)
    if parser.errors or tree is None:
        raise InvalidInputError(parser.errors)
    return tree


_FIELD_LIST = ", ".join(COLUMN_FIELDS) + " or metadata.<key>"


class _Parser:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self.nodes = 0
        self.values = 0
        self.stopped = False

    def error(self, path: str, reason: str) -> None:
        self.errors.append(FieldError(path, reason))

    def stop(self, path: str, reason: str) -> None:
        # Past a size limit, further errors would only repeat it; one clear reason is enough.
        self.error(path, reason)
        self.stopped = True

    def node(self, raw: object, path: str, depth: int) -> Filter | None:
        if self.stopped:
            return None
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self.stop(path, f"the filter has more than {MAX_NODES} nodes")
            return None
        if depth > MAX_DEPTH:
            self.stop(path, f"the filter is nested more than {MAX_DEPTH} levels deep")
            return None
        if not isinstance(raw, dict):
            self.error(path, "must be an object: a condition, or one of and, or, not")
            return None
        boolean = [key for key in ("and", "or", "not") if key in raw]
        if boolean:
            if len(raw) != 1:
                self.error(path, "a boolean node has exactly one key: and, or, or not")
                return None
            key = boolean[0]
            if key == "not":
                child = self.node(raw["not"], f"{path}.not", depth + 1)
                return None if child is None else Not(child)
            return self.group(key, raw[key], f"{path}.{key}", depth)
        return self.condition(raw, path)

    def group(self, key: str, raw: object, path: str, depth: int) -> Filter | None:
        if not isinstance(raw, list):
            self.error(path, f"{key} takes a list of conditions")
            return None
        if not raw:
            self.error(path, f"{key} needs at least one condition")
            return None
        children = [self.node(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(raw)]
        kept = tuple(child for child in children if child is not None)
        if len(kept) != len(children):
            return None
        return And(kept) if key == "and" else Or(kept)

    def condition(self, raw: dict[object, object], path: str) -> Condition | None:
        ok = True
        for key in raw:
            if key not in ("field", "op", "value"):
                self.error(f"{path}.{key}", "unknown key: a condition has field, op and value")
                ok = False
        for key in ("field", "op", "value"):
            if key not in raw:
                self.error(f"{path}.{key}", "is required")
                ok = False
        if not ok:
            return None
        field = self.field(raw["field"], f"{path}.field")
        op = raw["op"]
        if op not in _OPS or not isinstance(op, str):
            self.error(f"{path}.op", "unknown operator; use one of " + ", ".join(_OPS))
            return None
        if field is None:
            return None
        value = self.value(field, op, raw["value"], f"{path}.value")
        return None if value is None else Condition(field, op, value)

    def field(self, raw: object, path: str) -> FieldRef | None:
        if not isinstance(raw, str):
            self.error(path, "must be a string naming a field")
            return None
        if raw in COLUMN_FIELDS:
            kind: Literal["text", "datetime"] = "datetime" if raw in _DATE_COLUMNS else "text"
            return FieldRef(raw, kind, column=COLUMN_FIELDS[raw])
        if raw == "metadata" or raw.startswith("metadata."):
            keys = tuple(raw.split(".")[1:])
            if not keys or any(key == "" for key in keys):
                self.error(path, "name a metadata key, such as metadata.plan or metadata.a.b")
                return None
            if len(keys) > MAX_PATH:
                self.error(path, f"a metadata path has at most {MAX_PATH} keys")
                return None
            for key in keys:
                if len(key) > MAX_KEY:
                    self.error(path, f"metadata keys are at most {MAX_KEY} characters")
                    return None
                # SQLite JSON paths cannot escape a double quote or backslash in a key, and
                # PostgreSQL text cannot hold NUL: refuse them rather than look up something else.
                if any(ch in '"\\' or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
                    self.error(
                        path,
                        "metadata keys cannot contain double quotes, backslashes or control "
                        "characters",
                    )
                    return None
            return FieldRef(raw, "metadata", path=keys)
        self.error(path, f"unknown field; use one of {_FIELD_LIST}")
        return None

    def value(
        self, field: FieldRef, op: Op, raw: object, path: str
    ) -> Scalar | tuple[Scalar, ...] | Instant | None:
        if field.kind == "datetime" and op not in _ORDERING and op != "exists":
            self.error(
                path.removesuffix(".value") + ".op",
                f"{field.name} is a date-time; use gt, gte, lt, lte or exists",
            )
            return None
        if op == "exists":
            if not isinstance(raw, bool):
                self.error(path, "exists takes true or false")
                return None
            return raw
        if op in ("in", "not_in"):
            if not isinstance(raw, list) or not raw:
                self.error(path, f"{op} takes a non-empty list of values")
                return None
            items = [self.scalar(field, item, f"{path}[{i}]") for i, item in enumerate(raw)]
            kept = tuple(item for item in items if item is not None)
            return kept if len(kept) == len(items) else None
        if op in ("contains", "starts_with"):
            if not isinstance(raw, str) or raw == "":
                self.error(path, f"{op} takes a non-empty string")
                return None
            return self.scalar(field, raw, path)
        if op in _ORDERING:
            return self.bound(field, op, raw, path)
        return self.scalar(field, raw, path)

    def scalar(self, field: FieldRef, raw: object, path: str) -> Scalar | None:
        self.values += 1
        if self.values > MAX_VALUES:
            self.stop(path, f"the filter has more than {MAX_VALUES} values")
            return None
        if raw is None:
            self.error(path, "null matches nothing; use the exists operator")
            return None
        if isinstance(raw, str):
            if len(raw) > MAX_STRING:
                self.error(path, f"strings are at most {MAX_STRING} characters")
                return None
            if "\x00" in raw:
                self.error(path, "strings cannot contain the NUL character")
                return None
            return raw
        if field.kind == "text":
            self.error(path, f"{field.name} is text; the value must be a string")
            return None
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int | float):
            return self.number(raw, path)
        self.error(path, "must be a string, a number or true/false")
        return None

    def number(self, raw: int | float, path: str) -> int | float | None:
        if isinstance(raw, float) and not math.isfinite(raw):
            self.error(path, "must be a finite number")
            return None
        if abs(raw) > MAX_NUMBER:
            self.error(path, f"numbers must be between -{MAX_NUMBER} and {MAX_NUMBER}")
            return None
        return raw

    def bound(
        self, field: FieldRef, op: Op, raw: object, path: str
    ) -> int | float | Instant | None:
        self.values += 1
        if field.kind == "text":
            self.error(
                path.removesuffix(".value") + ".op",
                f"{field.name} is text; {op} compares numbers and dates",
            )
            return None
        if isinstance(raw, str):
            instant = parse_instant(raw)
            if instant is None:
                self.error(
                    path,
                    "must be an ISO 8601 date (2024-05-31) or date-time "
                    "(2024-05-31T18:30:00Z, 2024-05-31T20:30:00+02:00)",
                )
            return instant
        if field.kind == "metadata" and isinstance(raw, int | float) and not isinstance(raw, bool):
            return self.number(raw, path)
        expected = (
            "a number or an ISO 8601 date" if field.kind == "metadata" else "an ISO 8601 date"
        )
        self.error(path, f"{op} takes {expected}")
        return None
