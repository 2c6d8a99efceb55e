"""Bulk upserts of customers, written as plain rows with the driver's executemany."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import select

from distribution.customers.customer_rows import LOOKUP_SLICE
from distribution.customers.store import erase_customer, upsert_customers
from distribution.models import Customer
from distribution.storage.db import Database
from tests.conftest import ProjectCredentials


def _upsert(database: Database, project_id: str, rows: list[dict[str, Any]]) -> list[Any]:
    with database.session() as session:
        return upsert_customers(session, project_id, rows, default_region="US")


def _stored(database: Database, project_id: str) -> dict[str, Customer]:
    with database.reader() as session:
        found = session.exec(select(Customer).where(Customer.project_id == project_id))
        return {c.source_id or c.id: c for c in found}


def test_rows_written_in_bulk_read_back_as_the_orm_would_store_them(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    [item] = _upsert(
        database,
        project_id,
        [
            {
                "source_id": "u1",
                "name": "Ada",
                "email": "ada@Example.com",
                "phone": "+44 20 7946 0958",
                "address": {"city": "London", "country": "United Kingdom"},
                "metadata": {"tier": "gold", "orders": 3, "vip": True, "tags": ["a", "b"]},
            }
        ],
    )
    stored = _stored(database, project_id)["u1"]
    assert stored.id == item.customer_id
    assert (stored.email, stored.phone, stored.address_country) == (
        "ada@example.com",
        "+442079460958",
        "GB",
    )
    assert stored.meta == {"tier": "gold", "orders": 3, "vip": True, "tags": ["a", "b"]}
    assert isinstance(stored.created_at, datetime)
    assert stored.updated_at == stored.created_at
    assert stored.erased_at is None


def test_updates_merge_fields_and_metadata_and_keep_what_is_absent(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    _upsert(
        database,
        project_id,
        [
            {"source_id": "m1", "name": "Ann", "description": "x", "metadata": {"a": 1, "b": 2}},
            {"source_id": "m2", "name": "Bob", "metadata": {"a": 1}},
        ],
    )
    created_at = _stored(database, project_id)["m1"].created_at
    items = _upsert(
        database,
        project_id,
        [
            {"source_id": "m1", "description": None, "metadata": {"a": None, "c": 3}},
            {"source_id": "m2", "metadata": None},
            {"source_id": "m1", "name": "Ann B"},  # the same customer again: later wins
            {"name": "No source id"},
            {"name": "No source id"},
        ],
    )
    assert [(i.created, i.errors) for i in items] == [
        (False, ()),
        (False, ()),
        (False, ()),
        (True, ()),
        (True, ()),
    ]
    assert items[0].customer_id == items[2].customer_id
    stored = _stored(database, project_id)
    m1, m2 = stored["m1"], stored["m2"]
    assert (m1.name, m1.description, m1.meta) == ("Ann B", None, {"b": 2, "c": 3})
    assert m1.created_at == created_at
    assert m1.updated_at > created_at
    assert (m2.name, m2.meta) == ("Bob", {})
    assert len(stored) == 4


def test_an_erased_customer_is_not_updated_its_source_id_makes_a_new_one(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    [first] = _upsert(database, project_id, [{"source_id": "e1", "name": "Eve"}])
    with database.session() as session:
        assert first.customer_id is not None
        erase_customer(session, project_id, first.customer_id)
    [again] = _upsert(database, project_id, [{"source_id": "e1", "name": "Eve again"}])
    assert again.created
    assert again.customer_id != first.customer_id


def test_more_existing_customers_than_one_lookup_takes(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    count = LOOKUP_SLICE + 10
    _upsert(database, project_id, [{"source_id": f"s{n}"} for n in range(count)])
    items = _upsert(
        database, project_id, [{"source_id": f"s{n}", "name": "N"} for n in range(count)]
    )
    assert not any(item.created for item in items)
    assert {c.name for c in _stored(database, project_id).values()} == {"N"}
