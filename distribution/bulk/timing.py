"""Where a bulk job's time goes: per-phase totals of this process, for benchmarks and logs.

Preparation is several phases interleaved per batch (assignment, rendering, inserting), so
wall-clock stamps on rows cannot separate them; each phase adds its own duration here instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["PHASES", "add_phases", "phase", "phase_seconds", "reset_phases"]

PHASES = ("preflight", "assignment", "rendering", "inserting")
_totals = dict.fromkeys(PHASES, 0.0)


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Add the time spent in the block to the phase ``name``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        _totals[name] += time.perf_counter() - started


def phase_seconds() -> dict[str, float]:
    """The per-phase totals so far (seconds, this process)."""
    return dict(_totals)


def reset_phases() -> None:
    """Start counting from zero."""
    for name in PHASES:
        _totals[name] = 0.0


def add_phases(seconds: dict[str, float]) -> None:
    """Add totals measured elsewhere (the preparation process) to this process's."""
    for name, value in seconds.items():
        if name in _totals:
            _totals[name] += value
