"""The embedded worker: an asyncio task inside the service that sends due deliveries.

It wakes when an event commits new rows (``wake()``, callable from any thread) and otherwise
polls every ``poll_interval`` seconds, which is also how retries and quiet-hour waits come due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from distribution.db import Database
from distribution.delivery import (
    DeliveryPolicy,
    SenderSource,
    claim_due,
    deliver,
    record_outcomes,
    recover_expired,
)

__all__ = ["EmbeddedWorker"]

log = logging.getLogger("distribution.worker")


class EmbeddedWorker:
    """Claims due deliveries in batches and sends them, until stopped."""

    def __init__(
        self,
        database: Database,
        senders: SenderSource,
        policy: DeliveryPolicy,
        *,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        shutdown_grace: float = 30.0,
    ) -> None:
        self.database = database
        self.senders = senders
        self.policy = policy
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.shutdown_grace = shutdown_grace
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Recover rows left ``sending`` by a previous process, then start the loop."""
        if self._task is not None and not self._task.done():
            raise RuntimeError("the worker is already running")
        self._stopping = False
        self._loop = asyncio.get_running_loop()
        recovered = await asyncio.to_thread(recover_expired, self.database, self.policy)
        if recovered:
            log.warning("recovered %d deliveries left in flight by a stopped worker", recovered)
        self._task = asyncio.create_task(self._run(), name="delivery-worker")

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
                # Rows still in flight keep their lease; the next start recovers them.
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def run_once(self) -> int:
        """Claim, send and record one batch; the number of deliveries handled."""
        claimed = await asyncio.to_thread(claim_due, self.database, self.batch_size, self.policy)
        if not claimed:
            return 0
        outcomes = await deliver(claimed, self.senders, self.policy)
        await asyncio.to_thread(record_outcomes, self.database, outcomes)
        return len(claimed)

    async def _run(self) -> None:
        rounds = 0
        while not self._stopping:
            try:
                handled = await self.run_once()
                rounds += 1
                if rounds % 60 == 0:
                    await asyncio.to_thread(recover_expired, self.database, self.policy)
            except Exception:  # keep the worker alive; the rows are still there
                log.exception("delivery round failed")
                handled = 0
            if handled:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
