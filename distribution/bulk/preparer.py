"""Bulk preparation in a child process, so rendering does not share the service's GIL.

Preflight and batch preparation are CPU-bound Python (Jinja renders), while delivering is
mostly waiting on the database and providers. In one process they take turns on one core; with
preparation in a child of its own they overlap on two. The child only runs ``begin_job`` and
``prepare_batch`` (each one or two transactions of its own), so a crash of either process leaves
the database as consistent as a crash between batches does.

The child takes seconds to be of use: spawning it imports the program again, and its render
pool's workers import it once more before the first template compiles. While it starts, a
job's first batch runs in this process instead (the service's render pool is up and its compiled
templates are cached), so a job's first messages never wait for it.

The child gets only its end of a pipe: when the service dies, even by SIGKILL, its next read
sees end-of-file and it exits. It is not a daemon process, because it starts a render pool of
its own (a slow-path recipient's MJML runs there, under the operator's limits) and daemon
processes may not have children. An in-memory SQLite database cannot be shared with a child, so
the work then runs in a thread of this process instead.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from distribution.bulk.prepare import begin_job, prepare_batch
from distribution.bulk.timing import add_phases, phase_seconds, reset_phases
from distribution.outbox import LinkSettings
from distribution.storage.db import Database
from distribution.template_store.render_pool import (
    RenderPool,
    RenderPoolLimits,
    close_render_pool,
    install_render_pool,
)

__all__ = ["Preparer", "PreparerError"]

_TASKS: dict[str, Callable[..., Any]] = {"begin_job": begin_job, "prepare_batch": prepare_batch}
_STOP_SECONDS = 10.0
#: Tasks run here while a child starts: a job's first batch. Later batches wait for the child:
#: run here they would take turns with the service's sends (and the job's row checks) on its
#: one interpreter lock, which slowed the whole job.
_HERE_WHILE_STARTING = 1


class PreparerError(RuntimeError):
    """The child failed a task, or died while running it (the task's transaction rolled back)."""


def _serve(connection: Connection, database_url: str, render_limits: RenderPoolLimits) -> None:
    """The child's loop: say ready, then run tasks until the parent says stop or goes away."""
    database = Database(database_url)
    pool = RenderPool(render_limits)
    install_render_pool(pool)
    try:
        # A first call starts the pool's workers: the first batch here then compiles at once.
        connection.send(("ready", pool.call(os.getpid), {}))
        while True:
            try:
                request = connection.recv()
            except EOFError:
                return
            if request is None:
                return
            name, args = request
            reset_phases()
            try:
                result = _TASKS[name](database, *args)
            except Exception as error:  # report it; the runner logs it and tries again later
                connection.send(("error", f"{type(error).__name__}: {error}", phase_seconds()))
            else:
                connection.send(("ok", result, phase_seconds()))
    except (BrokenPipeError, EOFError):
        return
    finally:
        close_render_pool(pool)
        database.dispose()


class Preparer:
    """Runs ``begin_job`` and ``prepare_batch`` in a child process (one task at a time)."""

    def __init__(
        self,
        database: Database,
        *,
        in_process: bool | None = None,
        render_limits: RenderPoolLimits | None = None,
    ) -> None:
        self.database = database
        self.render_limits = render_limits or RenderPoolLimits()
        memory = database.is_sqlite and ":memory:" in database.url
        self.in_process = memory if in_process is None else in_process
        self._lock = threading.Lock()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None
        self._ready = False
        self._ran_here = 0  # tasks run here since the child started

    def warm(self) -> None:
        """Start the child now (it imports for a few seconds) so it is ready for the batches."""
        if not self.in_process:
            with self._lock:
                self._child()

    def ready(self, timeout: float = 0.0) -> bool:
        """Whether tasks go to the child: it has started and said so (waiting up to ``timeout``
        seconds for that). Starts it if it is not running.

        Raises:
            PreparerError: The child died while starting.
        """
        if self.in_process:
            return False
        with self._lock:
            return self._child_ready(timeout)

    def begin_job(self, project_id: str, job_id: str, links: LinkSettings) -> str:
        """``prepare.begin_job`` (blocking: call it from a thread)."""
        return str(self._run("begin_job", project_id, job_id, links))

    def prepare_batch(
        self, project_id: str, job_id: str, links: LinkSettings, size: int
    ) -> tuple[str, int]:
        """``prepare.prepare_batch`` (blocking: call it from a thread)."""
        status, queued = self._run("prepare_batch", project_id, job_id, links, size)
        return str(status), int(queued)

    def close(self) -> None:
        """Ask the child to stop after its task, and wait for it."""
        with self._lock:
            process, connection = self._process, self._connection
            self._process = self._connection = None
            self._ready = False
        if process is None or connection is None:
            return
        with contextlib.suppress(OSError):  # the child may be gone already
            connection.send(None)
        process.join(_STOP_SECONDS)
        if process.is_alive():
            process.terminate()
            process.join(_STOP_SECONDS)
        connection.close()

    def _run(self, name: str, *args: Any) -> Any:
        if self.in_process:
            return _TASKS[name](self.database, *args)
        with self._lock:
            if not self._child_ready(0.0) and self._ran_here < _HERE_WHILE_STARTING:
                # Still starting: this task runs here, in a transaction of its own as it
                # would there, so the job does not wait for the child.
                self._ran_here += 1
                return _TASKS[name](self.database, *args)
            self._child_ready(None)
            connection = self._child()
            try:
                connection.send((name, args))
                kind, result, phases = connection.recv()
            except (EOFError, OSError) as error:
                self._forget_child()
                raise PreparerError(f"the preparation process died during {name}") from error
        add_phases(phases)
        if kind == "error":
            raise PreparerError(f"{name} failed in the preparation process: {result}")
        return result

    def _child_ready(self, timeout: float | None) -> bool:
        connection = self._child()
        if self._ready:
            return True
        try:
            if connection.poll(timeout):
                connection.recv()  # ("ready", pid, {}): the first message the child sends
                self._ready = True
        except (EOFError, OSError) as error:
            self._forget_child()
            raise PreparerError("the preparation process died while starting") from error
        return self._ready

    def _child(self) -> Connection:
        if self._connection is not None:
            return self._connection
        # "spawn": forking a process that runs threads and an event loop is unsafe.
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(theirs, self.database.url, self.render_limits),
            name="dm-bulk-preparer",
            daemon=False,
        )
        process.start()
        theirs.close()
        self._process, self._connection, self._ready, self._ran_here = process, ours, False, 0
        return ours

    def _forget_child(self) -> None:
        process, connection = self._process, self._connection
        self._process = self._connection = None
        self._ready = False
        if connection is not None:
            connection.close()
        if process is not None:
            process.join(_STOP_SECONDS)
