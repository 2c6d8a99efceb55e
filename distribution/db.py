"""Database engines and sessions for SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

__all__ = ["Database", "is_sqlite"]


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
    conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def _transaction(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def _serialized(lock: threading.RLock, engine: Engine) -> Iterator[Session]:
    # SQLite has one writer, and its busy handler sleeps up to 100 ms between tries: under load
    # writers spent most of their time asleep. Writers of this process queue on a lock instead,
    # which hands over in microseconds; other processes still meet the busy timeout.
    with lock, _transaction(engine) as session:
        yield session


class Database:
    """An engine plus short-lived sessions. One per process, built by the composition root."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = is_sqlite(url)
        if self.is_sqlite:
            database = make_url(url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
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
            self._write_lock: threading.RLock | None = threading.RLock()
        else:
            self.engine = create_engine(url, echo=echo, pool_size=10, max_overflow=10)
            self._writer = self.engine
            self._write_lock = None

    def session(self) -> AbstractContextManager[Session]:
        """A writing session: commits on success, rolls back on error."""
        if self._write_lock is not None:
            return _serialized(self._write_lock, self._writer)
        return _transaction(self._writer)

    def reader(self) -> AbstractContextManager[Session]:
        """A read-only session (on SQLite it does not take the write lock)."""
        return _transaction(self.engine)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
