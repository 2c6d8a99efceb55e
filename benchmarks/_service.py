"""Running the service for a benchmark: a free port, a project's API credentials made with the
``dm`` command, and ``dm serve`` started, awaited and stopped.

Not a benchmark itself (the leading underscore keeps it out of tests/test_benchmarks.py).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

__all__ = ["BIN", "create_project", "free_port", "serving"]

#: The virtual environment's scripts (``dm``), beside the Python running the benchmark.
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def create_project(env: Mapping[str, str], name: str = "bench") -> dict[str, str]:
    """A new project in the service's database; the ``X-App-Id``/``X-App-Token`` headers."""
    created = subprocess.run(
        [BIN / "dm", "projects", "create", name],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    headers = {}
    for line in created.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("X-App-Id", "X-App-Token"):
            headers[key.strip()] = value.split()[0]
    return headers


@contextmanager
def serving(
    env: Mapping[str, str], log: IO[bytes] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``dm serve`` on ``env["DM_PORT"]``, once it answers ready; stopped afterwards."""
    output = log if log is not None else subprocess.DEVNULL
    service = subprocess.Popen([BIN / "dm", "serve"], env=env, stdout=output, stderr=output)
    url = f"http://127.0.0.1:{env['DM_PORT']}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or service.poll() is not None:
                raise SystemExit("the service did not start")
            time.sleep(0.1)
        yield service
    finally:
        service.terminate()
        service.wait(10)
