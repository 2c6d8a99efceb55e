"""The periodic jobs tick at their intervals (procrastinate reads cron with croniter, whose
sixth field is the second). Built without a database: nothing here connects."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from distribution.distributed.app import build_queue_app


def _ticks(periodic_id: str, **intervals: int) -> list[timedelta]:
    app = build_queue_app("postgresql+psycopg://dm@127.0.0.1/dm", **intervals)
    [task] = [
        t for t in app.periodic_registry.periodic_tasks.values() if t.periodic_id == periodic_id
    ]
    cron = task.croniter
    start = datetime(2027, 3, 28, 10, 1, 7)
    moments = [cron.get_next(datetime, start)]
    for _ in range(5):
        moments.append(cron.get_next(datetime))
    return [later - earlier for earlier, later in pairwise(moments)]


@pytest.mark.parametrize("seconds", [1, 5, 20])
def test_the_sweeper_runs_every_sweep_interval(seconds: int) -> None:
    assert set(_ticks("sweeper", sweep_interval=seconds)) == {timedelta(seconds=seconds)}


@pytest.mark.parametrize("seconds", [1, 30, 60])
def test_the_scheduler_runs_every_schedule_interval(seconds: int) -> None:
    assert set(_ticks("scheduler", schedule_interval=seconds)) == {timedelta(seconds=seconds)}
