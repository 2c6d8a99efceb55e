"""Distributed mode needs PostgreSQL: these tests run only when TEST_DATABASE_URL is set.

Without it they are not collected (distributed mode refuses SQLite, so there is nothing to
run); with it, an unreachable server fails loudly in the fixture rather than skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from distribution.storage.db import Database
from tests.conftest import migrated_database

POSTGRES_ONLY = [
    "test_delivery_count_fold.py",
    "test_rate_limit.py",
    "test_scheduled_workers.py",
    "test_stream_order.py",
    "test_tasks.py",
    "test_workers.py",
]
collect_ignore = [] if os.environ.get("TEST_DATABASE_URL") else POSTGRES_ONLY


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated PostgreSQL schema of this module's own (its URL sets the search_path)."""
    directory: Path = tmp_path_factory.mktemp("pg")
    with migrated_database("postgresql", directory) as url:
        yield url


@pytest.fixture(scope="module")
def postgres(postgres_url: str) -> Iterator[Database]:
    """A Database on that schema."""
    database = Database(postgres_url)
    yield database
    database.dispose()
