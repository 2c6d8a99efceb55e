"""The pre-aggregated counts equal a scan of the deliveries, whatever writes the rows.

The counts are kept by triggers (``models.delivery_counts``); these tests write ``delivery`` rows
with plain SQL in random orders and compare what the statistics read with a count of the rows
done here. PostgreSQL's deltas and their fold:
``tests/test_distributed/test_delivery_count_fold.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, text

from distribution.models import utcnow
from distribution.storage.db import Database
from distribution.storage.delivery_counts import fold
from distribution.storage.ids import new_id
from distribution.storage.migrate import alembic_config, upgrade
from tests.conftest import BACKENDS, make_project, migrated_database
from tests.test_distribution.delivery_count_rows import (
    STATUSES,
    assert_counts_match,
    delivery_row,
    insert_rows,
    read_counts,
)

_DAY0 = datetime(2026, 11, 1, 23, 59, 59)


# One step: a status, and whether sent_at and converted_at are set afterwards.
_STEPS = st.tuples(st.sampled_from(STATUSES), st.booleans(), st.booleans())


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    histories=st.lists(
        st.tuples(st.integers(0, 2), st.booleans(), st.lists(_STEPS, max_size=4)),
        min_size=1,
        max_size=8,
    ),
    deleted=st.sets(st.integers(0, 7), max_size=2),
    fold_between=st.booleans(),
)
def test_counts_equal_a_scan_after_any_sequence_of_writes(
    database: Database,
    histories: list[tuple[int, bool, list[tuple[str, bool, bool]]]],
    deleted: set[int],
    fold_between: bool,
) -> None:
    project_id = make_project(database).project.id
    campaign_id = new_id("camp")
    rows = [
        delivery_row(
            project_id, campaign_id, _DAY0 + timedelta(days=day, seconds=n), test=test_send
        )
        for n, (day, test_send, _steps) in enumerate(histories)
    ]
    with database.session() as session:
        insert_rows(session.connection(), rows)
    assert_counts_match(database, project_id, campaign_id)
    moment = utcnow()
    for step in range(4):
        with database.session() as session:
            for row, (_day, _test, steps) in zip(rows, histories, strict=True):
                if step < len(steps):
                    status, sent, converted = steps[step]
                    session.connection().execute(
                        text(
                            "UPDATE delivery SET status = :s, sent_at = :sent, "
                            "converted_at = :converted WHERE id = :id"
                        ),
                        {
                            "s": status,
                            "sent": moment if sent else None,
                            "converted": moment if converted else None,
                            "id": row["id"],
                        },
                    )
            # A write that changes nothing counted (a lease) must change no figure.
            session.connection().execute(
                text("UPDATE delivery SET lease_until = :t WHERE campaign_id = :c"),
                {"t": moment, "c": campaign_id},
            )
        if fold_between:
            fold(database.engine)
        assert_counts_match(database, project_id, campaign_id)
    with database.session() as session:
        for index in deleted:
            if index < len(rows):
                session.connection().execute(
                    text("DELETE FROM delivery WHERE id = :id"), {"id": rows[index]["id"]}
                )
    assert_counts_match(database, project_id, campaign_id)
    fold(database.engine)
    assert_counts_match(database, project_id, campaign_id)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_migration_counts_the_deliveries_already_there(backend: str, tmp_path: Path) -> None:
    with migrated_database(backend, tmp_path) as url:
        database = Database(url)
        try:
            with database.engine.begin() as connection:
                # Back to the schema before the counts, with rows written then.
                command.downgrade(_config(connection), "0022")
            project_id = make_project(database).project.id
            campaign_id = new_id("camp")
            now = utcnow()
            rows = [
                delivery_row(
                    project_id, campaign_id, now - timedelta(days=n % 3), status=STATUSES[n % 8]
                )
                for n in range(24)
            ] + [delivery_row(project_id, campaign_id, now, test=True)]
            with database.session() as session:
                insert_rows(session.connection(), rows)
            upgrade(database.engine)
            assert read_counts(database, project_id, campaign_id)["total"] == dict.fromkeys(
                STATUSES, 3
            )
            assert_counts_match(database, project_id, campaign_id)
        finally:
            database.dispose()


def _config(connection: Connection) -> Config:
    config = alembic_config()
    config.attributes["connection"] = connection
    return config
