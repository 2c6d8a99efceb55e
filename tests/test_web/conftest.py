"""A real app on the test database, driven in-process through Litestar's TestClient.

Every web test runs on SQLite, and with TEST_DATABASE_URL also on PostgreSQL in both modes:
``postgresql`` (embedded worker) and ``postgresql-distributed`` (the API enqueues procrastinate
jobs and, as ``run_worker`` allows, runs a procrastinate worker in the same process).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from distribution.storage.db import Database
from distribution.storage.migrate import upgrade_queue
from tests.conftest import ProjectCredentials, make_project, migrated_database
from tests.test_providers.fakes.smtp_server import RecordingHandler, start_smtp_server
from web.app import create_app
from web.settings import Settings

DISTRIBUTED = "postgresql-distributed"
WEB_BACKENDS = ["sqlite"] + (
    ["postgresql", DISTRIBUTED] if os.environ.get("TEST_DATABASE_URL") else []
)


@pytest.fixture
def smtp_sink() -> Iterator[tuple[RecordingHandler, int]]:
    """A real SMTP server (aiosmtpd, plain) recording what it receives, and its port."""
    handler = RecordingHandler()
    controller = start_smtp_server(handler)
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def own_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings of a service of its own (its own database, so its worker takes only its own
    deliveries), as an operator would write them; ``overrides`` change any of them."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "secret_key": "test-secret-key",
        "migrate_on_start": False,
        "worker_poll_interval": 0.05,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture(scope="session", params=WEB_BACKENDS)
def web_backend(request: pytest.FixtureRequest) -> str:
    """The database and mode of the web tests' app."""
    backend: str = request.param
    return backend


@pytest.fixture(scope="session")
def database_url(web_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database of this backend (with the job queue's tables when distributed)."""
    backend = "postgresql" if web_backend == DISTRIBUTED else web_backend
    with migrated_database(backend, tmp_path_factory.mktemp("db")) as url:
        if web_backend == DISTRIBUTED:
            database = Database(url)
            upgrade_queue(database.engine)
            database.dispose()
        yield url


@pytest.fixture(scope="session")
def app(database_url: str, web_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Litestar:
    data_dir: Path = tmp_path_factory.mktemp("data")
    settings = Settings(
        database_url=database_url,
        data_dir=data_dir,
        secret_key="test-secret-key",
        mode="distributed" if web_backend == DISTRIBUTED else "embedded",
        migrate_on_start=False,
        # Tests reach providers and webhooks on 127.0.0.1 (the operator's setting) and should
        # not wait minutes for a retry.
        allow_private_networks=True,
        webhook_retry_schedule=(0.0, 0.0),
        webhook_poll_interval=0.05,
        # Distributed: lost enqueues and due retries are swept up every second.
        sweep_interval=1,
        shutdown_grace=5.0,
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
