"""Files `dm` creates in the data folder are readable by the service's user only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from distribution.storage.db import Database
from web.cli import main as dm


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_dm_creates_the_sqlite_database_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "new" / "data"
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DM_SECRET_KEY", raising=False)
    monkeypatch.setenv("DM_DATA_DIR", str(data_dir))
    assert dm(["migrate"]) == 0
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "secret.key") == 0o600
    assert mode(data_dir / "dm.sqlite3") == 0o600
    assert mode(data_dir / "dm.sqlite3.writelock") == 0o600
    # While the database is open, SQLite's write-ahead log and shared memory exist: private too.
    database = Database(f"sqlite:///{data_dir / 'dm.sqlite3'}")
    try:
        with database.session() as session:
            session.connection().exec_driver_sql("CREATE TABLE probe (x INTEGER)")
        for suffix in ("-wal", "-shm"):
            assert mode(data_dir / f"dm.sqlite3{suffix}") == 0o600, suffix
    finally:
        database.dispose()
