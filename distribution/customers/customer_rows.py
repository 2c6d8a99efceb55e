"""Customer rows as plain dicts, read and written in bulk with one statement per kind.

Imports write thousands of rows a transaction. Going through the ORM, or even SQLAlchemy Core's
per-row parameter processing, cost more than SQLite's own work, so rows travel as dicts keyed by
column name and are written with the driver's ``executemany``; one customer at a time (an
event's, or one upsert) goes to the driver's cursor. Both through
:mod:`distribution.storage.driver_sql`, so the stored form is exactly what the ORM would store.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlmodel import Session

from distribution.models import Customer
from distribution.storage.driver_sql import (
    DriverInsert,
    DriverSelect,
    DriverUpdate,
    converted_rows,
    insert_many,
    processors,
    select_sql,
    update_many,
)

__all__ = [
    "COLUMNS",
    "insert_row",
    "insert_rows",
    "live_row",
    "rows_by_source_id",
    "update_row",
    "update_rows",
]

_TABLE: Table = Customer.__table__  # type: ignore[attr-defined]
COLUMNS: tuple[str, ...] = tuple(column.name for column in _TABLE.columns)
LOOKUP_SLICE = 5_000
_UPDATED = tuple(name for name in COLUMNS if name not in ("id", "project_id", "created_at"))
_UPDATED_BY_ID = (*_UPDATED, "id")  # update_many's order: the values set, then the key
# One customer at a time (an event's): the driver's cursor, without exec_driver_sql's overhead.
_LIVE_BY_SOURCE_ID = DriverSelect(
    _TABLE, COLUMNS, ["project_id", "source_id"], also=["erased_at IS NULL"]
)
_INSERT_ONE = DriverInsert(_TABLE)
_UPDATE_ONE = DriverUpdate(_TABLE, _UPDATED, "id")


def rows_by_source_id(
    session: Session, project_id: str, source_ids: Collection[str]
) -> dict[str, dict[str, Any]]:
    """The live customers of a project with these source ids, as column dicts."""
    if not source_ids:
        return {}
    connection = _flushed(session)
    dialect = connection.dialect
    converters = processors(dialect, _TABLE, COLUMNS, reading=True)
    wanted = list(source_ids)
    found: dict[str, dict[str, Any]] = {}
    # In slices: SQLite and PostgreSQL both cap the number of parameters of one statement.
    for start in range(0, len(wanted), LOOKUP_SLICE):
        some = wanted[start : start + LOOKUP_SLICE]
        sql = select_sql(
            dialect,
            _TABLE,
            COLUMNS,
            ["project_id"],
            also=["erased_at IS NULL"],
            among=("source_id", len(some)),
        )
        for values in converted_rows(
            connection.exec_driver_sql(sql, (project_id, *some)), converters
        ):
            row = dict(zip(COLUMNS, values, strict=True))
            found[row["source_id"]] = row
    return found


def live_row(session: Session, project_id: str, source_id: str) -> dict[str, Any] | None:
    """``rows_by_source_id`` for one source id: the live customer's column dict, or None."""
    found = _LIVE_BY_SOURCE_ID.first(_flushed(session), project_id, source_id)
    return None if found is None else dict(zip(COLUMNS, found, strict=True))


def insert_row(session: Session, row: dict[str, Any]) -> None:
    """``insert_rows`` for one row."""
    _INSERT_ONE.execute(_flushed(session), [{name: row[name] for name in COLUMNS}])


def update_row(session: Session, row: dict[str, Any]) -> None:
    """``update_rows`` for one row."""
    _UPDATE_ONE.execute(_flushed(session), [row])


def insert_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert new customers given as dicts holding every column."""
    if rows:
        values = ([row[name] for name in COLUMNS] for row in rows)
        insert_many(_flushed(session), _TABLE, COLUMNS, values)


def update_rows(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Write every changeable column of existing customers, found by id."""
    rows = list(rows)
    if rows:
        values = ([row[name] for name in _UPDATED_BY_ID] for row in rows)
        update_many(_flushed(session), _TABLE, _UPDATED, ("id",), values)


def _flushed(session: Session) -> Connection:
    # Rows the caller added or changed through the ORM must be written first: a customer's
    # foreign keys point at them, and a lookup must see them.
    session.flush()
    return session.connection()
