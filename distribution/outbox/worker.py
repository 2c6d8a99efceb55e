"""The embedded worker: an asyncio task inside the service that sends due deliveries.

It wakes when an event commits new rows (``wake()``, callable from any thread) and otherwise
polls every ``poll_interval`` seconds, which is also how retries and quiet-hour waits come due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from distribution.outbox.delivery import (
    DeliveryPolicy,
    SenderSource,
    claim_due,
    deliver,
    record_outcomes,
    recover_expired,
)
from distribution.storage.db import Database
from distribution.storage.polling_loop import PollingLoop

__all__ = ["EmbeddedWorker"]

log = logging.getLogger("distribution.worker")


class EmbeddedWorker(PollingLoop):
    """Claims due deliveries in batches and sends them, until stopped."""

    name = "delivery-worker"

    def __init__(
        self,
        database: Database,
        senders: SenderSource,
        policy: DeliveryPolicy,
        *,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        shutdown_grace: float = 30.0,
        gather_seconds: float = 0.02,
    ) -> None:
        super().__init__(poll_interval=poll_interval, shutdown_grace=shutdown_grace)
        self.database = database
        self.senders = senders
        self.policy = policy
        self.batch_size = batch_size
        self.gather_seconds = gather_seconds
        self._last_claimed = 0

    def queued(self, ids: Sequence[str]) -> None:
        """New rows were committed (``DeliveryNotifier``): claiming finds them by status."""
        if ids:
            self.wake()

    async def before_start(self) -> None:
        """Recover rows left ``sending`` by a previous process."""
        recovered = await asyncio.to_thread(recover_expired, self.database, self.policy)
        if recovered:
            log.warning("recovered %d deliveries left in flight by a stopped worker", recovered)

    async def after_round(self, rounds: int) -> None:
        # Another process's worker may have died: look for expired leases now and then.
        if rounds % 60 == 0:
            await asyncio.to_thread(recover_expired, self.database, self.policy)
        # Under a stream of events every commit wakes the worker: claiming at once after a
        # small round sent a few rows per round, each round two write transactions that queue
        # with ingest for SQLite's one writer. Waiting a moment lets the rows committed
        # meanwhile go out together; an event arriving alone is still claimed at once.
        if 0 < self._last_claimed < self.batch_size:
            await asyncio.sleep(self.gather_seconds)

    async def run_once(self) -> int:
        """Claim, send and record one batch; the number of deliveries handled."""
        claimed = await asyncio.to_thread(claim_due, self.database, self.batch_size, self.policy)
        self._last_claimed = len(claimed)
        if not claimed:
            return 0
        outcomes = await deliver(claimed, self.senders, self.policy, self.database)
        await asyncio.to_thread(record_outcomes, self.database, outcomes)
        return len(claimed)
