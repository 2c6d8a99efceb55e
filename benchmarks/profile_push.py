"""A bulk push of N customers' codes onto Braze profiles (`braze_attributes`), end to end.

The real app in-process (``create_app``, embedded worker and bulk runner, SQLite default) sends a
bulk job's profile channel to the strict Braze fake served by a process of its own: N customers,
a campaign with N codes, ``POST /v1/bulk-sends`` until the job is done. The rate is customers
per second from the request to the last row's ``sent_at``. The fake then reports what it
received: every customer must have been written exactly once.

Baseline in the same run: the delivery alone (claim, send, record; the embedded worker's loop) of
``--baseline-customers`` prepared profile rows, once through the sync's ``sync_many`` (75 objects
a call) and once row by row through ``sync()`` (one call each, 8 in flight as the service's
default concurrency allows), so the ratio of the two paths shows.

    PYTHONPATH=. .venv/bin/python benchmarks/profile_push.py [--customers 100000]
        [--baseline-customers 5000] [--faults 0.0] [--profile FILE]

``--faults 0.3`` makes the fake answer 30% of calls 429/500/503 (retried after a short backoff).
``--profile FILE`` writes a cProfile of the batched delivery-only run (the service's own event
loop runs in a thread cProfile does not follow).
Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run from the repository root: benchmarks/providers.py would shadow the providers package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from litestar.testing import TestClient  # noqa: E402
from sqlmodel import col, func, select  # noqa: E402

from benchmarks.bulk import _cpu_seconds, _create_customers, _per_message, _seconds  # noqa: E402
from benchmarks.providers import free_port, wait_for_port  # noqa: E402
from distribution.bulk import get_job  # noqa: E402
from distribution.bulk.timing import phase_seconds, reset_phases  # noqa: E402
from distribution.models import Delivery, utcnow  # noqa: E402
from distribution.outbox.delivery import DeliveryPolicy  # noqa: E402
from distribution.outbox.worker import EmbeddedWorker  # noqa: E402
from distribution.storage.db import Database  # noqa: E402
from distribution.storage.ids import new_id  # noqa: E402
from distribution.storage.migrate import upgrade  # noqa: E402
from providers import Sync  # noqa: E402
from providers.address_guard import AddressGuard  # noqa: E402
from providers.braze_attributes import BrazeAttributesConfig, BrazeAttributesSync  # noqa: E402
from providers.http_transport import guarded_client  # noqa: E402
from providers.resilient import ResilientSync, resilient_sync  # noqa: E402
from tests.conftest import make_project  # noqa: E402
from tests.test_distribution.engine_helpers import OneAtATime  # noqa: E402
from tests.test_providers.fakes import braze  # noqa: E402
from web.app import create_app  # noqa: E402
from web.settings import Settings  # noqa: E402

# The fake Braze in a process of its own (uvicorn with httptools and uvloop), with the fault
# rate asked for; `GET /_fake/summary` reports what it wrote.
SERVE_FAKE = """
import sys, uvicorn
from tests.test_providers.fakes.braze import FakeBraze
app = FakeBraze()
if float(sys.argv[2]) > 0:
    app.flaky(float(sys.argv[2]), seed=1)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False, lifespan="off", http="httptools", loop="uvloop")
