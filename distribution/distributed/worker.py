"""Running a procrastinate worker: ``dm worker``, or one inside an API process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import procrastinate

from distribution.distributed.tasks import RUNTIME, WorkerRuntime

__all__ = ["InProcessWorker", "run_worker"]


async def run_worker(
    queue: procrastinate.App,
    runtime: WorkerRuntime,
    *,
    concurrency: int,
    queues: Sequence[str],
    shutdown_grace: float,
    install_signal_handlers: bool = True,
    wait: bool = True,
) -> None:
    """Run jobs until stopped (SIGTERM/SIGINT when ``install_signal_handlers``, or cancel), or
    without ``wait`` until the queues are empty.

    Stopping takes no new job and waits up to ``shutdown_grace`` seconds for the jobs in
    flight, then aborts them: an aborted batch records the answers it has and puts its unsent
    rows back to ``queued``. ``queue`` must be open.
    """
    await queue.run_worker_async(
        concurrency=concurrency,
        queues=list(queues),
        additional_context={RUNTIME: runtime},
        shutdown_graceful_timeout=shutdown_grace,
        install_signal_handlers=install_signal_handlers,
        wait=wait,
        # Jobs are wake-up calls; the delivery rows keep the history.
        delete_jobs="successful",
        # Scheduled jobs (retries, later sends) are noticed by polling, not by NOTIFY.
        fetch_job_polling_interval=1.0,
    )


class InProcessWorker:
    """A worker as a task of a running event loop (an API process that also works)."""

    def __init__(
        self,
        queue: procrastinate.App,
        runtime: WorkerRuntime,
        *,
        concurrency: int,
        queues: Sequence[str],
        shutdown_grace: float,
    ) -> None:
        self.queue = queue
        self.runtime = runtime
        self.concurrency = concurrency
        self.queues = queues
        self.shutdown_grace = shutdown_grace
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(
            run_worker(
                self.queue,
                self.runtime,
                concurrency=self.concurrency,
                queues=self.queues,
                shutdown_grace=self.shutdown_grace,
                install_signal_handlers=False,  # the server owns the signals
            ),
            name="procrastinate-worker",
        )

    async def stop(self) -> None:
        """Stop gracefully: procrastinate turns the cancel into its own stop."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
