"""The bulk runner: an asyncio task of the embedded service that moves bulk jobs along.

It finds its work in the database (due ``scheduled`` jobs, ``preparing`` and ``sending`` ones),
so a restarted service picks up where the last one stopped. A job's preflight runs in a thread
here while the preparation process (``Preparer``) starts; its batches run in that process, each
in transactions of its own. Pause and cancel take effect between batches. The worker is woken
after each batch, so delivering overlaps with preparing the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from distribution.bulk.prepare import begin_job, due_jobs, finish_if_sent
from distribution.bulk.preparer import Preparer
from distribution.outbox import LinkSettings
from distribution.storage.db import Database
from distribution.template_store.render_pool import RenderPoolLimits

__all__ = ["BulkRunner"]

log = logging.getLogger("distribution.bulk")


class BulkRunner:
    """Starts, prepares and completes bulk jobs until stopped."""

    def __init__(
        self,
        database: Database,
        links: LinkSettings,
        wake_worker: Callable[[], None],
        *,
        batch_size: int = 2000,
        poll_interval: float = 1.0,
        preparer: Preparer | None = None,
        render_limits: RenderPoolLimits | None = None,
    ) -> None:
        self.database = database
        self.preparer = preparer or Preparer(database, render_limits=render_limits)
        self.links = links
        self.wake_worker = wake_worker
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Start the loop (jobs left by a previous process are found in the database)."""
        self._stopping = False
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="bulk-runner")

    def wake(self) -> None:
        """Look for work now (thread-safe)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        """Stop after the batch in flight (its transaction commits or rolls back whole)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self.preparer.close)

    async def run_once(self) -> bool:
        """One step of every job with work; whether anything was prepared or started."""
        worked = False
        for project_id, job_id, status in await asyncio.to_thread(due_jobs, self.database):
            if self._stopping:
                break
            if status == "scheduled":
                # The preflight runs here while the preparation process starts up beside it.
                self.preparer.warm()
                await asyncio.to_thread(begin_job, self.database, project_id, job_id, self.links)
                worked = True
            elif status == "preparing":
                _status, queued = await asyncio.to_thread(
                    self.preparer.prepare_batch, project_id, job_id, self.links, self.batch_size
                )
                if queued:
                    self.wake_worker()
                worked = True
            else:
                await asyncio.to_thread(finish_if_sent, self.database, project_id, job_id)
        return worked

    async def _run(self) -> None:
        while not self._stopping:
            try:
                worked = await self.run_once()
            except Exception:  # keep running: the job's state is in the database
                log.exception("bulk round failed")
                worked = False
            if worked:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
