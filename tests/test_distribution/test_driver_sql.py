"""Rows written through the driver read back as the ORM wrote them, conflicts skipped or not."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from distribution.models import Delivery
from distribution.storage.db import Database
from distribution.storage.driver_sql import Among, insert_many
from distribution.storage.ids import new_id
from tests.conftest import ProjectCredentials

_TABLE = Delivery.__table__  # type: ignore[attr-defined]
_NAMES = (
    "id",
    "project_id",
    "idempotency_key",
    "channel",
    "provider",
    "marketing",
    "status",
    "priority",
    "content",
    "attempts",
    "next_attempt_at",
    "created_at",
    "updated_at",
)
_AT = datetime(2026, 11, 26, 8, 30, 15, 123456)


def _row(project_id: str, key: str, content: dict[str, str]) -> tuple[object, ...]:
    return (
        new_id("msg"),
        project_id,
        key,
        "email",
        "capture",
        True,
        "queued",
        10,
        content,
        0,
        _AT,
        _AT,
        _AT,
    )


def _stored(database: Database, project_id: str) -> dict[str, Delivery]:
    with database.reader() as session:
        rows = session.exec(select(Delivery).where(col(Delivery.project_id) == project_id))
        return {d.idempotency_key: d for d in rows}


def test_rows_read_back_as_written_and_conflicts_are_skipped_when_asked(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    content = {"subject": "Hi \\ \t tab, «quotes» and a\nnewline", "html": "<p>é</p>"}
    with database.session() as session:
        first = [_row(project_id, f"k{i}", content) for i in range(3)]
        assert insert_many(session.connection(), _TABLE, _NAMES, first) == 3
    # A batch prepared again: its known keys are skipped, the new one is written.
    with database.session() as session:
        again = [_row(project_id, key, content) for key in ("k1", "k3", "k2")]
        inserted = insert_many(
            session.connection(),
            _TABLE,
            _NAMES,
            again,
            skip_conflicts_on=("project_id", "idempotency_key"),
        )
    assert inserted == 1
    stored = _stored(database, project_id)
    assert sorted(stored) == ["k0", "k1", "k2", "k3"]
    assert stored["k1"].id == first[1][0]  # the first write stays
    for delivery in stored.values():
        assert delivery.content == content
        assert delivery.marketing is True
        assert (delivery.priority, delivery.attempts, delivery.status) == (10, 0, "queued")
        assert delivery.created_at == _AT


def test_a_conflict_not_asked_to_be_skipped_fails_and_writes_nothing(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    with database.session() as session:
        insert_many(session.connection(), _TABLE, _NAMES, [_row(project_id, "k0", {})])
    rows = [_row(project_id, "k1", {}), _row(project_id, "k0", {})]
    with pytest.raises(IntegrityError), database.session() as session:
        insert_many(session.connection(), _TABLE, _NAMES, rows)
    assert sorted(_stored(database, project_id)) == ["k0"]


_AMONG = select(col(Delivery.idempotency_key)).where(Among(_TABLE.c.id, "ids"))


@pytest.mark.parametrize("wanted", [0, 1, 2, 1500])
def test_among_finds_exactly_the_listed_rows_whatever_their_number(
    database: Database, project: ProjectCredentials, wanted: int
) -> None:
    project_id = project.project.id
    rows = [_row(project_id, f"k{i}", {}) for i in range(1502)]
    with database.session() as session:
        insert_many(session.connection(), _TABLE, _NAMES, rows)
    ids = [str(row[0]) for row in rows[:wanted]] + ["msg_not_there"]
    with database.reader() as session:
        found = session.exec(_AMONG, params={"ids": ids}).all()
    assert sorted(found) == sorted(f"k{i}" for i in range(wanted))


def test_among_on_sqlite_looks_ids_up_by_primary_key(database: Database) -> None:
    if not database.is_sqlite:
        return  # PostgreSQL's plan depends on the table's size: the rows test covers it there
    statement = _AMONG.params(ids=["msg_a", "msg_b"])
    sql = statement.compile(database.engine, compile_kwargs={"literal_binds": True})
    with database.engine.connect() as connection:
        plan = [str(step[3]) for step in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    # Written as a plain IN, not "(id IN (...)) = 1", which SQLite cannot answer from an index.
    assert any("sqlite_autoindex_delivery_1" in step for step in plan), plan
