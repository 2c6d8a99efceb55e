"""A bulk invite to N customers of a segment on the embedded default (SQLite) to `capture`.

Builds the real app in-process (``create_app``; the embedded worker and bulk runner run in its
event loop), creates N customers, a template, a campaign and a pool of N codes, then times
``POST /v1/bulk-sends`` (no sending delay) until the last delivery is ``sent``. Phases:
preflight, assignment, rendering and inserting are the totals the preparation measured itself
(``distribution.bulk.timing``; they interleave batch by batch, so they add up to more than the
preparation's wall time when delivering overlaps); delivering is first to last ``sent`` on the
rows. Wall-clock figures all use the database's clock (naive UTC). Peak memory is this process's
max RSS, and the largest of its finished children's (the preparation process); time to the first
message is from the request to the first ``sent`` row.

After the app stopped, the floor ``floors/bulk_send.py`` runs the same count in a process of its
own: the same template rendered, each delivery row inserted on the real schema, marked sent, and
its two history rows, nothing else. The JSON line's ``ours``, ``floor`` and ``ratio`` compare
rate, CPU per message (ours: the service's and the preparation process's), time to the first
message and peak memory.

    PYTHONPATH=. .venv/bin/python benchmarks/bulk.py [--customers 100000] [--provider smtp]
        [--mode embedded|distributed]

``--provider smtp`` sends the same job through the SMTP provider to aiosmtpd's Sink in a process
of its own. ``--mode distributed`` hands over to ``benchmarks/bulk_distributed.py``.

Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

# Run from the repository root: benchmarks/providers.py would shadow the providers package.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from litestar.testing import TestClient  # noqa: E402
from sqlmodel import col, func, select  # noqa: E402

from benchmarks.floors import ratio, run_floor  # noqa: E402
from benchmarks.floors.bulk_send import BODY, SUBJECT  # noqa: E402
from benchmarks.providers import smtp_sink  # noqa: E402
from distribution.bulk import get_job  # noqa: E402
from distribution.bulk.timing import phase_seconds, reset_phases  # noqa: E402
from distribution.customers.store import upsert_customers  # noqa: E402
from distribution.models import Delivery, utcnow  # noqa: E402
from distribution.storage.db import Database  # noqa: E402
from tests.builders import publish_template  # noqa: E402
from tests.conftest import make_project  # noqa: E402
from web.app import create_app  # noqa: E402
from web.settings import Settings  # noqa: E402

DISTRIBUTED = Path(__file__).resolve().parent / "bulk_distributed.py"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--provider", choices=("capture", "smtp"), default="capture")
    parser.add_argument("--mode", choices=("embedded", "distributed"), default="embedded")
    return parser.parse_known_args(argv)[0]


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    return None if later is None or earlier is None else (later - earlier).total_seconds()


def _cpu_seconds() -> tuple[float, float]:
    """User plus system CPU seconds of this process (the service) and of its finished children
    (the preparation process, which exits when the app stops, and the SMTP sink)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _per_message(seconds: float, messages: int) -> float | None:
    return round(seconds * 1000 / messages, 3) if messages else None


def _create_customers(database: Database, project_id: str, count: int) -> float:
    started = time.perf_counter()
    for start in range(0, count, 10_000):
        rows = [
            {
                "source_id": f"b{i}",
                "name": f"Reader {i}",
                "email": f"r{i}@example.com",
                "metadata": {"wave": "one"},
            }
            for i in range(start, min(count, start + 10_000))
        ]
        with database.session() as session:
            upsert_customers(session, project_id, rows, default_region="US")
    return time.perf_counter() - started


@contextlib.contextmanager
def _provider(client: TestClient[Any], kind: str) -> Iterator[str]:
    """The provider name for the job: the built-in capture, or SMTP to a local sink."""
    if kind == "capture":
        yield "capture"
        return
    with smtp_sink() as port:
        answer = client.post(
            "/v1/providers",
            json={
                "name": "sink",
                "kind": "smtp",
                "config": {
                    "host": "127.0.0.1",
                    "port": port,
                    "security": "none",
                    "from_email": "invites@example.com",
                    "pool_size": 8,
                },
                "max_concurrency": 64,
            },
        )
        answer.raise_for_status()
        yield "sink"


