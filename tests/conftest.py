"""Shared fixtures: a real database (SQLite, and PostgreSQL when TEST_DATABASE_URL is set).

Every test gets its own project, so tests never see each other's rows and need no cleanup.
On PostgreSQL each run migrates a schema of its own, so concurrent runs cannot collide.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from distribution.accounts.projects import create_api_key, create_project
from distribution.models import Project
from distribution.storage.db import Database
from distribution.storage.migrate import upgrade

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


def _postgres_schema_url(base_url: str, schema: str) -> str:
    url = make_url(base_url)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@contextmanager
def migrated_database(backend: str, directory: Path) -> Iterator[str]:
    """The URL of a newly migrated, empty database: a SQLite file in ``directory``, or a
    PostgreSQL schema of its own (dropped afterwards)."""
    if backend == "sqlite":
        url = f"sqlite:///{directory / 'test.sqlite3'}"
        db = Database(url)
        upgrade(db.engine)
        db.dispose()
        yield url
        return
    # A missing or unreachable server fails loudly here: CI sets TEST_DATABASE_URL on purpose.
    base = os.environ["TEST_DATABASE_URL"]
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _postgres_schema_url(base, schema)
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database URL, once per backend per test session."""
    with migrated_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    """A long-lived Database on the migrated schema."""
    db = Database(database_url)
    yield db
    db.dispose()


@dataclass(frozen=True)
class ProjectCredentials:
    """A project made for one test, with a working API key."""

    project: Project
    app_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-App-Id": self.app_id, "X-App-Token": self.token}


def make_project(database: Database, name: str | None = None) -> ProjectCredentials:
    """Create a project with one API key."""
    with database.session() as session:
        project = create_project(session, name or f"test-{secrets.token_hex(6)}")
        key = create_api_key(session, project.id)
    return ProjectCredentials(project=project, app_id=key.key.app_id, token=key.token)


@pytest.fixture
def project(database: Database) -> ProjectCredentials:
    """A fresh project for this test."""
    return make_project(database)
