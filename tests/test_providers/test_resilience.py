"""Rate limits, circuit breakers, ResilientProvider and ResilientSync, on controlled clocks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from providers.circuit_breaker import CircuitBreaker
from providers.errors import (
    CircuitOpenError,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
)
from providers.http_transport import GuardedClient
from providers.message import Message, ProfileUpdate, SendResult
from providers.protocol import BatchSync
from providers.rate_limit import RateLimiter, TokenBucket
from providers.registry import build_sync
from providers.resilient import (
    ResilientBatchSync,
    ResilientProvider,
    ResilientSync,
    resilient_sync,
)

from .fakes import braze
from .samples import sms


class FakeClock:
    """A clock whose sleep only advances time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class ScriptedProvider:
    """A test double Provider: answers from a script, can block until released."""

    kind = "scripted"
    channels = frozenset({"sms"})

    def __init__(self, script: list[ProviderError | None] | None = None) -> None:
        self.name = "scripted"
        self.script = list(script or [])
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.gate: asyncio.Event | None = None

    async def send(self, message: Message) -> SendResult:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            outcome = self.script.pop(0) if self.script else None
            if outcome is not None:
                raise outcome
            return SendResult("sent", provider_message_id=f"id-{self.calls}")
        finally:
            self.in_flight -= 1

    async def check(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def transient() -> TransientProviderError:
    return TransientProviderError("HTTP 503", provider="scripted", status_code=503)


async def test_token_bucket_spaces_messages_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, burst=2, clock=clock, sleep=clock.sleep)
    assert isinstance(bucket, RateLimiter)
    for _ in range(6):
        await bucket.acquire()
    # Two from the burst, then one every 0.1 s.
    assert clock.slept == pytest.approx([0.1, 0.1, 0.1, 0.1])
    clock.now += 5
    await bucket.acquire()
    await bucket.acquire()
    assert len(clock.slept) == 4


def test_breaker_opens_half_opens_and_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("p", failure_threshold=3, reset_after=30, clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state == "closed"
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError) as info:
        breaker.before_call()
    assert info.value.retry_after == 30
    clock.now += 10
    assert breaker.snapshot().retry_after == 20
    clock.now += 20
    assert breaker.state == "half_open"
    breaker.before_call()  # the single trial call
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now += 30
    breaker.before_call()
    breaker.record_success()
    assert breaker.snapshot().state == "closed"
    assert breaker.snapshot().consecutive_failures == 0


async def test_resilient_provider_opens_circuit_on_transient_failures_only() -> None:
    clock = FakeClock()
    inner = ScriptedProvider(
        [PermanentProviderError("bad", provider="scripted")] * 3 + [transient()] * 2
    )
    breaker = CircuitBreaker("scripted", failure_threshold=2, reset_after=60, clock=clock)
    provider = ResilientProvider(inner, breaker=breaker)
    for _ in range(3):
        with pytest.raises(PermanentProviderError):
            await provider.send(sms())
    assert provider.health.state == "closed"
    for _ in range(2):
        with pytest.raises(TransientProviderError):
            await provider.send(sms())
    assert provider.health.state == "open"
    with pytest.raises(CircuitOpenError):
        await provider.send(sms())
    assert inner.calls == 5
    clock.now += 60
    assert (await provider.send(sms())).status == "sent"
    assert provider.health.state == "closed"


async def test_concurrency_limit_holds() -> None:
    inner = ScriptedProvider()
    inner.gate = asyncio.Event()
    provider = ResilientProvider(inner, max_concurrency=3)
    tasks = [asyncio.create_task(provider.send(sms(id=f"d{i}"))) for i in range(10)]
    # Let every task run as far as it can: three reach the provider, seven wait for a slot.
    for _ in range(50):
        await asyncio.sleep(0)
    assert inner.in_flight == 3
    inner.gate.set()
    results = await asyncio.gather(*tasks)
    assert len(results) == 10
    assert inner.max_in_flight == 3


async def test_timeout_is_transient_and_counts_against_the_breaker() -> None:
    inner = ScriptedProvider()
    inner.gate = asyncio.Event()  # never set: the provider hangs
    breaker = CircuitBreaker("scripted", failure_threshold=1, reset_after=60)
    provider = ResilientProvider(inner, timeout=0.01, breaker=breaker)
    with pytest.raises(TransientProviderError, match="no answer"):
        await provider.send(sms())
    assert provider.health.state == "open"


async def test_rate_limiter_is_consulted_per_message() -> None:
    clock = FakeClock()
    bucket = TokenBucket(5, burst=1, clock=clock, sleep=clock.sleep)
    provider = ResilientProvider(ScriptedProvider(), rate_limiter=bucket)
    for i in range(4):
        await provider.send(sms(id=f"d{i}"))
    assert clock.slept == pytest.approx([0.2, 0.2, 0.2])


async def test_a_sync_keeps_to_the_same_limits_as_a_sender(
    braze_api: tuple[Any, str], http_client: GuardedClient
) -> None:
    """Profile writes go through the provider's rate limit and breaker, as sends do."""
    api, url = braze_api
    api.reset()
    config = {"api_key": braze.API_KEY, "base_url": url}
    inner = build_sync("attrs", "braze_attributes", config, http_client=http_client)
    clock = FakeClock()
    limited = ResilientSync(
        inner,
        rate_limiter=TokenBucket(5, burst=1, clock=clock, sleep=clock.sleep),
        breaker=CircuitBreaker("attrs", failure_threshold=1, reset_after=60, clock=clock),
    )
    update = ProfileUpdate("u", external_id="brand-1", code="C-1")
    for _ in range(3):
        assert (await limited.sync(update)).status == "queued"
    assert clock.slept == pytest.approx([0.2, 0.2])
    api.fail_next(status=503)
    with pytest.raises(TransientProviderError):
        await limited.sync(update)
    with pytest.raises(CircuitOpenError):
        await limited.sync(update)
    assert len(api.requests) == 4
    assert limited.requests(update) == inner.requests(update)


async def test_a_batch_sync_stays_one_and_its_batches_keep_to_the_limits(
    braze_api: tuple[Any, str], http_client: GuardedClient
) -> None:
    """A batch takes one rate token; a batch whose every update failed transiently trips the
    breaker, and an open circuit refuses the next batch before any call."""
    api, url = braze_api
    config = {"api_key": braze.API_KEY, "base_url": url}
    inner = build_sync("attrs", "braze_attributes", config, http_client=http_client)
    clock = FakeClock()
    limited = resilient_sync(
        inner,
        rate_limiter=TokenBucket(5, burst=1, clock=clock, sleep=clock.sleep),
        breaker=CircuitBreaker("attrs", failure_threshold=1, reset_after=60, clock=clock),
    )
    assert isinstance(limited, ResilientBatchSync)
    assert isinstance(limited, BatchSync)
    updates = [ProfileUpdate(f"u{i}", external_id=f"brand-{i}", code="C") for i in range(80)]
    for _ in range(2):
        outcomes = await limited.sync_many(updates)
        assert [o.status for o in outcomes if isinstance(o, SendResult)] == ["queued"] * 80
    assert clock.slept == pytest.approx([0.2])
    assert len(api.requests) == 4
    api.fail_next(2, status=503)
    failed = await limited.sync_many(updates)
    assert all(isinstance(o, TransientProviderError) for o in failed)
    with pytest.raises(CircuitOpenError):
        await limited.sync_many(updates)
    assert len(api.requests) == 6
