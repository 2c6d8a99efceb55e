"""Statements run on the database driver, with SQLAlchemy's own type conversions.

SQLAlchemy costs more than the database here in two ways, and this module owns both bypasses:

- ``Connection.execute`` costs 60-80 us a statement (cache key, execution context, result set),
  the driver's cursor 3-5 us. The few statements every event runs (``DriverInsert``,
  ``DriverUpdate``, ``DriverSelect``) have their SQL built once per dialect and run on the
  cursor of the session's connection, in its transaction.
- Core processes every parameter of every row in Python, about half the cost of writing a bulk
  job's rows. ``insert_many`` and ``update_many`` hand thousands of rows to the driver's
  ``executemany`` through ``exec_driver_sql``, whose one-off cost is negligible at that size and
  which keeps SQLAlchemy's handling of a lost connection. On PostgreSQL ``insert_many`` uses
  ``COPY`` instead, which costs the server and the driver about half as much per row.

Either way only the columns whose type converts values (JSON, and dates on SQLite) pass through
the bind and result processors SQLAlchemy itself would use, so what is stored and read back is
exactly what the ORM would store and read; driver errors come out as SQLAlchemy's exceptions (an
IntegrityError stays an IntegrityError). SQL text holds only our table and column names and
placeholders, never values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

from sqlalchemy import ARRAY, Boolean, ColumnElement, Connection, Dialect, Table, any_, bindparam
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

__all__ = [
    "Among",
    "DriverInsert",
    "DriverSelect",
    "DriverUpdate",
    "Processors",
    "converted_rows",
    "insert_many",
    "processors",
    "select_sql",
    "update_many",
]

# (position in a row, SQLAlchemy's processor for that column), for the columns that have one.
Processors = tuple[tuple[int, Callable[[Any], Any]], ...]


@cache
def processors(
    dialect: Dialect, table: Table, names: tuple[str, ...], *, reading: bool
) -> Processors:
    """The result (``reading``) or bind processors SQLAlchemy would apply to ``names``."""
    found: list[tuple[int, Callable[[Any], Any]]] = []
    for position, name in enumerate(names):
        column_type = table.c[name].type.dialect_impl(dialect)
        processor = (
            column_type.result_processor(dialect, None)
            if reading
            else column_type.bind_processor(dialect)
        )
        if processor is not None:
            found.append((position, processor))
    return tuple(found)


def converted_rows(
    rows: Iterable[Sequence[Any]], converters: Processors
) -> Iterator[tuple[Any, ...]]:
    """``rows`` with their non-null values passed through ``converters``."""
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


def _converted(values: list[Any], converters: Processors) -> list[Any]:
    # One row's values converted in place: the cursor statements write a row or a few, where
    # converted_rows' reuse of conversions costs more than it saves.
    for position, convert in converters:
        if values[position] is not None:
            values[position] = convert(values[position])
    return values


def _placeholder(dialect: Dialect) -> str:
    return "?" if dialect.paramstyle == "qmark" else "%s"


def _quoted(dialect: Dialect, names: Iterable[str]) -> str:
    return ", ".join(dialect.identifier_preparer.quote(name) for name in names)


def _equal(dialect: Dialect, names: Iterable[str], separator: str) -> str:
    mark = _placeholder(dialect)
    quote = dialect.identifier_preparer.quote
    return separator.join(f"{quote(name)} = {mark}" for name in names)


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
    quote = dialect.identifier_preparer.quote
    # Only our own names and placeholders go into the text: no values.
    return (
        f"UPDATE {quote(table.name)} SET {_equal(dialect, names, ', ')} "  # noqa: S608
        f"WHERE {_equal(dialect, keys, ' AND ')}"
    )


def select_sql(
    dialect: Dialect,
    table: Table,
    columns: Iterable[str],
    where: Iterable[str],
    *,
    also: Iterable[str] = (),
    among: tuple[str, int] | None = None,
) -> str:
    """``SELECT columns FROM table WHERE w = ? AND ... [AND also...] [AND c IN (?, ...)]``.

    ``also`` are fixed conditions written in SQL (``erased_at IS NULL``): never values.
    ``among`` is a column and how many values it may take; parameters follow ``where``'s order,
    then those values. Not cached here: with ``among`` every length would keep its own text.
    """
    conditions = [_equal(dialect, where, " AND "), *also]
    if among is not None:
        name, count = among
        marks = ", ".join([_placeholder(dialect)] * count)
        conditions.append(f"{dialect.identifier_preparer.quote(name)} IN ({marks})")
    # Only our own names, placeholders and the caller's fixed conditions: no values.
    return (
        f"SELECT {_quoted(dialect, columns)} "  # noqa: S608
        f"FROM {dialect.identifier_preparer.quote(table.name)} "
        f"WHERE {' AND '.join(c for c in conditions if c)}"
    )


class Among(ColumnElement[bool]):
    """``column IN (:name, ...)``, on PostgreSQL ``column = ANY(:name)``; the parameter is a list.

    A statement built once with an IN list still has a new text for every length, and for a
    batch of 200 or 1,000 ids the driver parsed that text again on each run (psycopg keeps only
    short texts parsed). One array parameter keeps the text the same, and an index on the column
    still serves it.
    """

    type = Boolean()
    inherit_cache = True
    _is_implicitly_boolean = True  # a condition: SQLite must not get "... = 1" appended
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("name", InternalTraversal.dp_string),
    ]

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.name = name


@compiles(Among)
def _in_list(element: Among, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw)


@compiles(Among, "postgresql")
def _any_array(element: Among, compiler: SQLCompiler, **kw: Any) -> str:
    values = bindparam(element.name, type_=ARRAY(element.column.type))
    return compiler.process(element.column == any_(values), **kw)


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
    if connection.dialect.name == "postgresql":
        return _copy_rows(connection, table, names, rows, skip_conflicts_on)
    statement = _insert_sql(connection.dialect, table, names, skip_conflicts_on)
    return _execute_many(connection, table, names, statement, rows)


def _copy_rows(
    connection: Connection,
    table: Table,
    names: tuple[str, ...],
    rows: Iterable[Sequence[Any]],
    skip_conflicts_on: tuple[str, ...],
) -> int:
    """PostgreSQL: ``COPY`` the rows in, about half the work of one ``INSERT`` a row for the
    server and the driver alike.

    ``COPY`` cannot skip a conflicting row, so with ``skip_conflicts_on`` it runs in a
    savepoint and a conflict (a batch prepared again) falls back to ``INSERT ... ON CONFLICT``.
    """
    dialect = connection.dialect
    values = list(converted_rows(rows, processors(dialect, table, names, reading=False)))
    if not values:
        return 0
    # Only our own table's and columns' names go into the text: no values.
    sql = f"COPY {_quoted(dialect, [table.name])} ({_quoted(dialect, names)}) FROM STDIN"
    with _cursor(connection, sql) as cursor:
        if not skip_conflicts_on:
            _copy(cursor, sql, values)
            return len(values)
        cursor.execute("SAVEPOINT dm_copy")
        try:
            _copy(cursor, sql, values)
        except dialect.loaded_dbapi.IntegrityError:
            cursor.execute("ROLLBACK TO SAVEPOINT dm_copy")
            cursor.execute("RELEASE SAVEPOINT dm_copy")
            cursor.executemany(_insert_sql(dialect, table, names, skip_conflicts_on), values)
            return int(cursor.rowcount)
        cursor.execute("RELEASE SAVEPOINT dm_copy")
        return len(values)


def _copy(cursor: Any, sql: str, values: list[tuple[Any, ...]]) -> None:
    with cursor.copy(sql) as copy:
        for row in values:
            copy.write_row(row)


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
    converters = processors(connection.dialect, table, names, reading=False)
    values = list(converted_rows(rows, converters))
    if not values:
        return 0
    # The driver's executemany rowcount is the sum over the rows (ON CONFLICT skips count 0).
    return int(connection.exec_driver_sql(statement, values).rowcount)


@contextmanager
def _cursor(connection: Connection, sql: str) -> Iterator[Any]:
    """A cursor of the connection's driver connection; its errors become SQLAlchemy's, as
    ``Connection`` raises them."""
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
        self._compiled: dict[tuple[str, tuple[str, ...]], tuple[str, list[Any], Processors]] = {}

    def _prepare(
        self, dialect: Dialect, given: tuple[str, ...]
    ) -> tuple[str, list[Any], Processors]:
        key = (dialect.name, given)
        found = self._compiled.get(key)
        if found is None:
            missing = tuple(name for name in self._defaults if name not in given)
            names = (*given, *missing)
            found = self._compiled[key] = (
                _insert_sql(dialect, self._table, names, ()),
                [self._defaults[name] for name in missing],
                processors(dialect, self._table, names, reading=False),
            )
        return found

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` in the connection's transaction."""
        if not rows:
            return
        given = tuple(rows[0])
        sql, extra, converters = self._prepare(connection.dialect, given)
        values = [_converted([*(row[n] for n in given), *extra], converters) for row in rows]
        with _cursor(connection, sql) as cursor:
            cursor.executemany(sql, values)


