"""Every benchmark script still starts, and the floors and the scale curves still measure.

The benchmarks are not run at full size by the tests (speed is measured by hand, never by timed
tests): each one is checked to import and parse its arguments, and the floors, the benchmarks
that print ours against their floor and ``scale.py`` run tiny, to check that their JSON line
carries what the documentation says (ours, the floor, the ratio) and that the plot is written.
No figure is compared with a speed: only that something was measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = sorted((ROOT / "benchmarks").glob("[!_]*.py"))
FLOORS = sorted((ROOT / "benchmarks" / "floors").glob("[!_]*.py"))


def _run(script: Path, *arguments: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def _figures(script: str, *arguments: str, timeout: float = 300) -> dict[str, Any]:
    """Run ``benchmarks/<script>`` tiny; the figures of its last line, which must be JSON."""
    answer = _run(ROOT / "benchmarks" / script, *arguments, timeout=timeout)
    assert answer.returncode == 0, answer.stderr[-4000:]
    figures: dict[str, Any] = json.loads(answer.stdout.splitlines()[-1])
    return figures


def _compares(figures: dict[str, Any]) -> None:
    """The JSON line holds ours, the floor and the ratio, each with something measured."""
    for key in ("ours", "floor", "ratio"):
        assert figures[key], f"{key} is empty: {figures}"


@pytest.mark.parametrize("script", BENCHMARKS + FLOORS, ids=lambda path: path.stem)
def test_the_benchmark_starts(script: Path) -> None:
    answer = _run(script, "--help", timeout=120)
    assert answer.returncode == 0, answer.stderr
    assert "usage:" in answer.stdout


def test_the_bare_route_floor_answers_every_post_and_get() -> None:
    figures = _figures("floors/bare_route.py", "--seconds", "0.5", "--clients", "4")
    assert figures["errors"] == 0
    assert figures["post_per_second"] > 0
    assert figures["get_per_second"] > 0
    assert figures["cpu_ms_per_post"] > 0


def test_the_bulk_floor_sends_every_message_on_the_migrated_schema() -> None:
    figures = _figures("floors/bulk_send.py", "--customers", "2500")  # two batches
    assert (figures["backend"], figures["sent"]) == ("sqlite", 2500)
    assert 0 < figures["first_sent_seconds"] < figures["seconds"]
    assert figures["peak_rss_mb"] > 0


@pytest.mark.skipif("TEST_DATABASE_URL" not in os.environ, reason="needs PostgreSQL")
def test_the_bulk_floor_runs_on_postgresql() -> None:
    figures = _figures("floors/bulk_send.py", "--customers", "50", "--backend", "postgresql")
    assert (figures["backend"], figures["sent"]) == ("postgresql", 50)


def test_the_customer_import_floor_checks_and_inserts_every_row() -> None:
    figures = _figures("floors/customer_import.py", "--rows", "60")
    assert (figures["rows"], figures["failed"]) == (60, 0)
    assert figures["cpu_ms_per_row"] > 0


def test_the_customer_import_reports_ours_the_floor_and_the_ratio() -> None:
    figures = _figures("customers.py", "--rows", "60", "--runs", "1")
    _compares(figures)
    assert figures["floor"]["rows"] == 60
    assert figures["ratio"]["rows_per_second"] > 0


@pytest.mark.slow
@pytest.mark.skipif("TEST_DATABASE_URL" not in os.environ, reason="needs PostgreSQL")
def test_the_distributed_bulk_reports_the_gain_of_each_added_worker() -> None:
    figures = _figures("bulk_distributed.py", "--workers", "1,2", "--customers", "40", timeout=600)
    _compares(figures)
    assert figures["ratio"]["vs_1_worker"]["1"] == 1.0
    assert set(figures["ratio"]["gain_per_added_worker"]) == {"2"}
    assert figures["floor"]["bulk_send"]["backend"] == "postgresql"
    assert all(run["worker_peak_rss_mb"] > 0 for run in figures["runs"])


def test_the_scale_curves_report_each_floor_and_plot_them(tmp_path: Path) -> None:
    """Bulk (with its floor) and events (with theirs) tiny, through ``scale.py``, and its plot."""
    picture = tmp_path / "scale.png"
    figures = _figures(
        "scale.py",
        "--sizes",
        "30",
        "--backends",
        "sqlite",
        "--distributions",
        "2",
        "--events-seconds",
        "1",
        "--plot",
        str(picture),
        timeout=600,
    )
    _compares(figures)
    assert set(figures["ratio"]) == {"bulk_sqlite_30", "events_2_distributions"}
    (bulk,) = figures["bulk"]
    assert bulk["first_message_seconds"] > 0
    assert bulk["ratio"]["messages_per_second"] > 0
    (events,) = figures["events"]
    assert events["messages_per_second"] == 2 * events["events_per_second"]
    assert events["lost"] == 0
    assert picture.read_bytes().startswith(b"\x89PNG")
