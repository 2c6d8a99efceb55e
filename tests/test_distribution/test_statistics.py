"""Planner statistics refreshed before work that reads tables in proportion to their size."""

from __future__ import annotations

from distribution.storage.db import Database, refresh_statistics
from tests.service_process import wait_until


def test_a_table_changed_by_more_than_a_tenth_is_analyzed_once(database: Database) -> None:
    if database.is_sqlite:
        # SQLite plans without statistics: nothing to refresh, and nothing is run.
        assert refresh_statistics(database.engine, ["customer"]) == []
        return
    with database.session() as session:
        connection = session.connection()
        connection.exec_driver_sql("CREATE TABLE stats_probe (id integer PRIMARY KEY)")
        connection.exec_driver_sql("INSERT INTO stats_probe SELECT generate_series(1, 500)")
        # Statistics reach other backends when this one flushes them, at most once a second.
        connection.exec_driver_sql("SELECT pg_stat_force_next_flush()")
    try:
        analyzed: list[list[str]] = []

        def probe_analyzed() -> bool:
            analyzed.append(refresh_statistics(database.engine, ["stats_probe"]))
            return analyzed[-1] == ["stats_probe"]

        wait_until(probe_analyzed, lambda: f"never analyzed: {analyzed[-3:]}", limit=20)
        # Analyzed now, unchanged since: nothing more to do.
        assert refresh_statistics(database.engine, ["stats_probe", "no_such_table"]) == []
    finally:
        with database.session() as session:
            session.connection().exec_driver_sql("DROP TABLE stats_probe")
