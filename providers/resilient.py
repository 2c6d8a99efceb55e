"""`ResilientProvider` and `ResilientSync`: concurrency and rate limits, timeout, circuit breaker
around a sender or a sync (a profile write is a call to the platform like a send)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from providers.circuit_breaker import BreakerState, CircuitBreaker
from providers.errors import CircuitOpenError, ProviderError, TransientProviderError
from providers.message import Message, ProfileRequest, ProfileUpdate, SendResult
from providers.protocol import BatchSync, Provider, Sync
from providers.rate_limit import RateLimiter

__all__ = ["ResilientBatchSync", "ResilientProvider", "ResilientSync", "resilient_sync"]


Inner = TypeVar("Inner", Provider, Sync)


class _Limits(Generic[Inner]):
    """The limits every call of one provider goes through.

    Order per call: the breaker decides first (an open circuit never queues), then a concurrency
    slot, then a rate-limit token, then the call under the timeout. Transient failures and
    timeouts count against the breaker; permanent errors do not (the provider did answer).
    """

    def __init__(
        self,
        inner: Inner,
        *,
        max_concurrency: int = 8,
        rate_limiter: RateLimiter | None = None,
        timeout: float | None = 30.0,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.inner: Inner = inner
        self.name = inner.name
        self.kind = inner.kind
        self.max_concurrency = max_concurrency
        self._slots = asyncio.Semaphore(max_concurrency)
        self._rate_limiter = rate_limiter
        self._timeout = timeout
        self.breaker = breaker or CircuitBreaker(inner.name)

    @property
    def rate_limiter(self) -> RateLimiter | None:
        """The limiter every call waits on (None: no rate limit)."""
        return self._rate_limiter

    @property
    def health(self) -> BreakerState:
        """The circuit breaker's report."""
        return self.breaker.snapshot()

    async def _limited(self, call: Callable[[], Awaitable[SendResult]]) -> SendResult:
        """Make the call through the limits; raise CircuitOpenError while the circuit is open."""
        self.breaker.before_call()
        async with self._slots:
            if self._rate_limiter is not None:
                await self._rate_limiter.acquire()
            try:
                async with asyncio.timeout(self._timeout):
                    result = await call()
            except TimeoutError:
                self.breaker.record_failure()
                raise TransientProviderError(
                    f"no answer within {self._timeout} s", provider=self.name
                ) from None
            except CircuitOpenError:
                raise
            except TransientProviderError:
                self.breaker.record_failure()
                raise
            except asyncio.CancelledError:
                self.breaker.abandon_call()
                raise
            except Exception:
                self.breaker.record_success()
                raise
        self.breaker.record_success()
        return result

    async def check(self) -> None:
        """Check the wrapped provider (no limits: an operator action)."""
        await self.inner.check()

    async def aclose(self) -> None:
        """Close the wrapped provider."""
        await self.inner.aclose()


class ResilientProvider(_Limits[Provider]):
    """Wraps a Provider; the delivery engine calls this instead of the provider itself."""

    def __init__(self, inner: Provider, **limits: Any) -> None:
        """``limits``: those of ``_Limits`` (max_concurrency, rate_limiter, timeout, breaker)."""
        super().__init__(inner, **limits)
        self.channels = inner.channels

    async def send(self, message: Message) -> SendResult:
        """Send through the limits; raise CircuitOpenError while the circuit is open."""
        return await self._limited(lambda: self.inner.send(message))


class ResilientSync(_Limits[Sync]):
    """Wraps a Sync: profile writes keep to the provider's rate and concurrency as sends do."""

    async def sync(self, update: ProfileUpdate) -> SendResult:
        """Write through the limits; raise CircuitOpenError while the circuit is open."""
        return await self._limited(lambda: self.inner.sync(update))

    def requests(self, update: ProfileUpdate) -> list[ProfileRequest]:
        """The wrapped sync's calls for the update (a preview: no limits)."""
        return self.inner.requests(update)


class ResilientBatchSync(ResilientSync):
    """Wraps a BatchSync: a batch goes through the limits as one call.

    The breaker decides first and an open circuit refuses the whole batch; the batch takes one
    concurrency slot and one rate token (the sync bounds its own calls in flight, and the
    platform's 429s, honoured per call, bound the rest). No timeout around the batch: each of
    its calls has the HTTP client's. The breaker counts a batch whose every update failed
    transiently as a failure, any other as a success.
    """

    def __init__(self, inner: BatchSync, **limits: Any) -> None:
        """``limits``: those of ``_Limits`` (max_concurrency, rate_limiter, timeout, breaker)."""
        super().__init__(inner, **limits)
        self._batch_inner = inner

    async def sync_many(self, updates: Sequence[ProfileUpdate]) -> list[SendResult | ProviderError]:
        """Write the batch through the limits; raise CircuitOpenError while the circuit is open."""
        self.breaker.before_call()
        async with self._slots:
            if self._rate_limiter is not None:
                await self._rate_limiter.acquire()
            try:
                outcomes = await self._batch_inner.sync_many(updates)
            except asyncio.CancelledError:
                self.breaker.abandon_call()
                raise
            except TransientProviderError:
                self.breaker.record_failure()
                raise
            except Exception:
                self.breaker.record_success()
                raise
        if outcomes and all(isinstance(o, TransientProviderError) for o in outcomes):
            self.breaker.record_failure()
        else:
            self.breaker.record_success()
        return outcomes


def resilient_sync(inner: Sync, **limits: Any) -> ResilientSync:
    """The wrapper that fits ``inner``: batches stay batches through the limits."""
    if isinstance(inner, BatchSync):
        return ResilientBatchSync(inner, **limits)
    return ResilientSync(inner, **limits)
