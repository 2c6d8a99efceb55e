"""``dm worker`` processes on one PostgreSQL schema, and a bulk invite for them to send.

Shared by the multi-worker tests and ``benchmarks/bulk_distributed.py``: the workers are real
subprocesses (``DM_MODE=distributed``), the API is the app built in this process in distributed
mode without a worker of its own, so only the subprocesses send.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from litestar.testing import TestClient
from sqlalchemy import func
from sqlmodel import col, select

from distribution.customers.store import upsert_customers
from distribution.models import Delivery
from distribution.storage.db import Database
from distribution.storage.migrate import upgrade_queue
from web.app import create_app
from web.settings import Settings

__all__ = [
    "SECRET_KEY",
    "Invite",
    "WorkerFleet",
    "add_customers",
    "api_client",
    "delivery_counts",
    "post_invite",
    "prepare_invite",
    "start_invite",
]

DM = str(Path(sys.executable).with_name("dm"))
SECRET_KEY = "distributed-test-secret"
CUSTOMER_BATCH = 5000


def _environment(database_url: str, data_dir: Path, extra: Mapping[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DM_MODE": "distributed",
        "DM_DATA_DIR": str(data_dir),
        "DM_SECRET_KEY": SECRET_KEY,
        "DM_LOG_LEVEL": "WARNING",
        "DM_ALLOW_PRIVATE_NETWORKS": "true",
        **extra,
    }


class WorkerFleet:
    """``count`` ``dm worker`` subprocesses; ``extra`` adds or overrides their environment."""

    def __init__(
        self, database_url: str, data_dir: Path, count: int, extra: Mapping[str, str] = {}
    ) -> None:
        self.env = _environment(database_url, data_dir, extra)
        self.log_path = data_dir / "workers.log"
        self.count = count
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        """Start the workers (they take jobs as soon as they are up)."""
        with self.log_path.open("ab") as log:
            self.processes = [
                subprocess.Popen([DM, "worker"], env=self.env, stdout=log, stderr=subprocess.STDOUT)
                for _ in range(self.count)
            ]

    def kill(self, index: int) -> None:
        """SIGKILL one worker: no shutdown code runs, as in a power cut."""
        process = self.processes[index]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def running(self) -> int:
        """How many of the workers are still alive."""
        return sum(process.poll() is None for process in self.processes)

    def stop(self) -> None:
        """SIGTERM every live worker (graceful stop), SIGKILL any that does not stop."""
        live = [process for process in self.processes if process.poll() is None]
        for process in live:
            process.terminate()
        for process in live:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)

    def log(self) -> str:
        """What the workers wrote (for a failing test's message)."""
        return self.log_path.read_text(errors="replace")[-4000:]

    def __enter__(self) -> WorkerFleet:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextmanager
def api_client(database_url: str, data_dir: Path) -> Iterator[TestClient[Any]]:
    """The API in distributed mode, enqueuing only (no worker in this process)."""
    settings = Settings(
        database_url=database_url,
        data_dir=data_dir,
        secret_key=SECRET_KEY,
        mode="distributed",
        run_worker=False,
        log_level="WARNING",
        # The fakes the workers call listen on 127.0.0.1, as DM_ALLOW_PRIVATE_NETWORKS allows.
        allow_private_networks=True,
    )
    database = Database(database_url)
    try:
        # What `dm migrate` does in distributed mode: the job queue's tables beside ours.
        upgrade_queue(database.engine)
    finally:
        database.dispose()
    with TestClient(create_app(settings), timeout=60) as client:
        yield client


def add_customers(database: Database, project_id: str, count: int) -> None:
    """``count`` customers of the segment ``start_invite`` sends to, written directly."""
    for start in range(0, count, CUSTOMER_BATCH):
        rows = [
            {
                "source_id": f"r{n}",
                "name": f"Reader {n}",
                "email": f"r{n}@example.com",
                "metadata": {"wave": "one"},
            }
            for n in range(start, min(count, start + CUSTOMER_BATCH))
        ]
        with database.session() as session:
            upsert_customers(session, project_id, rows, default_region="US")


def _created(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code in (200, 201, 202), answer.text
    body: dict[str, Any] = answer.json()
    return body


@dataclass(frozen=True)
class Invite:
    """A started bulk send."""

    job_id: str
    recipients: int


def prepare_invite(client: httpx.Client, provider: str, recipients: int) -> dict[str, Any]:
    """A template, a campaign with ``recipients`` codes and a segment of every customer: the
    body of a bulk send inviting them all through ``provider`` at once."""
    template = _created(
        client.post(
            "/v1/templates",
            json={
                "name": "invite",
                "channel": "email",
                "category": "transactional",
                "subject": "Invite",
                "body_format": "html",
                "body": "<p>{{ code.code }}</p>",
            },
        )
    )
    draft = template["variants"][0]["latest_draft"]["id"]
    _created(client.post(f"/v1/templates/{template['id']}/publish", json={"version_id": draft}))
    campaign = _created(client.post("/v1/campaigns", json={"name": "Invite"}))["id"]
    pool = _created(client.post("/v1/code-pools", json={"campaign": campaign, "name": "main"}))
    generated = _created(
        client.post(
            f"/v1/code-pools/{pool['id']}/codes/generate",
            json={"count": recipients, "length": 12},
        )
    )
    assert generated["added"] == recipients, generated
    segment = _created(
        client.post(
            "/v1/segments",
            json={"name": "wave", "filter": {"field": "metadata.wave", "op": "eq", "value": "one"}},
        )
    )["id"]
    return {
        "campaign": campaign,
        "audience": {"segment": segment},
        "channels": [{"channel": "email", "template": template["id"], "provider": provider}],
        "send_delay_seconds": 0,
    }


def post_invite(client: httpx.Client, request: dict[str, Any], recipients: int) -> Invite:
    """Start the bulk send ``prepare_invite`` described."""
    job = _created(client.post("/v1/bulk-sends", json=request))
    return Invite(job_id=str(job["id"]), recipients=recipients)


def start_invite(client: httpx.Client, provider: str, recipients: int) -> Invite:
    """Invite every customer of the project (a code each) through ``provider``, at once."""
    return post_invite(client, prepare_invite(client, provider, recipients), recipients)


def delivery_counts(database: Database, job_id: str) -> dict[str, int]:
    """The job's deliveries by status."""
    with database.reader() as session:
        rows = session.exec(
            select(Delivery.status, func.count())
            .where(col(Delivery.bulk_job_id) == job_id)
            .group_by(col(Delivery.status))
        ).all()
    return {str(status): int(count) for status, count in rows}
