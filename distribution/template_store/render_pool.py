"""Renders of user-written source in a small pool of child processes with OS limits.

The sandbox bounds what a template can ask for, but MJML, the CSS inliner and the parsers
under them are native code that a hostile source can still crash (a deeply nested MJML body
overflows the MJML library's stack and kills the process with a segmentation fault). So
everything that runs them on source nobody has vetted yet runs here: previews, save and publish
checks, the expensive stage of a compile, and the per-recipient MJML of a slow-path version.
A per-recipient render of a compiled version only evaluates Jinja and stays in-process.

Each worker limits its own address space (``RLIMIT_AS``) and, per task, its CPU time
(``RLIMIT_CPU``); each task has a wall-clock timeout. A worker that crashes, runs out of time or
is killed is replaced by the pool (pebble), and the call raises `RenderLimitError` naming the
limit; workers are also replaced after a number of tasks, so memory creep cannot build up.

The composition root installs the process's pool (`install_render_pool`) and closes it on
shutdown; code that runs without one (a script, a test of the distribution layer) gets a pool
with the default limits on first use.
"""

from __future__ import annotations

import atexit
import math
import multiprocessing
import os
import resource
import signal
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from typing import Any, TypeVar

from pebble import ProcessExpired, ProcessPool

from templates import EmailPreview, EmailSource, RenderLimitError, SmsPreview, SmsSource
from templates import preview_email as _preview_email
from templates import preview_sms as _preview_sms
from templates.emails import EmailHtml, body_to_html, compile_email_html
from templates.errors import TemplateError
from templates.preview import PreviewError

__all__ = [
    "RenderPool",
    "RenderPoolLimits",
    "close_render_pool",
    "install_render_pool",
    "render_pool",
]

T = TypeVar("T")

_MB = 1024 * 1024


@dataclass(frozen=True)
class RenderPoolLimits:
    """How many workers, and what each task may use.

    Attributes:
        workers: Child processes rendering at once.
        memory_mb: Address space of each worker (``RLIMIT_AS``), in MiB.
        timeout_seconds: Wall-clock time of one task; its CPU time is capped one second above.
        tasks_per_worker: Tasks after which a worker is replaced by a fresh one.
    """

    workers: int = 2
    memory_mb: int = 512
    timeout_seconds: float = 5.0
    tasks_per_worker: int = 200


def _limited(error: str) -> RenderLimitError:
    return RenderLimitError(f"the template could not be rendered within the limits ({error})")


@dataclass(frozen=True)
class _Raised:
    """A `TemplateError` raised in a worker, carried as data: some error classes take
    keyword-only arguments and would not unpickle as exceptions."""

    kind: type[TemplateError]
    message: str
    state: dict[str, Any]

    def rebuild(self) -> TemplateError:
        error = self.kind.__new__(self.kind)
        Exception.__init__(error, self.message)
        error.__dict__.update(self.state)
        return error


@dataclass(frozen=True)
class _Limit:
    """A limit the worker caught itself (Python raised instead of the OS killing it)."""

    reason: str


#: Scheduling priority of render workers: a hostile render burning its CPU budget must not
#: starve the service's event loop (health checks, API answers) on a machine with few cores.
WORKER_NICENESS = 10


