"""The loop shared by the embedded background tasks: run rounds, sleep until woken or due."""

from __future__ import annotations

import asyncio
import contextlib
import logging

__all__ = ["PollingLoop"]

log = logging.getLogger("distribution.polling_loop")


class PollingLoop:
    """Runs ``run_once`` while it finds work; otherwise waits for ``wake()`` or ``poll_interval``.

    Subclasses implement ``run_once`` and may add ``before_start``, ``after_round`` and
    ``after_stop``. Work lives in database rows, so a failed round is logged and retried.
    """

    name = "polling-loop"

    def __init__(self, *, poll_interval: float, shutdown_grace: float) -> None:
        self.poll_interval = poll_interval
        self.shutdown_grace = shutdown_grace
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run_once(self) -> int:
        """Do one round of work; how many items it handled."""
        raise NotImplementedError

    async def before_start(self) -> None:
        """Called once before the loop starts."""

    async def after_round(self, rounds: int) -> None:
        """Called after each round the loop (not ``run_once`` alone) runs."""

    async def after_stop(self) -> None:
        """Called once the loop has stopped."""

    async def start(self) -> None:
        """Start the loop in the running event loop."""
        if self._task is not None and not self._task.done():
            raise RuntimeError(f"the {self.name} is already running")
        self._stopping = False
        self._loop = asyncio.get_running_loop()
        await self.before_start()
        self._task = asyncio.create_task(self._run(), name=self.name)

    def wake(self) -> None:
        """Ask for an immediate round (thread-safe: request handlers run in threads)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        """Stop claiming; let the round in flight finish and record its outcomes."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self.shutdown_grace)
            except TimeoutError:
                # Work still in flight keeps its lease and comes due again after it.
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        await self.after_stop()

    async def _run(self) -> None:
        rounds = 0
        while not self._stopping:
            # Cleared before the round, not after it: a wake() arriving while a round finds
            # nothing (work committed just after its claim) must start the next round at once
            # rather than wait out poll_interval.
            self._wake.clear()
            try:
                handled = await self.run_once()
                rounds += 1
                await self.after_round(rounds)
            except Exception:  # keep the loop alive; the rows are still there
                log.exception("%s round failed", self.name)
                handled = 0
            if handled:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
