"""A circuit breaker: stop calling a provider that keeps failing, try again after a cool-down."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from providers.errors import CircuitOpenError

__all__ = ["BreakerState", "CircuitBreaker"]

State = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class BreakerState:
    """What the breaker reports: its state, the failure streak, seconds until a trial call."""

    state: State
    consecutive_failures: int
    retry_after: float | None


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive transient failures; after `reset_after`
    seconds it lets one trial call through (half-open): success closes it, failure reopens it.
    """

    def __init__(
        self,
        provider: str,
        *,
        failure_threshold: int = 5,
        reset_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or reset_after <= 0:
            raise ValueError("failure_threshold >= 1 and reset_after > 0 are required")
        self.provider = provider
        self.failure_threshold = failure_threshold
        self.reset_after = reset_after
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> State:
        """closed, open, or half_open (the cool-down has passed)."""
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_after:
            return "half_open"
        return "open"

    def snapshot(self) -> BreakerState:
        """The current state for health pages and metrics."""
        retry_after = None
        if self._opened_at is not None:
            retry_after = max(0.0, self._opened_at + self.reset_after - self._clock())
        return BreakerState(self.state, self._failures, retry_after)

    def before_call(self) -> None:
        """Raise CircuitOpenError unless a call may go out now."""
        state = self.state
        if state == "closed":
            return
        if state == "half_open" and not self._trial_running:
            self._trial_running = True
            return
        raise CircuitOpenError(
            "circuit open: provider failing, calls paused",
            provider=self.provider,
            retry_after=self.snapshot().retry_after or self.reset_after,
        )

    def record_success(self) -> None:
        """The provider answered (even with a permanent error): close the circuit."""
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def abandon_call(self) -> None:
        """The call was cancelled without an answer: free the half-open trial slot."""
        self._trial_running = False

    def record_failure(self) -> None:
        """A transient failure: count it; open (or reopen after a failed trial)."""
        self._failures += 1
        if self._trial_running or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
        self._trial_running = False
