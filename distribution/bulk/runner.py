"""The bulk runner: an asyncio task of the embedded service that moves bulk jobs along.

It finds its work in the database (due ``scheduled`` jobs, ``preparing`` and ``sending`` ones),
so a restarted service picks up where the last one stopped. A job's preflight runs in a thread
here while the preparation process (``Preparer``) starts; its batches run in that process, each
in transactions of its own. Pause and cancel take effect between batches. The worker is woken
after each batch, so delivering overlaps with preparing the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from distribution.bulk.prepare import begin_job, due_jobs, finish_if_sent
from distribution.bulk.preparer import Preparer
from distribution.outbox import LinkSettings
from distribution.storage.db import Database
from distribution.storage.polling_loop import PollingLoop
from distribution.template_store.render_pool import RenderPoolLimits

__all__ = ["BulkRunner"]


class BulkRunner(PollingLoop):
    """Starts, prepares and completes bulk jobs until stopped."""

    name = "bulk-runner"

    def __init__(
        self,
        database: Database,
        links: LinkSettings,
        wake_worker: Callable[[], None],
        *,
        batch_size: int = 2000,
        poll_interval: float = 1.0,
        shutdown_grace: float = 60.0,
        preparer: Preparer | None = None,
        render_limits: RenderPoolLimits | None = None,
    ) -> None:
        super().__init__(poll_interval=poll_interval, shutdown_grace=shutdown_grace)
        self.database = database
        self.preparer = preparer or Preparer(database, render_limits=render_limits)
        self.links = links
        self.wake_worker = wake_worker
        self.batch_size = batch_size

    async def after_stop(self) -> None:
        """Stop the preparation process (a batch in flight has committed or rolled back whole)."""
        await asyncio.to_thread(self.preparer.close)

    async def run_once(self) -> int:
        """One step of every job with work; how many jobs moved on."""
        worked = 0
        for project_id, job_id, status in await asyncio.to_thread(due_jobs, self.database):
            if self._stopping:
                break
            if status == "scheduled":
                # The preflight runs here while the preparation process starts up beside it.
                self.preparer.warm()
                await asyncio.to_thread(begin_job, self.database, project_id, job_id, self.links)
                worked += 1
            elif status == "preparing":
                _status, queued = await asyncio.to_thread(
                    self.preparer.prepare_batch, project_id, job_id, self.links, self.batch_size
                )
                if queued:
                    self.wake_worker()
                worked += 1
            else:
                await asyncio.to_thread(finish_if_sent, self.database, project_id, job_id)
        return worked
