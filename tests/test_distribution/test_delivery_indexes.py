"""Delivery indexes on often-empty columns hold only rows with a value, and lookups use them."""

from __future__ import annotations

from pathlib import Path

import pytest

from distribution.storage.db import Database
from distribution.storage.migrate import upgrade

PARTIAL = {
    "ix_delivery_event_id": "event_id",
    "ix_delivery_distribution_id": "distribution_id",
    "ix_delivery_bulk_job_id": "bulk_job_id",
    "ix_delivery_provider_message": "provider_message_id",
}


def test_the_indexes_of_often_empty_columns_skip_nulls(database: Database) -> None:
    found: dict[str, str]
    with database.engine.connect() as connection:
        if database.is_sqlite:
            found = dict(
                connection.exec_driver_sql(
                    "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'delivery'"
                ).all()
            )
        else:
            found = dict(
                connection.exec_driver_sql(
                    "SELECT indexname, indexdef FROM pg_indexes "
                    "WHERE tablename = 'delivery' AND schemaname = current_schema()"
                ).all()
            )
    for name, column in PARTIAL.items():
        assert f"{column} IS NOT NULL" in found[name].replace("(", "").replace(")", ""), found[name]


@pytest.mark.parametrize(("name", "column"), PARTIAL.items())
def test_a_lookup_by_value_on_sqlite_uses_the_partial_index(
    tmp_path: Path, name: str, column: str
) -> None:
    database = Database(f"sqlite:///{tmp_path / 'plan.sqlite3'}")
    upgrade(database.engine)
    lookup = f"SELECT id FROM delivery WHERE {column} = ?"
    if column == "provider_message_id":
        lookup += " AND provider = ?"
    with database.engine.connect() as connection:
        plan = [
            row[3]
            for row in connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {lookup}", ("x", "y")[: lookup.count("?")]
            )
        ]
    database.dispose()
    assert any(name in step for step in plan), plan
