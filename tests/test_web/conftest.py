"""A real app on the test database, driven in-process through Litestar's TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from distribution.db import Database
from tests.conftest import ProjectCredentials, make_project
from web.app import create_app
from web.settings import Settings


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Litestar:
    data_dir: Path = tmp_path_factory.mktemp("data")
    settings = Settings(
        database_url=database_url,
        data_dir=data_dir,
        secret_key="test-secret-key",
        migrate_on_start=False,
        # Tests receive webhooks on 127.0.0.1 and should not wait minutes for a retry.
        webhooks_allow_private=True,
        webhook_retry_schedule=(0.0, 0.0),
        webhook_poll_interval=0.05,
    )
    return create_app(settings)


@pytest.fixture(scope="session")
def app_database(app: Litestar) -> Database:
    database: Database = app.state.database
    return database


@pytest.fixture(scope="session")
def raw_client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def api_project(app_database: Database) -> ProjectCredentials:
    return make_project(app_database)


@pytest.fixture
def client(
    raw_client: TestClient[Litestar], api_project: ProjectCredentials
) -> TestClient[Litestar]:
    """A client that sends this test's project credentials."""
    raw_client.headers.clear()
    raw_client.headers.update(api_project.headers)
    return raw_client
