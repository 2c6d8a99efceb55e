"""Every benchmark script still starts: a renamed helper must not break one silently.

The benchmarks are not run by the tests (speed is measured by hand, never by timed tests), so
this only checks that each one imports and parses its arguments.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parent.parent / "benchmarks").glob("[!_]*.py"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda path: path.stem)
def test_the_benchmark_starts(script: Path) -> None:
    answer = subprocess.run(
        [sys.executable, str(script), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=script.parent.parent,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    assert "usage:" in answer.stdout
