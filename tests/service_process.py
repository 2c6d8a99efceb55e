"""The real service as a subprocess, for crash tests: ``dm serve`` started, SIGKILLed, restarted.

Also the few things such tests do over its HTTP API: read a project's key from ``dm projects
create``, wait for a condition with a bound, and page through every message.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.test_providers.fakes.smtp_server import free_port

__all__ = ["LEASE", "Service", "all_messages", "api_credentials", "wait_until"]

#: Lease of a claimed delivery in the subprocess: short, so a restart soon finds a dead
#: process's claims abandoned.
LEASE = 4.0
DM = str(Path(sys.executable).with_name("dm"))


class Service:
    """``dm serve`` as a subprocess, on a SQLite file in ``data_dir`` unless given a database."""

    def __init__(self, data_dir: Path, database_url: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DM_DATA_DIR": str(data_dir),
            "DM_PORT": str(self.port),
            "DATABASE_URL": database_url or f"sqlite:///{data_dir / 'dm.sqlite3'}",
            "DM_SECRET_KEY": "crash-test-secret",
            "DM_LEASE_SECONDS": str(LEASE),
            "DM_LOG_LEVEL": "WARNING",
            # The local fakes the service calls listen on 127.0.0.1.
            "DM_ALLOW_PRIVATE_NETWORKS": "true",
        }
        self.log = (data_dir / "service.log").open("ab")
        self.process: subprocess.Popen[bytes] | None = None

    def run(self, *args: str) -> str:
        """Run a ``dm`` command against the same database; its standard output."""
        done = subprocess.run(
            [DM, *args], env=self.env, capture_output=True, text=True, timeout=120, check=True
        )
        return done.stdout

    def start(self) -> None:
        """Start serving and wait until it answers ready."""
        self.process = subprocess.Popen(
            [DM, "serve"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        # Generous: on a loaded machine start-up (imports, migrations check) takes a while.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the service did not start")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut or an OOM kill."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Terminate a running process (killed if it does not stop) and close the log."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self.log.close()


def api_credentials(output: str) -> dict[str, str]:
    """The ``X-App-Id`` and ``X-App-Token`` headers from ``dm projects create``'s output."""
    found = {}
    for line in output.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("X-App-Id", "X-App-Token"):
            found[name.strip()] = value.split()[0]
    return found


def wait_until(
    done: Callable[[], bool],
    failure: str | Callable[[], str],
    limit: float = 120.0,
    interval: float = 0.1,
) -> None:
    """Poll ``done`` until true; a bound, so a broken service fails the test instead of hanging.

    ``failure`` may be a callable, to describe the state found at the deadline.
    """
    deadline = time.monotonic() + limit
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(failure() if callable(failure) else failure)
        time.sleep(interval)


def all_messages(client: httpx.Client, **filters: str) -> list[dict[str, Any]]:
    """Every message of the client's project matching ``filters`` (query parameters)."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100, **filters}
    while True:
        answer = client.get("/v1/messages", params=params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        found += page["messages"]
        if not page["next_cursor"]:
            return found
        params["starting_after"] = page["next_cursor"]