def _start_worker(memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    os.nice(WORKER_NICENESS)


def _run_task(
    cpu_seconds: float, memory_mb: int, function: Callable[..., T], args: tuple[Any, ...]
) -> T | _Raised | _Limit:
    # CPU time adds up over a worker's life, so each task gets its budget on top of what the
    # worker has used so far. Past it the kernel ends the worker (SIGXCPU) even if nobody is
    # left to enforce the wall-clock timeout.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(used + cpu_seconds), hard))
    try:
        return function(*args)
    except TemplateError as error:
        return _Raised(type(error), error.message, dict(error.__dict__))
    except MemoryError:
        return _Limit(f"it needed more than {memory_mb} MB of memory")
    except RecursionError:
        return _Limit("it is nested too deeply")


class RenderPool:
    """A few worker processes that run renders of user-written source under OS limits.

    Every call blocks its thread until the worker answers; callers are sync code in threads.
    """

    def __init__(self, limits: RenderPoolLimits | None = None) -> None:
        self.limits = limits or RenderPoolLimits()
        if self.limits.workers < 1:
            raise ValueError("a render pool needs at least one worker")
        # Never fork this process: it runs threads and an event loop.
        methods = multiprocessing.get_all_start_methods()
        method = "forkserver" if "forkserver" in methods else "spawn"
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            # The server imports this module once and each worker is forked from it: left to
            # themselves, workers import it (and the templates package) each, about 1 s of CPU.
            # (CPython 3.11 never hands the server the main module's path, so each worker still
            # imports that; only what it does not already import is saved there.) It counts
            # only before the server starts: the process's first pool, its only one outside tests.
            context.set_forkserver_preload(["__main__", __name__])
        self._pool = ProcessPool(
            max_workers=self.limits.workers,
            max_tasks=self.limits.tasks_per_worker,
            initializer=_start_worker,
            initargs=(self.limits.memory_mb * _MB,),
            context=context,
        )

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` in a worker; the function and its arguments must be picklable.

        Raises:
            RenderLimitError: The worker crashed, ran out of memory, time or nesting depth.
            TemplateError: What `function` raised, as it raised it.
        """
        limits = self.limits
        future = self._pool.schedule(
            _run_task,
            args=(limits.timeout_seconds + 1, limits.memory_mb, function, args),
            timeout=limits.timeout_seconds,
        )
        try:
            result: T | _Raised | _Limit = future.result()
        except FutureTimeoutError:
            raise _limited(f"it took longer than {limits.timeout_seconds:g} s") from None
        except ProcessExpired as error:
            raise _limited(_death(error.exitcode, limits)) from None
        except MemoryError:  # raised while the worker sent a huge result back
            raise _limited(f"it needed more than {limits.memory_mb} MB of memory") from None
        if isinstance(result, _Raised):
            raise result.rebuild()
        if isinstance(result, _Limit):
            raise _limited(result.reason)
        return result

    def preview_email(self, source: EmailSource, context: Mapping[str, Any]) -> EmailPreview:
        """`templates.preview_email` in a worker; a broken limit comes back in `errors`."""
        try:
            return self.call(_preview_email, source, dict(context))
        except TemplateError as error:
            return EmailPreview(errors=[PreviewError.from_error(error)])

    def preview_sms(self, source: SmsSource, context: Mapping[str, Any]) -> SmsPreview:
        """`templates.preview_sms` in a worker; a broken limit comes back in `errors`."""
        try:
            return self.call(_preview_sms, source, dict(context))
        except TemplateError as error:
            return SmsPreview(errors=[PreviewError.from_error(error)])

    def compile_email_html(self, source: EmailSource) -> EmailHtml:
        """The expensive stage of `templates.compile_email` (MJML, inlining) in a worker."""
        return self.call(compile_email_html, source)

    def body_to_html(self, rendered_body: str, body_format: str) -> str:
        """A slow-path recipient's MJML and inlining in a worker."""
        return self.call(body_to_html, rendered_body, body_format)

    def close(self) -> None:
        """Stop the workers (running tasks are abandoned) and wait for them."""
        self._pool.stop()  # type: ignore[no-untyped-call]
        self._pool.join(timeout=5)


def _death(exitcode: int | None, limits: RenderPoolLimits) -> str:
    if exitcode == -signal.SIGXCPU:
        return f"it used more than {limits.timeout_seconds + 1:g} s of CPU time"
    if exitcode == -signal.SIGKILL:
        return "the renderer was killed, most likely for using too much memory"
    return "the renderer crashed"


_installed: RenderPool | None = None
_installing = threading.Lock()


def install_render_pool(pool: RenderPool) -> None:
    """Make `pool` the one this process renders with."""
    global _installed
    with _installing:
        _installed = pool


def close_render_pool(pool: RenderPool) -> None:
    """Close `pool`; if it is the installed one, the next render starts a default one."""
    global _installed
    with _installing:
        if _installed is pool:
            _installed = None
    pool.close()


def render_pool() -> RenderPool:
    """The pool this process renders with: the installed one, else a default one (started now
    and closed at exit)."""
    global _installed
    with _installing:
        if _installed is None:
            _installed = RenderPool()
            atexit.register(_installed.close)
        return _installed
