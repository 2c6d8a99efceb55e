"""Hot statements run on the driver's own cursor, with SQLAlchemy's type conversions.

``Connection.execute`` costs 60-80 us a statement in SQLAlchemy itself (cache key, execution
context, result set), the driver's cursor 3-5 us. An event runs a handful of statements, so
their SQL is built once per dialect here and run on the cursor of the session's connection (in
its transaction). Values pass through the same bind and result processors SQLAlchemy would use,
so what is stored and read back is exactly what Core would store and read; driver errors come
out as SQLAlchemy's exceptions (an IntegrityError stays an IntegrityError).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Dialect, Table
from sqlalchemy.exc import DBAPIError

__all__ = ["DriverInsert", "DriverSelect", "DriverUpdate"]

_Converter = Callable[[Any], Any]


def _placeholder(dialect: Dialect) -> str:
    return "?" if dialect.paramstyle == "qmark" else "%s"


def _processors(
    table: Table, dialect: Dialect, names: Sequence[str], *, reading: bool
) -> list[tuple[int, _Converter]]:
    found: list[tuple[int, _Converter]] = []
    for position, name in enumerate(names):
        column_type = table.c[name].type.dialect_impl(dialect)
        processor = (
            column_type.result_processor(dialect, None)
            if reading
            else column_type.bind_processor(dialect)
        )
        if processor is not None:
            found.append((position, processor))
    return found


def _converted(values: list[Any], processors: list[tuple[int, _Converter]]) -> list[Any]:
    for position, convert in processors:
        if values[position] is not None:
            values[position] = convert(values[position])
    return values


@contextmanager
def _cursor(connection: Connection, sql: str) -> Iterator[Any]:
    dialect = connection.dialect
    cursor = connection.connection.cursor()
    try:
        yield cursor
    except dialect.loaded_dbapi.Error as error:
        raise DBAPIError.instance(
            sql, None, error, dialect.loaded_dbapi.Error, dialect=dialect
        ) from error
    finally:
        cursor.close()


class DriverInsert:
    """``INSERT`` of column dicts into one table, all rows with the keys of the first one.

    Columns a row leaves out get their scalar default (``status="queued"``); a left-out column
    whose default is computed must be given, and an autoincrement key is left to the database.
    """

    def __init__(self, table: Table) -> None:
        self._table = table
        self._defaults = {
            column.name: column.default.arg  # type: ignore[attr-defined]
            for column in table.columns
            if column.default is not None and column.default.is_scalar
        }
        self._compiled: dict[tuple[str, tuple[str, ...]], tuple[str, list[Any], Any]] = {}

    def _prepare(
        self, dialect: Dialect, given: tuple[str, ...]
    ) -> tuple[str, list[Any], list[tuple[int, _Converter]]]:
        key = (dialect.name, given)
        found = self._compiled.get(key)
        if found is None:
            missing = [name for name in self._defaults if name not in given]
            names = [*given, *missing]
            quote = dialect.identifier_preparer.quote
            # Only our own column names and placeholders go into the text: no values.
            sql = (
                f"INSERT INTO {quote(self._table.name)} "  # noqa: S608
                f"({', '.join(quote(n) for n in names)}) "
                f"VALUES ({', '.join([_placeholder(dialect)] * len(names))})"
            )
            extra = [self._defaults[name] for name in missing]
            found = self._compiled[key] = (
                sql,
                extra,
                _processors(self._table, dialect, names, reading=False),
            )
        return found

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` in the connection's transaction."""
        if not rows:
            return
        given = tuple(rows[0])
        sql, extra, processors = self._prepare(connection.dialect, given)
        values = [_converted([*(row[n] for n in given), *extra], processors) for row in rows]
        with _cursor(connection, sql) as cursor:
            cursor.executemany(sql, values)


class DriverUpdate:
    """``UPDATE table SET columns... WHERE key = ?`` for column dicts (every one of ``columns``)."""

    def __init__(self, table: Table, columns: Sequence[str], key: str) -> None:
        self._table = table
        self._names = (*columns, key)
        self._compiled: dict[str, tuple[str, list[tuple[int, _Converter]]]] = {}

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write ``rows`` in the connection's transaction."""
        if not rows:
            return
        dialect = connection.dialect
        found = self._compiled.get(dialect.name)
        if found is None:
            quote = dialect.identifier_preparer.quote
            mark = _placeholder(dialect)
            *columns, key = self._names
            sql = (
                f"UPDATE {quote(self._table.name)} "  # noqa: S608
                f"SET {', '.join(f'{quote(c)} = {mark}' for c in columns)} "
                f"WHERE {quote(key)} = {mark}"
            )
            found = self._compiled[dialect.name] = (
                sql,
                _processors(self._table, dialect, self._names, reading=False),
            )
        sql, processors = found
        values = [_converted([row[n] for n in self._names], processors) for row in rows]
        with _cursor(connection, sql) as cursor:
            cursor.executemany(sql, values)


class DriverSelect:
    """``SELECT columns FROM table WHERE a = ? AND b = ?``: the first row, converted, or None.

    ``also`` adds fixed conditions written in SQL (``erased_at IS NULL``): never values.
    """

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        where: Sequence[str],
        also: Sequence[str] = (),
    ) -> None:
        self._table = table
        self._columns = tuple(columns)
        self._where = tuple(where)
        self._also = tuple(also)
        self._compiled: dict[str, tuple[str, list[tuple[int, _Converter]]]] = {}

    def first(self, connection: Connection, *values: Any) -> tuple[Any, ...] | None:
        """The first matching row (as a tuple of ``columns``), or None."""
        dialect = connection.dialect
        found = self._compiled.get(dialect.name)
        if found is None:
            quote = dialect.identifier_preparer.quote
            mark = _placeholder(dialect)
            conditions = [f"{quote(w)} = {mark}" for w in self._where] + list(self._also)
            sql = (
                f"SELECT {', '.join(quote(c) for c in self._columns)} "  # noqa: S608
                f"FROM {quote(self._table.name)} "
                f"WHERE {' AND '.join(conditions)}"
            )
            found = self._compiled[dialect.name] = (
                sql,
                _processors(self._table, dialect, self._columns, reading=True),
            )
        sql, processors = found
        with _cursor(connection, sql) as cursor:
            cursor.execute(sql, values)
            row = cursor.fetchone()
        return None if row is None else tuple(_converted(list(row), processors))
