"""The audience of a bulk job is read page by page without rereading the project each time."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col

from distribution.bulk.audience import _live
from distribution.customers.segment_filter import filter_clause, parse_filter
from distribution.models import Customer
from distribution.storage.db import Database
from distribution.storage.migrate import upgrade


def test_a_segment_page_on_sqlite_searches_an_index_in_id_order(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'plan.sqlite3'}")
    upgrade(database.engine)
    segment = parse_filter({"field": "metadata.wave", "op": "eq", "value": "one"})
    page = (
        _live("prj_1")
        .where(filter_clause(segment, "sqlite"), col(Customer.id) > "cus_1")
        .order_by(col(Customer.id))
        .limit(2000)
    )
    sql = str(page.compile(database.engine, compile_kwargs={"literal_binds": True}))
    with database.engine.connect() as connection:
        plan = [row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    database.dispose()
    # Without an index on (project_id, id), every page scanned and sorted the whole project.
    assert any("(project_id=? AND id>?)" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan
