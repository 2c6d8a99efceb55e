"""Property: for any customers and any filter, SQL and in-memory evaluation select the same set.

Runs on every backend of the ``database`` fixture (SQLite, and PostgreSQL when configured).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from distribution.customers.segment_filter import filter_clause, matches, parse_filter
from distribution.models import Customer
from distribution.storage.db import Database
from distribution.storage.ids import new_id
from tests.conftest import make_project
from tests.test_distribution.date_strategies import edge_dates

# Few keys and a small alphabet, so that generated filters often hit generated customers.
KEYS = ["a", "b", "café", "x y"]
ALPHABET = st.sampled_from(list("aAbé5%_ -:T.Z+0129"))
short_text = st.text(ALPHABET, max_size=6)

DATE_LIKE = st.one_of(
    st.sampled_from(
        [
            "2024-01-31",
            "2024-02-29",
            "2023-02-29",
            "2024-02-30",
            "2024-13-01",
            "0000-01-01",
            "0001-01-01",
            "9999-12-31",
            "2024-01-31T23:30:00-01:00",
            "2024-02-01T00:30:00Z",
            "2024-02-01T00:30:00.5+00:00",
            "2024-02-01 00:30:00.123456789",
            "2024-02-01T24:00:00",
            "2024-02-01T00:30:00+24:00",
            "2024-02-01T00:30",
            "2024-02-01T00:30:00.",
            "2024-02-01T00:30:00.1234567890",
            "2024-02-01T00:30:00z",
            "2024-02-01\n",
            "２０２４-01-01",
        ]
    ),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
        lambda d: d.isoformat()
    ),
    st.dates().map(lambda d: d.isoformat()),
)

NUMBERS = st.one_of(
    st.integers(-10, 10),
    st.sampled_from([0.5, 1.0, -0.0, 2**53, 2**53 + 1, 2**64 + 1, -(2**70), 1e300, 0.1 + 0.2]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**63), 2**63),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, short_text, DATE_LIKE)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=6,
)

customers_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.one_of(st.none(), short_text),
            "email": st.one_of(st.none(), st.sampled_from(["Ann@Ex.com", "ann@ex.com", "bé@x.io"])),
            "address_city": st.one_of(st.none(), short_text),
            "created_at": st.datetimes(
                min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1)
            ),
            "meta": st.dictionaries(st.sampled_from(KEYS), JSON_VALUES, max_size=4),
        }
    ),
    min_size=1,
    max_size=8,
)

METADATA_FIELDS = st.sampled_from(
    ["metadata." + k for k in KEYS] + ["metadata.a.b", "metadata.a.café", "metadata.b.a.a"]
)
TEXT_FIELDS = st.sampled_from(["name", "email", "address.city"])
FILTER_NUMBERS = st.one_of(
    st.integers(-10, 10),
    st.integers(-(2**53), 2**53),
    st.floats(min_value=-(2**53), max_value=2**53, allow_nan=False),
    st.sampled_from([0.5, 1.0, -0.0, 0.30000000000000004, 2**53]),
)
FILTER_SCALARS = st.one_of(st.booleans(), FILTER_NUMBERS, short_text, DATE_LIKE)
VALID_DATES = st.one_of(
    st.sampled_from(["2024-01-31", "2024-02-01T00:30:00Z", "2024-01-31T23:30:00-01:00"]),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
        lambda d: d.isoformat()
    ),
    st.dates().map(lambda d: d.isoformat()),
)


def condition(field: str, op: str, value: object) -> dict[str, object]:
    return {"field": field, "op": op, "value": value}


def text_conditions(field: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, object]]:
    words = st.one_of(short_text, st.sampled_from(["Ann@Ex.com", "ann@", "AN", "bé@x.io"]))
    nonempty = words.filter(bool)
    return st.one_of(
        st.builds(condition, field, st.sampled_from(["eq", "ne"]), words),
        st.builds(
            condition,
            field,
            st.sampled_from(["in", "not_in"]),
            st.lists(words, min_size=1, max_size=3),
        ),
        st.builds(condition, field, st.sampled_from(["contains", "starts_with"]), nonempty),
        st.builds(condition, field, st.just("exists"), st.booleans()),
    )


metadata_conditions = st.one_of(
    st.builds(condition, METADATA_FIELDS, st.sampled_from(["eq", "ne"]), FILTER_SCALARS),
    st.builds(
        condition,
        METADATA_FIELDS,
        st.sampled_from(["in", "not_in"]),
        st.lists(FILTER_SCALARS, min_size=1, max_size=4),
    ),
    st.builds(condition, METADATA_FIELDS, st.just("exists"), st.booleans()),
    st.builds(
        condition,
        METADATA_FIELDS,
        st.sampled_from(["contains", "starts_with"]),
        short_text.filter(bool),
    ),
    st.builds(
        condition,
        METADATA_FIELDS,
        st.sampled_from(["gt", "gte", "lt", "lte"]),
        st.one_of(FILTER_NUMBERS, VALID_DATES),
    ),
)
date_conditions = st.builds(
    condition,
    st.sampled_from(["created_at", "updated_at"]),
    st.sampled_from(["gt", "gte", "lt", "lte"]),
    VALID_DATES,
)
leaves = st.one_of(metadata_conditions, text_conditions(TEXT_FIELDS), date_conditions)
filters = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(lambda xs: {"and": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"or": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=6,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(people=customers_strategy, raw_filter=filters)
def test_sql_and_memory_agree(
    database: Database, people: list[dict[str, Any]], raw_filter: object
) -> None:
    parsed = parse_filter(raw_filter)
    project_id = make_project(database).project.id
    customers = [Customer(id=new_id("cust"), project_id=project_id, **p) for p in people]
    with database.session() as session:
        session.add_all(customers)
    with database.reader() as session:
        in_sql = set(
            session.exec(
                select(Customer.id).where(
                    Customer.project_id == project_id,
                    col(Customer.erased_at).is_(None),
                    filter_clause(parsed, database.engine.dialect.name),
                )
            )
        )
    in_memory = {c.id for c in customers if matches(parsed, c)}
    assert in_sql == in_memory


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    stored=st.lists(edge_dates, min_size=1, max_size=8),
    op=st.sampled_from(["gt", "gte", "lt", "lte"]),
    bound=VALID_DATES,
)
def test_sql_and_memory_agree_on_dates(
    database: Database, stored: list[str], op: str, bound: str
) -> None:
    parsed = parse_filter({"field": "metadata.d", "op": op, "value": bound})
    project_id = make_project(database).project.id
    customers = [Customer(id=new_id("cust"), project_id=project_id, meta={"d": d}) for d in stored]
    with database.session() as session:
        session.add_all(customers)
    with database.reader() as session:
        in_sql = set(
            session.exec(
                select(Customer.id).where(
                    Customer.project_id == project_id,
                    filter_clause(parsed, database.engine.dialect.name),
                )
            )
        )
    assert in_sql == {c.id for c in customers if matches(parsed, c)}
