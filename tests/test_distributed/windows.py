"""Counting timestamps over sliding windows: how rate limits are checked."""

from __future__ import annotations

__all__ = ["most_in_any_window"]


def most_in_any_window(stamps: list[float], window: float) -> int:
    """The largest number of stamps within ``window`` seconds of one another."""
    ordered = sorted(stamps)
    best = 0
    end = 0
    for start, first in enumerate(ordered):
        while end < len(ordered) and ordered[end] <= first + window:
            end += 1
        best = max(best, end - start)
    return best
