"""Rate limits that hold across every worker process: a token bucket kept in PostgreSQL.

In distributed mode each provider's bucket is one row of ``provider_rate_bucket``. One UPDATE
refills it by the time elapsed since its last refill (the database's clock, so worker machines'
clocks do not matter), takes up to the tokens wanted, and returns what it granted. Concurrent
takers queue on the row lock, and PostgreSQL re-evaluates the UPDATE on the row each one finds,
so every grant is computed from the tokens the previous grant left.

To keep round trips low, a process takes tokens for all of its acquirers waiting at that moment
(up to ``batch``) and hands them out locally. Tokens are only taken for waiters, so they are
spent at once; one left over (its waiter was cancelled) expires after ``batch / rate`` seconds.
The row holds at most ``burst - batch`` tokens, less a quarter of a second's worth (and at least
one), so tokens granted but not yet spent can never add to a burst: over any window of ``t``
seconds, all workers together send at most ``rate * t + burst``, with room to spare for the
network, which can bunch requests sent at a steady pace before the provider counts them.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import Engine, text

from distribution.storage.db import Database
from providers import RateLimiter, TokenBucket

__all__ = [
    "LimiterFactory",
    "SharedTokenBucket",
    "in_process_limiter",
    "shared_limiter_factory",
]

# (project id, provider name, messages per second) -> the limiter for that provider.
LimiterFactory = Callable[[str, str, float], RateLimiter]

# A batch is at most this many seconds of the rate (and at most half the burst).
BATCH_SECONDS = 0.05
# Headroom kept below the burst for requests the network delays and then delivers together.
JITTER_SECONDS = 0.25

_NOW = "(statement_timestamp() AT TIME ZONE 'UTC')"
# Tokens available now: the stored tokens plus the refill since, capped at the capacity. The
# refill mark only moves forward, so a taker whose statement started before the last grant's
# gets no refill rather than a negative one.
_AVAILABLE = (
    "LEAST(:capacity, tokens + :rate * "
    f"GREATEST(0, EXTRACT(EPOCH FROM ({_NOW} - refilled_at))::float8))"
)
# The epsilon absorbs float rounding, which could leave the bucket a hair short of a token.
_GRANT = f"LEAST(:want, FLOOR({_AVAILABLE} + 1e-9))"
# The f-strings below only join the constant fragments above; every value is a bound parameter.
_TAKE = text(
    f"""
    UPDATE provider_rate_bucket
    SET tokens = GREATEST(0, {_AVAILABLE} - {_GRANT}),
        last_grant = {_GRANT},
        refilled_at = GREATEST(refilled_at, {_NOW})
    WHERE project_id = :project_id AND provider = :provider
    RETURNING last_grant, tokens
    """  # noqa: S608
)
_CREATE = text(
    f"""
    INSERT INTO provider_rate_bucket (project_id, provider, tokens, last_grant, refilled_at)
    VALUES (:project_id, :provider, :capacity, 0, {_NOW})
    ON CONFLICT DO NOTHING
    """  # noqa: S608
)


def in_process_limiter(_project_id: str, _provider: str, rate: float) -> RateLimiter:
    """The embedded mode's limiter: a bucket in this process's memory."""
    return TokenBucket(rate)


def shared_limiter_factory(database: Database) -> LimiterFactory:
    """The distributed mode's limiters: buckets shared through ``database`` (PostgreSQL)."""

    def build(project_id: str, provider: str, rate: float) -> RateLimiter:
        return SharedTokenBucket(database, project_id, provider, rate)

    return build


class SharedTokenBucket:
    """A provider's token bucket shared by every process using the same database.

    ``rate`` tokens per second, ``burst`` at most at once across all processes (default: one
    second's worth, as for the in-process bucket). ``clock`` and ``sleep`` are injectable.
    """

    def __init__(
        self,
        database: Database,
        project_id: str,
        provider: str,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if database.is_sqlite:
            raise ValueError("a shared rate limit needs PostgreSQL")
        self.project_id = project_id
        self.provider = provider
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        if self.burst < 1:
            raise ValueError("burst must be at least 1")
        self.batch = max(1, min(math.floor(self.burst / 2), math.ceil(rate * BATCH_SECONDS)))
        self.capacity = max(1, math.floor(self.burst - self.batch - rate * JITTER_SECONDS))
        self._hold_seconds = self.batch / rate
        # One statement per transaction: autocommit saves the BEGIN and COMMIT round trips.
        self._engine: Engine = database.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._clock = clock
        self._sleep = sleep
        self._created = False
        self._held = 0
        self._held_until = 0.0
        self._waiting = 0
        # One acquirer talks to the database at a time; the others find its leftovers.
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SharedTokenBucket({self.project_id}/{self.provider}, rate={self.rate})"

    def _params(self, want: int) -> dict[str, object]:
        return {
            "project_id": self.project_id,
            "provider": self.provider,
            "capacity": self.capacity,
            "rate": self.rate,
            "want": want,
        }

    def take(self, want: int) -> tuple[int, float]:
        """Take up to ``want`` tokens now: (tokens granted, tokens left in the shared bucket)."""
        with self._engine.connect() as connection:
            if not self._created:
                connection.execute(_CREATE, self._params(want))
                self._created = True
            row = connection.execute(_TAKE, self._params(want)).one_or_none()
        if row is None:
            # The row was deleted since (its project was): make it again on the next try.
            self._created = False
            return 0, 0.0
        return int(row[0]), float(row[1])

    async def acquire(self) -> None:
        """Take one token, waiting until the shared bucket has one."""
        self._waiting += 1
        try:
            async with self._lock:
                while True:
                    if self._held > 0 and self._clock() < self._held_until:
                        self._held -= 1
                        return
                    want = min(self.batch, self._waiting)
                    granted, left = await asyncio.to_thread(self.take, want)
                    if granted:
                        self._held = granted - 1
                        self._held_until = self._clock() + self._hold_seconds
                        return
                    await self._sleep(max(0.0, 1 - left) / self.rate)
        finally:
            self._waiting -= 1
