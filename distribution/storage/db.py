"""Database engines and sessions for SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy import insert as core_insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from distribution.errors import ConflictError

__all__ = [
    "Database",
    "flush_or_conflict",
    "insert_skipping_conflicts",
    "is_sqlite",
    "larger_page_cache",
    "refresh_statistics",
]


def is_sqlite(url: str) -> bool:
    """Whether a database URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers work while one writer commits; foreign keys are off by default in SQLite;
    # NORMAL sync is durable in WAL mode except for the last commits on power loss.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # A writing transaction takes the write lock at BEGIN, so two writers queue on busy_timeout
    # instead of one failing with "database is locked" when it upgrades a read transaction.
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    # Straight to the driver: SQLAlchemy's statement machinery (exec_driver_sql) cost more than
    # SQLite's BEGIN itself, once per transaction, reads included.
    conn.connection.dbapi_connection.execute(f"BEGIN {mode}")


def _private_file(path: Path) -> int:
    """Open ``path`` for appending, creating it (and its folder) readable by this user only.

    The database holds customers' personal data and encrypted provider secrets, so it is kept
    like the secret key: 0600 in a 0700 folder. SQLite gives the ``-wal`` and ``-shm`` files the
    mode of the database file.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)


@contextmanager
def _transaction(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


class _WriterQueue:
    """Makes SQLite writers wait their turn on locks that hand over at once.

    SQLite has one writer, and its busy handler sleeps up to 100 ms between tries: under load
    writers spent most of their time asleep. Threads of this process queue on an RLock, and
    processes (the API and its import workers) on an flock of a file beside the database.
    """

    def __init__(self, lock_path: Path | None) -> None:
        self._lock = threading.RLock()
        self._depth = 0  # only the thread holding _lock touches it
        self._file = os.fdopen(_private_file(lock_path), "a+b") if lock_path else None

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._lock:
            self._depth += 1
            try:
                if self._depth == 1 and self._file:
                    fcntl.flock(self._file, fcntl.LOCK_EX)
                yield
            finally:
                if self._depth == 1 and self._file:
                    fcntl.flock(self._file, fcntl.LOCK_UN)
                self._depth -= 1


@contextmanager
def _serialized(queue: _WriterQueue, engine: Engine) -> Iterator[Session]:
    with queue.turn(), _transaction(engine) as session:
        yield session


@contextmanager
def larger_page_cache(session: Session, mebibytes: int) -> Iterator[None]:
    """On SQLite, the session's connection keeps up to ``mebibytes`` of pages in memory until
    the block ends, then its usual cache (2 MB unless changed) again. Nothing on PostgreSQL.

    For a transaction that writes thousands of rows into indexes at random places: the 2 MB
    cache holds a fraction of their pages, so each page was read again and again and its
    changes spilled to the WAL before the commit. The connection goes back to the pool with
    its usual cache, so the memory is lent for the block only.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    usual = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
    connection.exec_driver_sql(f"PRAGMA cache_size=-{mebibytes * 1024}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size={int(usual)}")


# The autovacuum rule (50 rows plus a tenth of the table), applied now rather than within
# autovacuum's next minute; to_regclass finds the tables on the connection's search_path.
_STALE_TABLES = text(
    "SELECT name FROM unnest(CAST(:names AS text[])) AS wanted(name) "
    "JOIN pg_stat_user_tables AS stats ON stats.relid = to_regclass(quote_ident(name)) "
    "WHERE stats.n_mod_since_analyze > 50 + 0.1 * greatest(stats.n_live_tup, 0)"
)


def refresh_statistics(bind: Engine | Connection, tables: Sequence[str]) -> list[str]:
    """ANALYZE those of ``tables`` that changed by more than a tenth since their last analyze;
    the ones analyzed. PostgreSQL only (SQLite plans well without statistics).

    Autovacuum would analyze them too, but up to a minute later. A bulk send started right after
    importing its customers and codes was planned on the statistics of tables without them: the
    pool check joined codes to customers in a nested loop for minutes, the audience walk sorted
    every remaining customer per page, and codes were looked up with a scan of the campaign.
    """
    if bind.dialect.name != "postgresql" or not tables:
        return []
    # A connection of its own: ANALYZE commits, whatever transaction the caller has open.
    with bind.engine.connect() as connection:
        stale = [str(row[0]) for row in connection.execute(_STALE_TABLES, {"names": list(tables)})]
        if stale:
            # Known table names of our own schema, never user input. SKIP_LOCKED: a table
            # autovacuum is analyzing right now needs nothing more from us.
            names = ", ".join(f'"{name}"' for name in stale)
            connection.exec_driver_sql(f"ANALYZE (SKIP_LOCKED) {names}")
            connection.commit()
    return stale


class Database:
    """An engine plus short-lived sessions. One per process, built by the composition root."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = is_sqlite(url)
        if self.is_sqlite:
            database = make_url(url).database
            if database and database != ":memory:":
                os.close(_private_file(Path(database)))
            self.engine: Engine = create_engine(
                url,
                echo=echo,
                connect_args={"check_same_thread": False, "timeout": 30},
                pool_size=8,
                max_overflow=8,
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
            # pysqlite's own transaction handling is turned off so that BEGIN IMMEDIATE works.
            event.listen(
                self.engine,
                "connect",
                lambda dbapi_connection, _record: setattr(
                    dbapi_connection, "isolation_level", None
                ),
            )
            event.listen(self.engine, "begin", _sqlite_begin)
            self._writer: Engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")
            on_disk = bool(database) and database != ":memory:"
            self._writers: _WriterQueue | None = _WriterQueue(
                Path(f"{database}.writelock") if on_disk else None
            )
        else:
            self.engine = create_engine(url, echo=echo, pool_size=10, max_overflow=10)
            self._writer = self.engine
            self._writers = None

    def session(self) -> AbstractContextManager[Session]:
        """A writing session: commits on success, rolls back on error."""
        if self._writers is not None:
            return _serialized(self._writers, self._writer)
        return _transaction(self._writer)

    def reader(self) -> AbstractContextManager[Session]:
        """A read-only session (on SQLite it does not take the write lock)."""
        return _transaction(self.engine)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def flush_or_conflict(session: Session, conflict: str, *adding: object) -> None:
    """Add ``adding`` and flush inside a savepoint; a unique-constraint violation becomes a
    ConflictError saying ``conflict``, and leaves nothing pending in the session."""
    try:
        with session.begin_nested():
            session.add_all(adding)
            session.flush()
    except IntegrityError:
        raise ConflictError(conflict) from None


def insert_skipping_conflicts(session: Session, table: Any) -> Any:
    """An INSERT into ``table`` that skips rows a unique key already holds (no IntegrityError).

    A concurrent writer may add the same row first; skipping it keeps the transaction usable,
    where catching the error would need a savepoint.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql_insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite_insert(table).on_conflict_do_nothing()
    return core_insert(table)  # pragma: no cover - only the two supported backends
