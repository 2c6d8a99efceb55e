"""The shared token bucket: one rate limit for all processes together (PostgreSQL)."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from pathlib import Path

import pytest

from distribution.outbox.rate_limit import SharedTokenBucket, shared_limiter_factory
from distribution.provider_configs.registry import ProviderRegistry
from distribution.provider_configs.store import create_provider
from distribution.storage.db import Database
from distribution.storage.secrets import SecretBox
from providers import ResilientProvider, TokenBucket
from providers.address_guard import AddressGuard
from tests.conftest import make_project
from tests.test_distributed.windows import most_in_any_window
from tests.test_providers.fakes.webhook_receiver import SECRET

PROCESSES = 4
TAKERS_PER_PROCESS = 4
RATE = 20.0
SECONDS = 3.0


def _take_for(url: str, project_id: str) -> list[float]:
    """One worker process: several tasks take tokens for SECONDS; their wall-clock times."""

    async def run() -> list[float]:
        deadline = time.time() + SECONDS
        database = Database(url)
        bucket = SharedTokenBucket(database, project_id, "sms", RATE)
        stamps: list[float] = []

        async def taker() -> None:
            while time.time() < deadline:
                await bucket.acquire()
                stamps.append(time.time())

        await asyncio.gather(*(taker() for _ in range(TAKERS_PER_PROCESS)))
        database.dispose()
        return stamps

    return asyncio.run(run())


def test_processes_together_stay_within_rate_times_time_plus_burst(
    postgres: Database, postgres_url: str
) -> None:
    project_id = make_project(postgres).project.id
    # spawn: a forked child would share the parent's pooled connections.
    context = multiprocessing.get_context("spawn")
    with context.Pool(PROCESSES) as pool:
        results = pool.starmap(_take_for, [(postgres_url, project_id)] * PROCESSES, chunksize=1)
    stamps = [stamp for result in results for stamp in result]
    burst = RATE  # the default: one second's worth
    assert all(result for result in results), "every process got tokens"
    for window in (0.1, 0.5, 1.0, 2.0, SECONDS):
        assert most_in_any_window(stamps, window) <= RATE * window + burst, window


def test_one_update_refills_by_elapsed_time_and_grants_what_is_there(postgres: Database) -> None:
    project_id = make_project(postgres).project.id
    # Two seconds per token: the statements below run well within one refill.
    bucket = SharedTokenBucket(postgres, project_id, "email", 0.5, burst=4)
    assert (bucket.batch, bucket.capacity) == (1, 2)
    granted, left = bucket.take(10)
    assert granted == 2
    assert left < 1
    assert bucket.take(1)[0] == 0


def test_two_buckets_of_one_provider_share_the_tokens(postgres: Database) -> None:
    project_id = make_project(postgres).project.id
    first = SharedTokenBucket(postgres, project_id, "email", 0.5, burst=4)
    second = SharedTokenBucket(postgres, project_id, "email", 0.5, burst=4)
    other_provider = SharedTokenBucket(postgres, project_id, "sms", 0.5, burst=4)
    assert first.take(5)[0] == 2
    assert second.take(5)[0] == 0
    assert other_provider.take(5)[0] == 2


async def test_acquire_waits_for_the_refill_and_takes_for_every_waiter(
    postgres: Database,
) -> None:
    project_id = make_project(postgres).project.id
    slept: list[float] = []

    async def record_sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(seconds)

    bucket = SharedTokenBucket(postgres, project_id, "email", 40.0, sleep=record_sleep)
    await asyncio.gather(*(bucket.acquire() for _ in range(60)))
    # 28 tokens at once (40 less a batch of 2 and 10 of headroom), then refills: they waited.
    assert bucket.batch == 2
    assert slept


def test_the_shared_bucket_needs_postgresql(tmp_path: Path) -> None:
    sqlite = Database(f"sqlite:///{tmp_path / 'dm.sqlite3'}")
    with pytest.raises(ValueError, match="PostgreSQL"):
        SharedTokenBucket(sqlite, "prj", "email", 1.0)
    sqlite.dispose()


async def test_the_registry_wraps_rate_limited_providers_in_the_factorys_limiter(
    postgres: Database,
) -> None:
    box = SecretBox("rate-limit-test-secret")
    project_id = make_project(postgres).project.id
    with postgres.session() as session:
        for name, rate in (("limited", 5.0), ("unlimited", None)):
            create_provider(
                session,
                project_id,
                box,
                name=name,
                kind="webhook",
                config={"url": "http://127.0.0.1:9/hooks", "secret": SECRET},
                rate_per_second=rate,
                guard=AddressGuard(allow_private=True),
            )
    shared = ProviderRegistry(postgres, box, limiter_factory=shared_limiter_factory(postgres))
    embedded = ProviderRegistry(postgres, box)
    try:
        limited = await shared.sender(project_id, "limited")
        assert isinstance(limited, ResilientProvider)
        assert isinstance(limited.rate_limiter, SharedTokenBucket)
        assert (limited.rate_limiter.project_id, limited.rate_limiter.rate) == (project_id, 5.0)
        unlimited = await shared.sender(project_id, "unlimited")
        assert isinstance(unlimited, ResilientProvider)
        assert unlimited.rate_limiter is None
        local = await embedded.sender(project_id, "limited")
        assert isinstance(local, ResilientProvider)
        assert isinstance(local.rate_limiter, TokenBucket)
    finally:
        await shared.aclose()
        await embedded.aclose()