"""
# As the service's default for a provider (DEFAULT_CONCURRENCY in the registry).
CONCURRENCY = 8
QUICK_RETRIES = {"retry_backoff": 0.2, "retry_max_backoff": 2.0, "max_attempts": 30}


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--baseline-customers", type=int, default=5_000)
    parser.add_argument("--faults", type=float, default=0.0)
    parser.add_argument("--profile", type=Path, default=None)
    return parser.parse_args(argv)


@contextlib.contextmanager
def _fake(faults: float) -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE_FAKE, str(port), str(faults)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


def _summary(url: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/_fake/summary", timeout=30)
    answer.raise_for_status()
    summary: dict[str, Any] = answer.json()
    return summary


def _settings(folder: Path, **overrides: Any) -> Settings:
    return Settings(
        database_url=f"sqlite:///{folder / 'dm.sqlite3'}",
        data_dir=folder,
        secret_key="bench",
        worker_poll_interval=0.2,
        log_level="WARNING",
        allow_private_networks=True,  # the fake listens on 127.0.0.1
        **overrides,
    )


def run_end_to_end(count: int, url: str, faults: float) -> dict[str, Any]:
    """One bulk job of ``count`` customers through the Braze attributes channel; its figures."""
    folder = Path(tempfile.mkdtemp(prefix="dm-profile-push-"))
    app = create_app(_settings(folder, **(QUICK_RETRIES if faults else {})))
    database: Database = app.state.database
    creds = make_project(database)
    project_id = creds.project.id
    setup_customers = _create_customers(database, project_id, count)
    with TestClient(app) as client:
        client.headers.update(creds.headers)
        client.post(
            "/v1/providers",
            json={
                "name": "attrs",
                "kind": "braze_attributes",
                "config": {"api_key": braze.API_KEY, "base_url": url},
            },
        ).raise_for_status()
        campaign = client.post(
            "/v1/campaigns",
            json={"name": "Bench", "referral_url_template": "https://shop.example.com/r/{code}"},
        ).json()["id"]
        pool = client.post("/v1/code-pools", json={"campaign": campaign, "name": "p"}).json()["id"]
        client.post(
            f"/v1/code-pools/{pool}/codes/generate", json={"count": count, "length": 12}
        ).raise_for_status()
        segment = client.post(
            "/v1/segments",
            json={"name": "wave", "filter": {"field": "metadata.wave", "op": "eq", "value": "one"}},
        ).json()["id"]
        reset_phases()
        cpu_before = _cpu_seconds()
        requested = utcnow()
        answer = client.post(
            "/v1/bulk-sends",
            json={
                "campaign": campaign,
                "audience": {"segment": segment},
                "channels": [{"channel": "profile", "provider": "attrs"}],
                "send_delay_seconds": 0,
            },
        )
        answer.raise_for_status()
        job_id = answer.json()["id"]
        while True:
            time.sleep(0.2)
            with database.reader() as session:
                job = get_job(session, project_id, job_id)
            if job.status in ("completed", "failed", "cancelled"):
                break
    cpu_after = _cpu_seconds()
    phases = phase_seconds()
    with database.reader() as session:
        first_sent, last_sent, sent, attempts = session.exec(
            select(
                func.min(Delivery.sent_at),
                func.max(Delivery.sent_at),
                func.count(col(Delivery.sent_at)),
                func.max(Delivery.attempts),
            ).where(Delivery.bulk_job_id == job_id)
        ).one()
    end_to_end = _seconds(last_sent, requested) or 0.0
    return {
        "customers": count,
        "faults": faults,
        "status": job.status,
        "sent": sent,
        "max_attempts_of_a_row": attempts,
        "first_sent_seconds": round(_seconds(first_sent, requested) or 0.0, 2),
        "rendering_seconds": round(phases["rendering"], 2),
        "inserting_seconds": round(phases["inserting"], 2),
        "delivering_seconds": round(_seconds(last_sent, first_sent) or 0.0, 2),
        "end_to_end_seconds": round(end_to_end, 2),
        "customers_per_second": round(sent / end_to_end, 1) if end_to_end else None,
        "service_cpu_ms_per_customer": _per_message(cpu_after[0] - cpu_before[0], sent),
        "preparer_cpu_ms_per_customer": _per_message(cpu_after[1] - cpu_before[1], sent),
        "setup_customers_seconds": round(setup_customers, 2),
    }


class _Syncs:
    """The SenderSource of the delivery-only runs: the one sync."""

    def __init__(self, sync: Sync) -> None:
        self._sync = sync

    async def sender(self, project_id: str, name: str) -> Any:
        raise LookupError(name)

    async def sync(self, project_id: str, name: str) -> Sync:
        return self._sync


async def _deliver_rows(
    count: int, url: str, batched: bool, profiler: cProfile.Profile | None = None
) -> float:
    """Seconds the embedded worker's loop takes to deliver ``count`` queued profile rows."""
    folder = Path(tempfile.mkdtemp(prefix="dm-profile-rows-"))
    database = Database(f"sqlite:///{folder / 'dm.sqlite3'}")
    upgrade(database.engine)
    project_id = make_project(database).project.id
    rows = [
        {
            "id": new_id("dlv"),
            "project_id": project_id,
            "idempotency_key": new_id("k"),
            "channel": "profile",
            "provider": "attrs",
            "recipient": f"p{i}",
            "priority": 10,
            "content": {"profile": {"external_id": f"p{i}", "code": f"CODE-{i:08d}"}},
        }
        for i in range(count)
    ]
    with database.session() as session:
        session.connection().execute(Delivery.__table__.insert(), rows)  # type: ignore[attr-defined]
    config = BrazeAttributesConfig(api_key=braze.API_KEY, base_url=url)
    async with guarded_client(AddressGuard(allow_private=True)) as http:
        sync = BrazeAttributesSync("attrs", config, http_client=http)
        wrapped = (
            resilient_sync(sync, max_concurrency=CONCURRENCY)
            if batched
            else ResilientSync(OneAtATime(sync), max_concurrency=CONCURRENCY)
        )
        worker = EmbeddedWorker(database, _Syncs(wrapped), DeliveryPolicy())
        if profiler:
            profiler.enable()
        started = time.perf_counter()
        while await worker.run_once():
            pass
        seconds = time.perf_counter() - started
        if profiler:
            profiler.disable()
    database.dispose()
    return seconds


def run_baseline(count: int, url: str, profile: Path | None) -> dict[str, Any]:
    """Delivery alone of ``count`` rows: batched, then row by row; rows per second of each."""
    profiler = cProfile.Profile() if profile else None
    batched = asyncio.run(_deliver_rows(count, url, batched=True, profiler=profiler))
    if profiler and profile:
        profiler.dump_stats(profile)
    single = asyncio.run(_deliver_rows(count, url, batched=False))
    return {
        "baseline_rows": count,
        "delivery_batched_rows_per_second": round(count / batched, 1),
        "delivery_per_row_rows_per_second": round(count / single, 1),
        "delivery_batched_over_per_row": round(single / batched, 1),
    }


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    with _fake(arguments.faults) as url:
        figures = run_end_to_end(arguments.customers, url, arguments.faults)
        summary = _summary(url)
        figures["fake_users_written"] = summary["users"]
        figures["fake_most_writes_of_a_user"] = summary["max_writes"]
        figures["fake_calls"] = summary["calls"]
        if summary["users"] != arguments.customers or summary["max_writes"] != 1:
            print(f"not every customer written exactly once: {summary}", file=sys.stderr)
    if arguments.baseline_customers:
        with _fake(0.0) as url:
            figures.update(run_baseline(arguments.baseline_customers, url, arguments.profile))
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