class DriverUpdate:
    """``UPDATE table SET columns... WHERE key = ?`` for column dicts (every one of ``columns``)."""

    def __init__(self, table: Table, columns: Sequence[str], key: str) -> None:
        self._table = table
        self._columns = tuple(columns)
        self._key = key
        self._names = (*columns, key)
        self._compiled: dict[str, tuple[str, Processors]] = {}

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write ``rows`` in the connection's transaction."""
        if not rows:
            return
        dialect = connection.dialect
        found = self._compiled.get(dialect.name)
        if found is None:
            sql = _update_sql(dialect, self._table, self._columns, (self._key,))
            converters = processors(dialect, self._table, self._names, reading=False)
            found = self._compiled[dialect.name] = (sql, converters)
        sql, converters = found
        values = [_converted([row[n] for n in self._names], converters) for row in rows]
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
        self._compiled: dict[str, tuple[str, Processors]] = {}

    def first(self, connection: Connection, *values: Any) -> tuple[Any, ...] | None:
        """The first matching row (as a tuple of ``columns``), or None."""
        dialect = connection.dialect
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = (
                select_sql(dialect, self._table, self._columns, self._where, also=self._also),
                processors(dialect, self._table, self._columns, reading=True),
            )
        sql, converters = found
        with _cursor(connection, sql) as cursor:
            cursor.execute(sql, values)
            row = cursor.fetchone()
        return None if row is None else tuple(_converted(list(row), converters))
