"""Rate limiting in messages per second behind a small protocol (a shared bucket can plug in)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

__all__ = ["RateLimiter", "TokenBucket"]


@runtime_checkable
class RateLimiter(Protocol):
    """Waits until one more message may be sent. A PostgreSQL-backed bucket shared by several
    workers implements the same method."""

    async def acquire(self) -> None:
        """Return when a token is available (waiting as long as needed)."""
        ...


class TokenBucket:
    """In-process token bucket: `rate` tokens per second, at most `burst` saved up.

    `clock` and `sleep` are injectable so tests drive time without waiting.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        if self.burst < 1:
            raise ValueError("burst must be at least 1")
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._updated = clock()
        # One waiter at a time keeps the order fair (first come, first served).
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self) -> None:
        """Take one token, sleeping until the bucket has one."""
        async with self._lock:
            while True:
                self._refill()
                # The epsilon absorbs float rounding, which could otherwise leave the bucket a
                # hair short of a token and spin on ever smaller sleeps.
                if self._tokens >= 1 - 1e-9:
                    self._tokens -= 1
                    return
                await self._sleep((1 - self._tokens) / self.rate)
