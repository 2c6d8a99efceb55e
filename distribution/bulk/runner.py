"""The bulk runner: an asyncio task of the embedded service that moves bulk jobs along.

It finds its work in the database (due ``scheduled`` jobs, ``preparing`` and ``sending`` ones),
so a restarted service picks up where the last one stopped. A job's refusing checks run in a
thread here while the preparation process (``Preparer``) starts; its batches run in that
process, each in transactions of its own. The checks of every row run in a thread here from
the first batch on, beside the batches on the other core, and the job waits for them only
once every recipient is prepared (it turns ``sending`` after them). Pause and cancel take
effect between batches. The worker is woken after each batch, so delivering overlaps with
preparing the next one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from distribution.bulk.prepare import begin_job, check_rows, due_jobs, finish_if_sent
from distribution.bulk.preparer import Preparer
from distribution.outbox import LinkSettings
from distribution.storage.db import Database
from distribution.storage.polling_loop import PollingLoop
from distribution.template_store.render_pool import RenderPoolLimits

__all__ = ["BulkRunner"]

_log = logging.getLogger(__name__)


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
        # The row checks of each ``preparing`` job, started by this runner (one per job).
        self._checks: dict[str, asyncio.Task[str]] = {}

    async def after_stop(self) -> None:
        """Stop the preparation process (a batch in flight has committed or rolled back whole)."""
        for task in self._checks.values():
            # A walk only reads until its last short transaction: waiting costs no consistency.
            await asyncio.wait({task})
        self._checks.clear()
        await asyncio.to_thread(self.preparer.close)

    async def run_once(self) -> int:
        """One step of every job with work; how many jobs moved on."""
        worked = 0
        due = await asyncio.to_thread(due_jobs, self.database)
        self._forget_checks({job_id for _p, job_id, status in due if status == "preparing"})
        for project_id, job_id, status in due:
            if self._stopping:
                break
            if status == "scheduled":
                # The preflight runs here while the preparation process starts up beside it.
                self.preparer.warm()
                await asyncio.to_thread(begin_job, self.database, project_id, job_id, self.links)
                worked += 1
            elif status == "preparing":
                status, queued = await asyncio.to_thread(
                    self.preparer.prepare_batch, project_id, job_id, self.links, self.batch_size
                )
                # After the batch, so that the first one (run here while the preparation
                # process starts) does not take turns with the walk on this interpreter.
                checks = self._check(project_id, job_id)
                if queued:
                    self.wake_worker()
                elif status == "preparing" and not checks.done():
                    await asyncio.wait({checks})  # every row prepared: the job waits for it
                if not _failed(checks):  # a failed walk is tried again after poll_interval
                    worked += 1
            else:
                await asyncio.to_thread(finish_if_sent, self.database, project_id, job_id)
        return worked

    def _check(self, project_id: str, job_id: str) -> asyncio.Task[str]:
        """The job's row checks, started now in a thread unless already running or done."""
        task = self._checks.get(job_id)
        if task is None or _failed(task):
            task = asyncio.create_task(
                asyncio.to_thread(check_rows, self.database, project_id, job_id, self.links)
            )
            self._checks[job_id] = task
        return task

    def _forget_checks(self, preparing: set[str]) -> None:
        """Drop the finished checks of jobs no longer ``preparing``."""
        for job_id in [j for j, t in self._checks.items() if t.done() and j not in preparing]:
            self._checks.pop(job_id)


def _failed(task: asyncio.Task[str]) -> bool:
    """Whether the row checks ended in an error (logged here, once per call)."""
    if not task.done() or task.cancelled() or task.exception() is None:
        return False
    _log.error("row checks of a bulk job failed", exc_info=task.exception())
    return True
