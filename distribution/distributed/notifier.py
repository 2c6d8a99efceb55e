"""The API side of the distributed mode: committed delivery ids become ``deliver_batch`` jobs.

Request handlers (threads or the event loop) hand over ids; a loop on the event loop marks
and defers them in batches, so a burst of events makes few jobs. Nothing here is the truth:
ids lost with a crashed process are found again by the sweeper.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import procrastinate

from distribution.distributed.enqueue import enqueue_ids, sweep_due
from distribution.distributed.tasks import kick_bulk
from distribution.storage.db import Database
from distribution.storage.polling_loop import PollingLoop

__all__ = ["BulkKick", "QueueNotifier"]


class QueueNotifier(PollingLoop):
    """A ``DeliveryNotifier`` that defers jobs from the API process."""

    name = "queue-notifier"

    def __init__(
        self,
        queue: procrastinate.App,
        database: Database,
        *,
        batch_size: int = 1000,
        poll_interval: float = 5.0,
        shutdown_grace: float = 10.0,
    ) -> None:
        super().__init__(poll_interval=poll_interval, shutdown_grace=shutdown_grace)
        self.queue = queue
        self.database = database
        self.batch_size = batch_size
        self._lock = threading.Lock()  # handlers in threads hand over ids
        self._pending: list[str] = []
        self._sweep = False
        self._bulk = False

    def queued(self, ids: Sequence[str]) -> None:
        """Enqueue these committed rows soon (thread-safe)."""
        if not ids:
            return
        with self._lock:
            self._pending.extend(ids)
        super().wake()

    def wake(self) -> None:
        """Rows were committed without their ids at hand: sweep for due ones (thread-safe)."""
        with self._lock:
            self._sweep = True
        super().wake()

    def kick_bulk(self) -> None:
        """A bulk job was created or resumed: ask the workers for a bulk round (thread-safe)."""
        with self._lock:
            self._bulk = True
        super().wake()

    async def after_stop(self) -> None:
        """Hand over the ids still waiting, so a graceful stop leaves none to the sweeper."""
        while await self.run_once():
            pass

    async def run_once(self) -> int:
        with self._lock:
            ids = self._pending[: self.batch_size]
            del self._pending[: self.batch_size]
            sweep, self._sweep = self._sweep, False
            bulk, self._bulk = self._bulk, False
        handled = len(ids)
        if ids:
            await enqueue_ids(self.queue, self.database, ids)
        if sweep:
            await sweep_due(self.queue, self.database)
        if bulk:
            await kick_bulk(self.queue)
        return handled


class BulkKick:
    """What the bulk API wakes in distributed mode: the workers run the bulk rounds."""

    def __init__(self, notifier: QueueNotifier) -> None:
        self.notifier = notifier

    def wake(self) -> None:
        self.notifier.kick_bulk()
