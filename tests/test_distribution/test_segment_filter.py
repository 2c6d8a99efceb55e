"""Each operator of the segment filter language, checked on the real databases and in memory.

Every case states the members it expects; the helper also demands that SQL and memory agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlmodel import col, select

from distribution.customers.segment_filter import filter_clause, matches, parse_filter
from distribution.models import Customer
from distribution.storage.db import Database
from distribution.storage.ids import new_id
from tests.conftest import ProjectCredentials

# Labels (source_id) -> columns and metadata. Chosen so that each case below separates them.
POPULATION: dict[str, dict[str, Any]] = {
    "int5": {"meta": {"n": 5, "tier": "gold"}},
    "float5": {"meta": {"n": 5.0}},
    "float5.5": {"meta": {"n": 5.5}},
    "str5": {"meta": {"n": "5", "tier": "Gold"}},
    "true": {"meta": {"n": True}},
    "one": {"meta": {"n": 1}},
    "null": {"meta": {"n": None}},
    "huge": {"meta": {"n": 2**64 + 1}},
    "nested": {"meta": {"a": {"b": 7, "c": None}}},
    "flat-a": {"meta": {"a": "not an object"}},
    "list": {"meta": {"tags": ["vip"], "n": [5]}},
    "percent": {"meta": {"s": "100% off_now"}},
    "plain": {"meta": {"s": "100 percent offnow"}},
    "jan31": {"meta": {"d": "2024-01-31"}},
    "jan31-late": {"meta": {"d": "2024-01-31T23:30:00-01:00"}},  # 2024-02-01T00:30Z
    "feb1": {"meta": {"d": "2024-02-01T00:00:00Z"}},
    "bad-date": {"meta": {"d": "2024-02-30"}},
    "alice": {"email": "Alice@Example.com", "name": "Alice", "address_city": "Paris"},
    "bob": {"email": "bob@example.com", "name": "bob", "meta": {"café": "oui"}},
    "zoe": {"email": "zoé@example.com", "name": "ZOÉ"},
    "old": {"created_at": datetime(2020, 6, 1, 12, 0, 0)},
    "new": {"created_at": datetime(2024, 6, 1, 12, 0, 0)},
}


def insert(
    database: Database, project_id: str, people: dict[str, dict[str, Any]]
) -> list[Customer]:
    customers = [
        Customer(id=new_id("cust"), project_id=project_id, source_id=label, **fields)
        for label, fields in people.items()
    ]
    with database.session() as session:
        session.add_all(customers)
    return customers


def members(
    database: Database, project_id: str, customers: list[Customer], raw: object
) -> set[str]:
    """The labels the filter selects, after checking that SQL and memory give the same answer."""
    parsed = parse_filter(raw)
    clause = filter_clause(parsed, database.engine.dialect.name)
    with database.reader() as session:
        in_sql = set(
            session.exec(
                select(Customer.source_id).where(
                    Customer.project_id == project_id, col(Customer.erased_at).is_(None), clause
                )
            )
        )
    in_memory = {c.source_id for c in customers if matches(parsed, c)}
    assert in_sql == in_memory
    return {label for label in in_sql if label is not None}


def cond(field: str, op: str, value: object) -> dict[str, object]:
    return {"field": field, "op": op, "value": value}


EVERYONE = set(POPULATION)
N_STORED = {"int5", "float5", "float5.5", "str5", "true", "one", "huge", "list"}

CASES: list[tuple[str, object, set[str]]] = [
    # eq is type-strict: a number equals numbers only (1 == 1.0), never "5" or true.
    ("eq int", cond("metadata.n", "eq", 5), {"int5", "float5"}),
    ("eq float", cond("metadata.n", "eq", 5.0), {"int5", "float5"}),
    ("eq string", cond("metadata.n", "eq", "5"), {"str5"}),
    ("eq true", cond("metadata.n", "eq", True), {"true"}),
    ("eq 1 is not true", cond("metadata.n", "eq", 1), {"one"}),
    ("eq false", cond("metadata.n", "eq", False), set()),
    ("eq huge int is exact", cond("metadata.n", "eq", 2**53), set()),
    ("eq case sensitive", cond("metadata.tier", "eq", "gold"), {"int5"}),
    ("ne is not eq, missing included", cond("metadata.n", "ne", 5), EVERYONE - {"int5", "float5"}),
    ("eq nested", cond("metadata.a.b", "eq", 7), {"nested"}),
    ("path through a string", cond("metadata.a.b", "exists", True), {"nested"}),
    ("eq on an array never matches", cond("metadata.tags", "eq", "vip"), set()),
    ("in mixed types", cond("metadata.n", "in", ["5", 1, True]), {"str5", "one", "true"}),
    ("in 0 is not false", cond("metadata.n", "in", [0, False]), set()),
    ("not_in", cond("metadata.n", "not_in", [5, "5"]), EVERYONE - {"int5", "float5", "str5"}),
    # exists: present and not null; arrays and objects are present.
    ("exists", cond("metadata.n", "exists", True), N_STORED),
    ("exists false", cond("metadata.n", "exists", False), EVERYONE - N_STORED),
    ("exists null member", cond("metadata.a.c", "exists", True), set()),
    ("exists object", cond("metadata.a", "exists", True), {"nested", "flat-a"}),
    ("exists column", cond("address.city", "exists", True), {"alice"}),
    ("unicode key", cond("metadata.café", "eq", "oui"), {"bob"}),
    # numbers order numbers only; huge ints stay huge.
    ("gt number", cond("metadata.n", "gt", 4), {"int5", "float5", "float5.5", "huge"}),
    ("gte float", cond("metadata.n", "gte", 5.5), {"float5.5", "huge"}),
    ("lt", cond("metadata.n", "lt", 5), {"one"}),
    ("lte", cond("metadata.n", "lte", 5), {"one", "int5", "float5"}),
    ("gt 2**53 still below huge", cond("metadata.n", "gt", 2**53), {"huge"}),
    # contains / starts_with: literal text, % and _ are not wildcards.
    ("contains percent", cond("metadata.s", "contains", "% off_"), {"percent"}),
    ("contains underscore", cond("metadata.s", "contains", "f_n"), {"percent"}),
    ("starts_with percent", cond("metadata.s", "starts_with", "100%"), {"percent"}),
    ("contains case sensitive", cond("name", "contains", "ALI"), set()),
    ("contains on a number", cond("metadata.n", "contains", "5"), {"str5"}),
    # email compares without ASCII case in every text operator; other fields are exact.
    ("email eq folds case", cond("email", "eq", "alice@example.COM"), {"alice"}),
    ("email in folds case", cond("email", "in", ["BOB@EXAMPLE.COM"]), {"bob"}),
    ("email starts_with", cond("email", "starts_with", "ALICE@"), {"alice"}),
    ("email contains", cond("email", "contains", "EXAMPLE"), {"alice", "bob", "zoe"}),
    ("email folds ASCII only", cond("email", "eq", "ZOÉ@example.com"), set()),
    ("email folds ASCII letters", cond("email", "eq", "ZOé@EXAMPLE.com"), {"zoe"}),
    ("name exact", cond("name", "eq", "alice"), set()),
    # dates: a date alone is the whole UTC day; offsets are honoured; invalid dates never match.
    ("lte date includes the day", cond("metadata.d", "lte", "2024-01-31"), {"jan31"}),
    ("gt date starts next day", cond("metadata.d", "gt", "2024-01-31"), {"jan31-late", "feb1"}),
    ("gte date", cond("metadata.d", "gte", "2024-02-01"), {"jan31-late", "feb1"}),
    ("lt date", cond("metadata.d", "lt", "2024-02-01"), {"jan31"}),
    (
        "gt datetime with offset",
        cond("metadata.d", "gt", "2024-02-01T01:00:00+01:00"),
        {"jan31-late"},
    ),
    ("lte datetime exact", cond("metadata.d", "lte", "2024-02-01T00:00:00Z"), {"jan31", "feb1"}),
    ("date bound ignores numbers", cond("metadata.n", "gt", "2000-01-01"), set()),
    ("created_at gt", cond("created_at", "gt", "2022-01-01"), {"new"} | (EVERYONE - {"old"})),
    ("created_at lt", cond("created_at", "lt", "2022-01-01"), {"old"}),
    ("created_at lte same day", cond("created_at", "lte", "2020-06-01"), {"old"}),
    ("created_at lt instant", cond("created_at", "lt", "2020-06-01T13:00:00+01:00"), set()),
    ("created_at far future", cond("created_at", "lt", "9999-12-31T23:00:00-05:00"), EVERYONE),
    ("created_at far past", cond("created_at", "gte", "0001-01-01T00:00:00+01:00"), EVERYONE),
    ("created_at beyond year 9999", cond("created_at", "gt", "9999-12-31"), set()),
    # boolean nodes.
    (
        "and",
        {"and": [cond("metadata.n", "gte", 5), cond("metadata.tier", "exists", True)]},
        {"int5"},
    ),
    ("or", {"or": [cond("name", "eq", "bob"), cond("metadata.n", "eq", True)]}, {"bob", "true"}),
    (
        "not missing",
        {"not": cond("metadata.n", "gt", 4)},
        EVERYONE - {"int5", "float5", "float5.5", "huge"},
    ),
    ("double not", {"not": {"not": cond("metadata.n", "eq", "5")}}, {"str5"}),
]


@pytest.mark.parametrize(("raw", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_operator(
    database: Database, project: ProjectCredentials, raw: object, expected: set[str]
) -> None:
    customers = insert(database, project.project.id, POPULATION)
    assert members(database, project.project.id, customers, raw) == expected


def test_erased_customers_never_match_in_memory(
    database: Database, project: ProjectCredentials
) -> None:
    (customer,) = insert(database, project.project.id, {"gone": {"meta": {"n": 5}}})
    parsed = parse_filter(cond("metadata.n", "eq", 5))
    assert matches(parsed, customer)
    customer.erased_at = datetime(2024, 1, 1)
    assert not matches(parsed, customer)
    assert not matches(parse_filter({"not": cond("metadata.n", "eq", 5)}), customer)


def test_other_projects_customers_stay_out(database: Database, project: ProjectCredentials) -> None:
    from tests.conftest import make_project

    other = make_project(database)
    insert(database, other.project.id, {"theirs": {"meta": {"n": 5}}})
    mine = insert(database, project.project.id, {"mine": {"meta": {"n": 5}}})
    assert members(database, project.project.id, mine, cond("metadata.n", "eq", 5)) == {"mine"}


def test_float_bounds_compare_exactly(database: Database, project: ProjectCredentials) -> None:
    people: dict[str, dict[str, Any]] = {
        "tenth": {"meta": {"x": 0.1}},
        "sum": {"meta": {"x": 0.1 + 0.2}},
        "third": {"meta": {"x": 0.3}},
        "max-exact": {"meta": {"x": 2**53}},
        "beyond": {"meta": {"x": 2**53 + 1}},
    }
    customers = insert(database, project.project.id, people)
    pid = project.project.id
    assert members(database, pid, customers, cond("metadata.x", "eq", 0.3)) == {"third"}
    assert members(database, pid, customers, cond("metadata.x", "gt", 0.3)) == {
        "sum",
        "max-exact",
        "beyond",
    }
    assert members(database, pid, customers, cond("metadata.x", "eq", 0.1 + 0.2)) == {"sum"}
    assert members(database, pid, customers, cond("metadata.x", "eq", float(2**53))) == {
        "max-exact"
    }
    assert members(database, pid, customers, cond("metadata.x", "gt", 2**53)) == {"beyond"}


HOSTILE = "x'); DROP TABLE customer;--"


def test_hostile_keys_and_values_are_only_data(
    database: Database, project: ProjectCredentials
) -> None:
    customers = insert(
        database,
        project.project.id,
        {"hostile": {"meta": {HOSTILE: HOSTILE}, "name": HOSTILE}, "calm": {"meta": {"x": 1}}},
    )
    pid = project.project.id
    for raw, expected in [
        (cond(f"metadata.{HOSTILE}", "eq", HOSTILE), {"hostile"}),
        (cond(f"metadata.{HOSTILE}", "starts_with", "x'); DROP"), {"hostile"}),
        (cond("name", "in", [HOSTILE, "'; DELETE FROM customer; --"]), {"hostile"}),
        (cond(f"metadata.{HOSTILE}", "gt", "2024-01-01"), set()),
        (cond("metadata.x", "ne", "' OR 1=1 --"), {"hostile", "calm"}),
    ]:
        assert members(database, pid, customers, raw) == expected
    assert "customer" in inspect(database.engine).get_table_names()
    with database.reader() as session:
        count = session.execute(
            text("SELECT count(*) FROM customer WHERE project_id = :p"), {"p": pid}
        ).scalar_one()
    assert count == 2


def test_unsupported_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="mysql"):
        filter_clause(parse_filter(cond("name", "eq", "x")), "mysql")
