"""`ResilientProvider`: concurrency and rate limits, timeout, circuit breaker around a sender."""

from __future__ import annotations

import asyncio

from providers.circuit_breaker import BreakerState, CircuitBreaker
from providers.errors import CircuitOpenError, TransientProviderError
from providers.message import Message, SendResult
from providers.protocol import Provider
from providers.rate_limit import RateLimiter

__all__ = ["ResilientProvider"]


class ResilientProvider:
    """Wraps a Provider; the delivery engine calls this instead of the provider itself.

    Order per send: the breaker decides first (an open circuit never queues), then a concurrency
    slot, then a rate-limit token, then the call under the timeout. Transient failures and
    timeouts count against the breaker; permanent errors do not (the provider did answer).
    """

    def __init__(
        self,
        inner: Provider,
        *,
        max_concurrency: int = 8,
        rate_limiter: RateLimiter | None = None,
        timeout: float | None = 30.0,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.inner = inner
        self.name = inner.name
        self.kind = inner.kind
        self.channels = inner.channels
        self.max_concurrency = max_concurrency
        self._slots = asyncio.Semaphore(max_concurrency)
        self._rate_limiter = rate_limiter
        self._timeout = timeout
        self.breaker = breaker or CircuitBreaker(inner.name)

    @property
    def rate_limiter(self) -> RateLimiter | None:
        """The limiter every send waits on (None: no rate limit)."""
        return self._rate_limiter

    @property
    def health(self) -> BreakerState:
        """The circuit breaker's report."""
        return self.breaker.snapshot()

    async def send(self, message: Message) -> SendResult:
        """Send through the limits; raise CircuitOpenError while the circuit is open."""
        self.breaker.before_call()
        async with self._slots:
            if self._rate_limiter is not None:
                await self._rate_limiter.acquire()
            try:
                async with asyncio.timeout(self._timeout):
                    result = await self.inner.send(message)
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
