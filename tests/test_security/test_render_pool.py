"""The render pool: a worker that crashes, overruns or runs out of memory is reported and
replaced, and the next task is answered by a fresh worker."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator

import pytest

from distribution.template_store.render_pool import RenderPool, RenderPoolLimits
from templates import EmailSource, RenderLimitError, TemplateSyntaxError


def _pid() -> int:
    return os.getpid()


def _segfault() -> bytes:
    return ctypes.string_at(0)


def _grow() -> bytes:
    return bytes(1024 * 1024 * 1024)


def _spin() -> None:
    while True:
        pass


@pytest.fixture(scope="module")
def pool() -> Iterator[RenderPool]:
    pool = RenderPool(RenderPoolLimits(workers=1, memory_mb=512, timeout_seconds=1.0))
    yield pool
    pool.close()


@pytest.mark.parametrize(
    ("task", "reason"),
    [
        (_segfault, "the renderer crashed"),
        (_grow, "more than 512 MB of memory"),
        (_spin, "took longer than 1 s"),
    ],
)
def test_a_broken_limit_is_an_error_and_the_next_task_gets_a_fresh_worker(
    pool: RenderPool, task: object, reason: str
) -> None:
    before = pool.call(_pid)
    with pytest.raises(RenderLimitError, match=reason) as caught:
        pool.call(task)  # type: ignore[arg-type]
    assert "could not be rendered within the limits" in caught.value.message
    after = pool.call(_pid)
    assert after != os.getpid()
    if task is not _grow:  # a MemoryError leaves the worker usable; the others end it
        assert after != before


def test_a_worker_is_replaced_after_its_tasks() -> None:
    pool = RenderPool(RenderPoolLimits(workers=1, tasks_per_worker=2))
    try:
        pids = [pool.call(_pid) for _ in range(4)]
    finally:
        pool.close()
    assert pids[0] == pids[1] != pids[2] == pids[3]


def test_a_template_error_comes_back_as_raised(pool: RenderPool) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        pool.compile_email_html(EmailSource(subject="s", body="<mjml><mj-body><mj-text>"))
    assert caught.value.line >= 1
