"""The filter parser: what it accepts, what it refuses, and where it says the problem is."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given

from distribution.customers.segment_filter import And, Condition, Instant, Not, Or, parse_filter
from distribution.customers.segment_filter.parse import parse_instant
from distribution.errors import InvalidInputError
from tests.test_distribution.date_strategies import edge_dates


def errors_of(raw: object) -> dict[str, str]:
    with pytest.raises(InvalidInputError) as caught:
        parse_filter(raw)
    return {e.field: e.reason for e in caught.value.errors}


def cond(field: object, op: str, value: object) -> dict[str, object]:
    return {"field": field, "op": op, "value": value}


def test_a_valid_tree_becomes_an_immutable_tree() -> None:
    tree = parse_filter(
        {
            "and": [
                cond("metadata.plan", "in", ["gold", 3, True]),
                {"not": cond("name", "exists", True)},
                {"or": [cond("created_at", "gte", "2024-01-01")]},
            ]
        }
    )
    assert isinstance(tree, And)
    first, second, third = tree.children
    assert isinstance(first, Condition)
    assert first.field.path == ("plan",)
    assert first.value == ("gold", 3, True)
    assert isinstance(second, Not)
    assert isinstance(third, Or)
    bound = third.children[0]
    assert isinstance(bound, Condition)
    assert bound.value == Instant(1704067200000000, date_only=True)
    with pytest.raises(AttributeError):
        first.op = "ne"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "path", "words"),
    [
        ("name = 'x'", "filter", "must be an object"),
        ({}, "filter.field", "is required"),
        ({"and": []}, "filter.and", "at least one"),
        ({"or": {"field": "name"}}, "filter.or", "list"),
        ({"and": [cond("name", "eq", "x")], "or": []}, "filter", "exactly one key"),
        (
            {"and": [cond("name", "eq", "x"), cond("nickname", "eq", "x")]},
            "filter.and[1].field",
            "unknown field",
        ),
        ({"not": cond("name", "like", "x")}, "filter.not.op", "unknown operator"),
        ({"or": [cond("name", "eq", 5)]}, "filter.or[0].value", "name is text"),
        (cond("name", "gt", "2024-01-01"), "filter.op", "name is text"),
        (cond("created_at", "eq", "2024-01-01"), "filter.op", "date-time"),
        (cond("created_at", "gt", 5), "filter.value", "ISO 8601"),
        (cond("metadata.n", "gt", "soon"), "filter.value", "ISO 8601"),
        (cond("metadata.n", "gt", "2024-02-30"), "filter.value", "ISO 8601"),
        (cond("metadata.n", "gt", True), "filter.value", "a number or an ISO 8601 date"),
        (cond("metadata.n", "eq", None), "filter.value", "exists"),
        (cond("metadata.n", "eq", {"a": 1}), "filter.value", "string, a number"),
        (cond("metadata.n", "eq", [1]), "filter.value", "string, a number"),
        (cond("metadata.n", "eq", 2**53 + 1), "filter.value", "between"),
        (cond("metadata.n", "eq", float("inf")), "filter.value", "finite"),
        (cond("metadata.n", "in", []), "filter.value", "non-empty list"),
        (cond("metadata.n", "in", [1, None]), "filter.value[1]", "exists"),
        (cond("metadata.n", "contains", ""), "filter.value", "non-empty string"),
        (cond("metadata.n", "contains", 5), "filter.value", "non-empty string"),
        (cond("metadata.n", "exists", "yes"), "filter.value", "true or false"),
        (cond("metadata.n", "eq", "a\x00b"), "filter.value", "NUL"),
        (cond("metadata", "eq", 1), "filter.field", "metadata key"),
        (cond("metadata.a..b", "eq", 1), "filter.field", "metadata key"),
        (cond('metadata.a"b', "eq", 1), "filter.field", "double quotes"),
        (cond("metadata." + "k" * 101, "eq", 1), "filter.field", "at most 100"),
        (cond(5, "eq", 1), "filter.field", "must be a string"),
        ({**cond("name", "eq", "x"), "extra": 1}, "filter.extra", "unknown key"),
    ],
)
def test_refusals_point_at_the_node(raw: object, path: str, words: str) -> None:
    errors = errors_of(raw)
    assert path in errors, errors
    assert words in errors[path]


def test_every_problem_is_reported_at_once() -> None:
    errors = errors_of({"and": [cond("nope", "eq", 1), cond("name", "eq", 1), {"or": []}]})
    assert set(errors) == {"filter.and[0].field", "filter.and[1].value", "filter.and[2].or"}


def test_depth_limit() -> None:
    raw: object = cond("name", "eq", "x")
    for _ in range(19):
        raw = {"not": raw}
    parse_filter(raw)  # 20 levels
    errors = errors_of({"not": raw})
    assert list(errors.values()) == ["the filter is nested more than 20 levels deep"]
    assert next(iter(errors)).startswith("filter.not.not.")


def test_very_deep_input_is_refused_without_recursing_through_it() -> None:
    raw: object = cond("name", "eq", "x")
    for _ in range(100_000):
        raw = {"not": raw}
    assert "nested more than 20" in next(iter(errors_of(raw).values()))


def test_node_limit() -> None:
    parse_filter({"or": [cond("name", "eq", str(i)) for i in range(199)]})  # 200 nodes
    errors = errors_of({"or": [cond("name", "eq", str(i)) for i in range(200)]})
    assert errors == {"filter.or[199]": "the filter has more than 200 nodes"}


def test_value_limit() -> None:
    parse_filter(cond("name", "in", [str(i) for i in range(1000)]))
    errors = errors_of(cond("name", "in", [str(i) for i in range(1001)]))
    assert errors == {"filter.value[1000]": "the filter has more than 1000 values"}


def test_odd_metadata_keys_are_kept_verbatim() -> None:
    tree = parse_filter(cond("metadata.x'); DROP TABLE customer;--.é k", "eq", 1))
    assert isinstance(tree, Condition)
    assert tree.field.path == ("x'); DROP TABLE customer;--", "é k")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-31", datetime(2024, 1, 31, tzinfo=UTC)),
        ("2024-01-31T23:30:00-01:00", datetime(2024, 2, 1, 0, 30, tzinfo=UTC)),
        ("2024-01-31 23:30:00.5Z", datetime(2024, 1, 31, 23, 30, 0, 500000, tzinfo=UTC)),
        ("2024-01-31T23:30:00.1234569", datetime(2024, 1, 31, 23, 30, 0, 123456, tzinfo=UTC)),
        ("0001-01-01T00:30:00-01:00", datetime(1, 1, 1, 1, 30, tzinfo=UTC)),
        ("2024-02-29", datetime(2024, 2, 29, tzinfo=UTC)),
        ("2023-02-29", None),
        ("2100-02-29", None),
        ("2000-02-29", datetime(2000, 2, 29, tzinfo=UTC)),
        ("2024-04-31", None),
        ("2024-01-31T24:00:00", None),
        ("2024-01-31T23:30", None),
        ("2024-01-31T23:30:00+24:00", None),
        ("0001-01-01T00:00:00+00:60", None),
        ("2024-01-31\n", None),
        ("20240131", None),
        ("0000-01-01", None),
    ],
)
def test_instants(text: str, expected: datetime | None) -> None:
    instant = parse_instant(text)
    if expected is None:
        assert instant is None
        return
    assert instant is not None
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert instant.micros == (expected - epoch) // timedelta(microseconds=1)
    assert instant.date_only == (len(text) == 10)


@given(edge_dates)
def test_instants_agree_with_the_standard_library(text: str) -> None:
    instant = parse_instant(text)
    try:
        # Python accepts more spellings (lower-case t and z, any fraction length); the language
        # keeps to the narrower grammar, and where both accept a string they agree on the instant.
        reference: datetime | None = datetime.fromisoformat(text)
    except ValueError:
        reference = None
    if instant is None:
        # Python also takes an offset's minutes past 59 ("+00:60" as an hour ahead).
        bad_offset_minutes = re.search(r"[+-]\d\d:[6-9]\d$", text) is not None
        narrower = "t" in text or "z" in text or "." in text or "T24" in text or bad_offset_minutes
        assert reference is None or narrower or len(text) > 32, text
        return
    assert reference is not None, text
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert instant.micros == (reference - epoch) // timedelta(microseconds=1)
