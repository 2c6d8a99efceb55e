"""Customer rows as plain dicts, read and written in bulk with one statement per kind.

Imports write thousands of rows a transaction. Going through the ORM, or even SQLAlchemy Core's
per-row parameter processing, cost more than SQLite's own work, so rows travel as dicts keyed by
column name and are written with the driver's ``executemany``. Only the columns whose type
converts values (JSON, and dates on SQLite) pass through SQLAlchemy's converters, so the stored
form is exactly what the ORM would store.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Dialect, Table
from sqlmodel import Session

from distribution.driver_sql import DriverInsert, DriverSelect, DriverUpdate
from distribution.models import Customer

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
    session.flush()
    connection = session.connection()
    dialect = connection.dialect
    converters = _converters(dialect, COLUMNS, reading=True)
    wanted = list(source_ids)
    found: dict[str, dict[str, Any]] = {}
    # In slices: SQLite and PostgreSQL both cap the number of parameters of one statement.
    for start in range(0, len(wanted), LOOKUP_SLICE):
        some = wanted[start : start + LOOKUP_SLICE]
        result = connection.exec_driver_sql(_lookup_sql(dialect, len(some)), (project_id, *some))
        for values in _convert(result, converters):
            row = dict(zip(COLUMNS, values, strict=True))
            found[row["source_id"]] = row
    return found


def live_row(session: Session, project_id: str, source_id: str) -> dict[str, Any] | None:
    """``rows_by_source_id`` for one source id: the live customer's column dict, or None."""
    session.flush()
    found = _LIVE_BY_SOURCE_ID.first(session.connection(), project_id, source_id)
    return None if found is None else dict(zip(COLUMNS, found, strict=True))


def insert_row(session: Session, row: dict[str, Any]) -> None:
    """``insert_rows`` for one row."""
    session.flush()
    _INSERT_ONE.execute(session.connection(), [{name: row[name] for name in COLUMNS}])


def update_row(session: Session, row: dict[str, Any]) -> None:
    """``update_rows`` for one row."""
    session.flush()
    _UPDATE_ONE.execute(session.connection(), [row])


def insert_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert new customers given as dicts holding every column."""
    _execute_many(session, _insert_sql, COLUMNS, rows)


def update_rows(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Write every changeable column of existing customers, found by id."""
    _execute_many(session, _update_sql, (*_UPDATED, "id"), list(rows))


def _execute_many(
    session: Session,
    statement: Callable[[Dialect], str],
    names: tuple[str, ...],
    rows: Sequence[dict[str, Any]],
) -> None:
    if not rows:
        return
    session.flush()  # rows the caller added through the ORM must exist first (foreign keys)
    connection = session.connection()
    dialect = connection.dialect
    converters = _converters(dialect, names, reading=False)
    values = ([row[name] for name in names] for row in rows)
    connection.exec_driver_sql(statement(dialect), list(_convert(values, converters)))


Converters = list[tuple[int, Callable[[Any], Any]]]


@cache
def _converters(dialect: Dialect, names: tuple[str, ...], *, reading: bool) -> Converters:
    # The processors SQLAlchemy itself would apply, for the columns that have one.
    converters: Converters = []
    for position, name in enumerate(names):
        column_type = _TABLE.c[name].type.dialect_impl(dialect)
        processor = (
            column_type.result_processor(dialect, None)
            if reading
            else column_type.bind_processor(dialect)
        )
        if processor is not None:
            converters.append((position, processor))
    return converters


def _convert(rows: Iterable[Sequence[Any]], converters: Converters) -> Iterator[tuple[Any, ...]]:
    # Rows written together share their timestamps, so a value that is the very object of the
    # row before reuses its conversion.
    previous: dict[int, tuple[Any, Any]] = {}
    for row in rows:
        converted = list(row)
        for position, convert in converters:
            value = converted[position]
            if value is None:
                continue
            last = previous.get(position)
            if last is not None and last[0] is value:
                converted[position] = last[1]
            else:
                converted[position] = convert(value)
                previous[position] = (value, converted[position])
        yield tuple(converted)


def _placeholder(dialect: Dialect) -> str:
    return "?" if dialect.paramstyle == "qmark" else "%s"


def _quoted(dialect: Dialect, names: Iterable[str]) -> list[str]:
    return [dialect.identifier_preparer.quote(name) for name in names]


def _lookup_sql(dialect: Dialect, count: int) -> str:
    mark = _placeholder(dialect)
    return (
        f"SELECT {', '.join(_quoted(dialect, COLUMNS))} FROM {_TABLE.name} "  # noqa: S608
        f"WHERE project_id = {mark} AND erased_at IS NULL "
        f"AND source_id IN ({', '.join([mark] * count)})"
    )


@cache
def _insert_sql(dialect: Dialect) -> str:
    columns = ", ".join(_quoted(dialect, COLUMNS))
    marks = ", ".join([_placeholder(dialect)] * len(COLUMNS))
    # Only column names of our own table and placeholders go into the text: no values.
    return f"INSERT INTO {_TABLE.name} ({columns}) VALUES ({marks})"  # noqa: S608


@cache
def _update_sql(dialect: Dialect) -> str:
    mark = _placeholder(dialect)
    assignments = ", ".join(f"{name} = {mark}" for name in _quoted(dialect, _UPDATED))
    return f"UPDATE {_TABLE.name} SET {assignments} WHERE id = {mark}"  # noqa: S608
