"""Rows written by the thousand through the driver's ``executemany``, stored as the ORM would.

SQLAlchemy Core processes every parameter of every row in Python before the driver sees it
(about half the cost of writing a bulk job's delivery rows). Here only the columns whose type
converts values (JSON, and dates on SQLite) go through SQLAlchemy's own converters, once per
distinct value object, and the statement text is built once per table, column list and dialect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Dialect, Table

__all__ = ["insert_many", "update_many"]

Converters = tuple[tuple[int, Callable[[Any], Any]], ...]


def insert_many(
    connection: Connection,
    table: Table,
    names: tuple[str, ...],
    rows: Iterable[Sequence[Any]],
    *,
    skip_conflicts_on: tuple[str, ...] = (),
) -> int:
    """Insert rows given as values in ``names`` order; how many were inserted.

    With ``skip_conflicts_on`` (the columns of a unique index), a row whose key exists already
    is left out (``ON CONFLICT DO NOTHING``) and not counted.
    """
    statement = _insert_sql(connection.dialect, table, names, skip_conflicts_on)
    return _execute_many(connection, table, names, statement, rows)


def update_many(
    connection: Connection,
    table: Table,
    names: tuple[str, ...],
    keys: tuple[str, ...],
    rows: Iterable[Sequence[Any]],
) -> int:
    """Set the ``names`` columns where the ``keys`` columns equal the values that follow them
    in each row (``names`` values first, then ``keys`` values); how many rows changed."""
    statement = _update_sql(connection.dialect, table, names, keys)
    return _execute_many(connection, table, (*names, *keys), statement, rows)


def _execute_many(
    connection: Connection,
    table: Table,
    names: tuple[str, ...],
    statement: str,
    rows: Iterable[Sequence[Any]],
) -> int:
    values = list(_convert(rows, _converters(connection.dialect, table, names)))
    if not values:
        return 0
    result = connection.exec_driver_sql(statement, values)
    return int(result.rowcount)


@cache
def _converters(dialect: Dialect, table: Table, names: tuple[str, ...]) -> Converters:
    # The bind processors SQLAlchemy itself would apply, for the columns that have one.
    found: list[tuple[int, Callable[[Any], Any]]] = []
    for position, name in enumerate(names):
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            found.append((position, processor))
    return tuple(found)


def _convert(rows: Iterable[Sequence[Any]], converters: Converters) -> Iterator[tuple[Any, ...]]:
    if not converters:
        yield from (tuple(row) for row in rows)
        return
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


def _quoted(dialect: Dialect, names: Iterable[str]) -> str:
    return ", ".join(dialect.identifier_preparer.quote(name) for name in names)


@cache
def _insert_sql(
    dialect: Dialect, table: Table, names: tuple[str, ...], skip_conflicts_on: tuple[str, ...]
) -> str:
    marks = ", ".join([_placeholder(dialect)] * len(names))
    quote = dialect.identifier_preparer.quote
    # Only our own table's and columns' names and placeholders go into the text: no values.
    statement = f"INSERT INTO {quote(table.name)} ({_quoted(dialect, names)}) VALUES ({marks})"  # noqa: S608
    if skip_conflicts_on:
        statement += f" ON CONFLICT ({_quoted(dialect, skip_conflicts_on)}) DO NOTHING"
    return statement


@cache
def _update_sql(
    dialect: Dialect, table: Table, names: tuple[str, ...], keys: tuple[str, ...]
) -> str:
    mark = _placeholder(dialect)
    quote = dialect.identifier_preparer.quote
    assignments = ", ".join(f"{quote(name)} = {mark}" for name in names)
    conditions = " AND ".join(f"{quote(key)} = {mark}" for key in keys)
    return f"UPDATE {quote(table.name)} SET {assignments} WHERE {conditions}"  # noqa: S608