def run_embedded(count: int, provider_kind: str) -> dict[str, Any]:
    """One bulk job of ``count`` recipients on the embedded default; its figures."""
    folder = Path(tempfile.mkdtemp(prefix="dm-bulk-"))
    settings = Settings(
        database_url=f"sqlite:///{folder / 'dm.sqlite3'}",
        data_dir=folder,
        secret_key="bench",
        worker_poll_interval=0.2,
        log_level="WARNING",
    )
    app = create_app(settings)
    database: Database = app.state.database
    creds = make_project(database)
    project_id = creds.project.id
    template = publish_template(database, project_id, subject=SUBJECT, body=BODY)
    setup_customers = _create_customers(database, project_id, count)
    with TestClient(app) as client:
        client.headers.update(creds.headers)
        campaign = client.post(
            "/v1/campaigns",
            json={"name": "Bench", "referral_url_template": "https://shop.example.com/r/{code}"},
        ).json()["id"]
        pool = client.post("/v1/code-pools", json={"campaign": campaign, "name": "p"}).json()["id"]
        started = time.perf_counter()
        generated = client.post(
            f"/v1/code-pools/{pool}/codes/generate", json={"count": count, "length": 12}
        ).json()
        setup_codes = time.perf_counter() - started
        segment = client.post(
            "/v1/segments",
            json={"name": "wave", "filter": {"field": "metadata.wave", "op": "eq", "value": "one"}},
        ).json()["id"]
        with _provider(client, provider_kind) as provider:
            reset_phases()
            cpu_before = _cpu_seconds()
            requested = utcnow()
            answer = client.post(
                "/v1/bulk-sends",
                json={
                    "campaign": campaign,
                    "audience": {"segment": segment},
                    "channels": [{"channel": "email", "template": template, "provider": provider}],
                    "send_delay_seconds": 0,
                },
            )
            answer.raise_for_status()
            job_id = answer.json()["id"]
            while True:
                # The job's own row, not GET /v1/bulk-sends: its progress counts would cost
                # the process being measured a scan of the job's rows every poll.
                time.sleep(0.2)
                with database.reader() as session:
                    job = get_job(session, project_id, job_id)
                if job.status in ("completed", "failed", "cancelled"):
                    break
            completed = utcnow()
    # After the app stopped: its preparation process has exited, so its CPU time is counted.
    cpu_after = _cpu_seconds()
    phases = phase_seconds()
    with database.reader() as session:
        last_row, first_sent, last_sent, sent = session.exec(
            select(
                func.max(Delivery.created_at),
                func.min(Delivery.sent_at),
                func.max(Delivery.sent_at),
                func.count(col(Delivery.sent_at)),
            ).where(Delivery.bulk_job_id == job_id)
        ).one()
    end_to_end = _seconds(last_sent, requested) or 0.0
    return {
        "customers": count,
        "provider": provider_kind,
        "codes_generated": generated["added"],
        "status": job.status,
        "sent": sent,
        "preflight_seconds": round(phases["preflight"], 2),
        "preflight_wall_seconds": round(_seconds(job.started_at, requested) or 0.0, 2),
        "assignment_seconds": round(phases["assignment"], 2),
        "rendering_seconds": round(phases["rendering"], 2),
        "inserting_seconds": round(phases["inserting"], 2),
        "preparing_wall_seconds": round(_seconds(last_row, job.started_at) or 0.0, 2),
        "delivering_seconds": round(_seconds(last_sent, first_sent) or 0.0, 2),
        "first_sent_seconds": round(_seconds(first_sent, requested) or 0.0, 2),
        "end_to_end_seconds": round(end_to_end, 2),
        "completed_seconds": round(_seconds(completed, requested) or 0.0, 2),
        "messages_per_second": round(sent / end_to_end, 1) if end_to_end else None,
        # CPU per message: unlike rates, barely moved by other load on the machine.
        "service_cpu_ms_per_message": _per_message(cpu_after[0] - cpu_before[0], sent),
        "preparer_cpu_ms_per_message": _per_message(cpu_after[1] - cpu_before[1], sent),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        # The largest finished child: the preparation process (and the SMTP sink, if any).
        "peak_child_rss_mb": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
        "setup_customers_seconds": round(setup_customers, 2),
        "setup_codes_seconds": round(setup_codes, 2),
    }


def with_floor(figures: dict[str, Any], floor: dict[str, Any]) -> dict[str, Any]:
    """Ours, the floor (``floors/bulk_send.py``) and how many times the floor ours is."""
    cpu = [figures["service_cpu_ms_per_message"], figures["preparer_cpu_ms_per_message"]]
    ours = {
        "messages_per_second": figures["messages_per_second"],
        "cpu_ms_per_message": round(sum(cpu), 3) if None not in cpu else None,
        "first_sent_seconds": figures["first_sent_seconds"],
        # The app's process and the preparation's run at once: both are held.
        "peak_rss_mb": round(figures["peak_rss_mb"] + figures["peak_child_rss_mb"], 1),
    }
    return {
        "ours": ours,
        "floor": floor,
        "ratio": {
            # How many times faster the floor sends, and how many times its CPU and memory
            # ours takes.
            "messages_per_second": ratio(floor["messages_per_second"], ours["messages_per_second"]),
            "cpu_ms_per_message": ratio(ours["cpu_ms_per_message"], floor["cpu_ms_per_message"]),
            "first_sent_seconds": ratio(ours["first_sent_seconds"], floor["first_sent_seconds"]),
            "peak_rss_mb": ratio(ours["peak_rss_mb"], floor["peak_rss_mb"]),
        },
    }


def run_distributed(argv: list[str]) -> int:
    """``benchmarks/bulk_distributed.py``'s ``main(argv)``, when that benchmark exists."""
    if not DISTRIBUTED.exists():
        print(
            f"--mode distributed needs {DISTRIBUTED.name}, which is not there yet",
            file=sys.stderr,
        )
        return 2
    module = importlib.import_module("benchmarks.bulk_distributed")
    result = module.main(argv)
    return int(result or 0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    arguments = _arguments(argv)
    if arguments.mode == "distributed":
        rest = [a for a in argv if not a.startswith("--mode") and a != "distributed"]
        return run_distributed(rest)
    figures = run_embedded(arguments.customers, arguments.provider)
    # After the app stopped, in a process of its own: its CPU time and memory are its own.
    floor = run_floor("bulk_send", "--customers", str(arguments.customers))
    figures.update(with_floor(figures, floor))
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
