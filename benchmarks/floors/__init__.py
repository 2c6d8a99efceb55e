"""Floors: the least work each benchmark's job could possibly take, measured in the same run.

Each module does exactly that minimum (same schema, same data) and is runnable alone, ending with
one JSON line like the benchmarks. A benchmark runs its floor in a process of its own with
``run_floor`` so that the floor's CPU time and peak memory are its own, then prints ours, the
floor and their ratio: the ratio survives a noisy host where the rates alone do not.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["ROOT", "last_json", "peak_rss_mb", "ratio", "run_floor", "run_script"]

ROOT = Path(__file__).resolve().parent.parent.parent


def last_json(output: str) -> dict[str, Any]:
    """The figures a benchmark or floor printed: its last line, one JSON object."""
    lines = [line for line in output.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"no JSON line in the output:\n{output[-2000:]}")
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


def run_floor(name: str, *arguments: str, timeout: float = 3600) -> dict[str, Any]:
    """Run ``benchmarks/floors/<name>.py`` in a new process; the figures of its JSON line."""
    return run_script(Path(__file__).resolve().parent / f"{name}.py", *arguments, timeout=timeout)


def run_script(script: Path, *arguments: str, timeout: float | None = None) -> dict[str, Any]:
    """Run a benchmark or floor to its end in a new process; the figures of its JSON line."""
    done = subprocess.run(
        [sys.executable, str(script), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{script.name} failed:\n{done.stderr[-4000:]}")
    return last_json(done.stdout)


def ratio(ours: float | None, floor: float | None) -> float | None:
    """How many times the floor ours is (rounded); None when either is missing or zero."""
    return round(ours / floor, 2) if ours and floor else None


def peak_rss_mb(pid: int | str = "self") -> float:
    """A process's peak resident memory (``VmHWM``), in MB.

    Not ``getrusage``: its ``ru_maxrss`` survives ``exec``, so a floor started by a benchmark
    would report the benchmark's own peak when that was higher.
    """
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")
