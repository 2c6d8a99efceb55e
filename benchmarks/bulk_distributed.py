"""The 100,000-recipient bulk invite in distributed mode: 1, 2 and 4 ``dm worker`` processes.

On PostgreSQL (a fresh schema of ``TEST_DATABASE_URL``, default the local server), for each
worker count: a new project with N customers, a campaign with N codes, then ``POST
/v1/bulk-sends`` to the built-in ``capture`` sender through the API in distributed mode (it only
enqueues), and the workers prepare and send. Capture keeps messages in the workers' memory, so
progress is counted from the delivery rows. Timed from the POST to the last ``sent`` row.

Costs per message come from /proc: the CPU time of the worker processes, and of the PostgreSQL
backends serving them (found by their ``application_name``; pg_stat_statements needs a server
restart to load, which a shared server does not get). The estimate for a larger fleet is derived
from those two figures. Each run also reports the largest peak memory of one worker.

The JSON line's ``ratio`` holds each worker count's rate against one worker's (the gain of the
added workers, and per added worker: 1.0 when each adds a whole worker's rate), and the floor's
rate against each count: ``floors/bulk_send.py --backend postgresql``, run after the workers
stopped (one process rendering, COPYing the rows, marking them sent, with their history).

    .venv/bin/python benchmarks/bulk_distributed.py [--workers 1,2,4] [--customers 100000]

Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

# Run from the repository root: benchmarks/providers.py would shadow the providers package.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import col  # noqa: E402

from benchmarks.floors import peak_rss_mb, ratio, run_floor  # noqa: E402
from distribution.models import Delivery, utcnow  # noqa: E402
from distribution.storage.db import Database  # noqa: E402
from tests.conftest import make_project, migrated_database  # noqa: E402
from tests.service_process import wait_until  # noqa: E402
from tests.test_distributed.workers import (  # noqa: E402
    WorkerFleet,
    add_customers,
    api_client,
    delivery_counts,
    post_invite,
    prepare_invite,
)

DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Marks the connections of the workers, so their backends' CPU time can be found.
APPLICATION = "dm-bench-worker"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of live processes, from /proc (gone ones count nothing)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / TICKS


def backend_pids(database: Database) -> list[int]:
    """The PostgreSQL backends serving the workers right now."""
    with database.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
            {"name": APPLICATION},
        ).all()
    return [int(row[0]) for row in rows]


def all_sent(database: Database, job_id: str, customers: int) -> bool:
    """Whether every recipient has a row and none is waiting or in flight.

    Cheap on purpose: counting the job's rows by status every tenth of a second took a
    PostgreSQL backend about a third of a core, on the two cores the run is measured on. The
    job's own count of prepared recipients says whether every row is written.
    """
    with database.engine.connect() as connection:
        counts = connection.execute(
            text("SELECT counts FROM bulk_job WHERE id = :job"), {"job": job_id}
        ).scalar_one()
        if int(counts.get("prepared", 0)) < customers:
            return False
        waiting = connection.execute(
            text(
                "SELECT 1 FROM delivery WHERE bulk_job_id = :job"
                " AND status IN ('queued', 'sending') LIMIT 1"
            ),
            {"job": job_id},
        ).first()
    return waiting is None


@dataclass
class Run:
    """What one worker count achieved."""

    workers: int
    sent: int
    seconds: float
    messages_per_second: float
    checked_seconds: float
    first_row_seconds: float
    first_sent_seconds: float
    preparing_seconds: float
    delivering_seconds: float
    worker_cpu_ms_per_message: float
    database_cpu_ms_per_message: float
    #: The largest peak resident memory of one worker process (``VmHWM``).
    worker_peak_rss_mb: float


@dataclass(frozen=True)
class Phases:
    """When the job's rows appeared and were sent, in seconds after the POST."""

    first_row: float
    last_row: float
    first_sent: float
    last_sent: float
    sent: int


def phases(database: Database, job_id: str, posted: datetime) -> Phases:
    """The job's phases from its delivery rows (naive UTC, written on this machine)."""
    with database.engine.connect() as connection:
        first_row, last_row, first_sent, last_sent, sent = connection.execute(
            select(
                func.min(col(Delivery.created_at)),
                func.max(col(Delivery.created_at)),
                func.min(col(Delivery.sent_at)),
                func.max(col(Delivery.sent_at)),
                func.count(col(Delivery.sent_at)),
            ).where(col(Delivery.bulk_job_id) == job_id)
        ).one()
    assert first_sent is not None, "nothing was sent"
    assert last_sent is not None, "nothing was sent"

    def after(moment: datetime) -> float:
        return (moment - posted).total_seconds()

    return Phases(after(first_row), after(last_row), after(first_sent), after(last_sent), int(sent))


def one_run(url: str, folder: Path, workers: int, customers: int, concurrency: int) -> Run:
    """Set up a project and its invite, then time W workers preparing and sending it."""
    database = Database(url)
    worker_url = (
        make_url(url)
        .update_query_dict({"application_name": APPLICATION})
        .render_as_string(hide_password=False)
    )
    credentials = make_project(database)
    add_customers(database, credentials.project.id, customers)
    fleet = WorkerFleet(worker_url, folder, workers, {"DM_WORKER_CONCURRENCY": str(concurrency)})
    with api_client(url, folder) as client, fleet:
        client.headers.update(credentials.headers)
        request = prepare_invite(client, "capture", customers)
        # Every worker has its queue connection before the clock starts.
        wait_until(
            lambda: len(backend_pids(database)) >= workers,
            lambda: f"workers did not connect\n{fleet.log()}",
            limit=120,
        )
        time.sleep(1)
        pids = [process.pid for process in fleet.processes]
        worker_cpu = cpu_seconds(pids)
        database_cpu = cpu_seconds(backend_pids(database))
        # The setup (customers, codes) is not timed: the clock starts at the POST.
        posted = utcnow()
        invite = post_invite(client, request, customers)
        wait_until(
            lambda: all_sent(database, invite.job_id, customers),
            lambda: f"not all sent: {delivery_counts(database, invite.job_id)}\n{fleet.log()}",
            limit=3600,
            interval=0.5,
        )
        worker_cpu = cpu_seconds(pids) - worker_cpu
        database_cpu = cpu_seconds(backend_pids(database)) - database_cpu
        worker_memory = max(peak_rss_mb(pid) for pid in pids)
    seen = phases(database, invite.job_id, posted)
    with database.engine.connect() as connection:
        started = connection.execute(
            text("SELECT started_at FROM bulk_job WHERE id = :job"), {"job": invite.job_id}
        ).scalar_one()
    sent = seen.sent
    seconds = seen.last_sent  # from the rows: the poll's own interval does not count
    database.dispose()
    return Run(
        workers=workers,
        sent=sent,
        seconds=round(seconds, 2),
        messages_per_second=round(sent / seconds, 1),
        checked_seconds=round((started - posted).total_seconds(), 2),
        first_row_seconds=round(seen.first_row, 2),
        first_sent_seconds=round(seen.first_sent, 2),
        preparing_seconds=round(seen.last_row - seen.first_row, 2),
        delivering_seconds=round(seen.last_sent - seen.first_sent, 2),
        worker_cpu_ms_per_message=round(1000 * worker_cpu / sent, 3),
        database_cpu_ms_per_message=round(1000 * database_cpu / sent, 3),
        worker_peak_rss_mb=worker_memory,
    )


def estimate(runs: list[Run], fleet_cores: int = 16) -> tuple[str, dict[str, float]]:
    """A fleet of ``fleet_cores`` worker cores against one PostgreSQL, from the measured costs.

    Workers scale out (each core handles 1/worker-cost messages per second); the database does
    not: every message costs it the same CPU wherever it was sent from, so a database with D
    cores caps the fleet at D/database-cost. The fleet gets the smaller of the two, derated for
    the lock and WAL waits a busy PostgreSQL adds (we assume 70% of its CPU is usable).
    """
    # The run with the most workers: the database's cost per message grows with the number of
    # workers (more lock waits and polling), and a fleet is many workers.
    largest = max(runs, key=lambda run: run.workers)
    worker_cost = largest.worker_cpu_ms_per_message / 1000
    database_cost = largest.database_cpu_ms_per_message / 1000
    workers_cap = fleet_cores / worker_cost
    figures: dict[str, float] = {"fleet_cores": fleet_cores, "workers_cap": round(workers_cap)}
    here = (os.cpu_count() or 1) / (worker_cost + database_cost)
    figures["this_machine_cpu_bound"] = round(here)
    lines = [
        f"measured per message with {largest.workers} worker(s): worker CPU "
        f"{1000 * worker_cost:.3f} ms, PostgreSQL CPU {1000 * database_cost:.3f} ms",
        f"this machine ({os.cpu_count()} cores shared by workers and PostgreSQL) cannot pass "
        f"{os.cpu_count()} / {1000 * (worker_cost + database_cost):.3f} ms "
        f"= {here:,.0f} messages/s",
        f"{fleet_cores} worker cores alone: {fleet_cores} / {1000 * worker_cost:.3f} ms "
        f"= {workers_cap:,.0f} messages/s",
    ]
    for database_cores in (2, 8, 16):
        database_cap = 0.7 * database_cores / database_cost
        fleet = min(workers_cap, database_cap)
        figures[f"fleet_with_{database_cores}_core_database"] = round(fleet)
        bound = "the database" if database_cap < workers_cap else "the workers"
        lines.append(
            f"PostgreSQL with {database_cores} cores: 0.7 x {database_cores} / "
            f"{1000 * database_cost:.3f} ms = {database_cap:,.0f} messages/s; "
            f"the fleet reaches about {fleet:,.0f} messages/s ({bound} bound)"
        )
    return "\n".join(lines), figures


def with_floor(runs: list[Run], floor: dict[str, float]) -> dict[str, object]:
    """Ours per worker count, the floors, and the ratios: each count against one worker (the
    gain of the added workers) and the bulk floor against each count."""
    one = next((run for run in runs if run.workers == 1), runs[0])
    rates = {str(run.workers): run.messages_per_second for run in runs}
    return {
        "ours": {"messages_per_second": rates},
        "floor": {"one_worker": asdict(one), "bulk_send": floor},
        "ratio": {
            f"vs_{one.workers}_worker": {
                workers: ratio(rate, one.messages_per_second) for workers, rate in rates.items()
            },
            # Of one more worker, on average: 1.0 when each added worker adds a whole one.
            "gain_per_added_worker": {
                str(run.workers): round(
                    (run.messages_per_second / one.messages_per_second - 1)
                    / (run.workers - one.workers),
                    2,
                )
                for run in runs
                if run.workers > one.workers
            },
            "floor_to_ours": {
                workers: ratio(floor["messages_per_second"], rate)
                for workers, rate in rates.items()
            },
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=4, help="jobs per worker at once")
    args = parser.parse_args(argv)
    counts = [int(part) for part in args.workers.split(",")]
    os.environ.setdefault("TEST_DATABASE_URL", DEFAULT_DATABASE)
    folder = Path(tempfile.mkdtemp(prefix="dm-bulk-distributed-"))
    runs: list[Run] = []
    with migrated_database("postgresql", folder) as url:
        for workers in counts:
            run = one_run(url, folder, workers, args.customers, args.concurrency)
            runs.append(run)
            print(
                f"{workers} worker(s): {run.sent:,} sent in {run.seconds} s = "
                f"{run.messages_per_second:,} msg/s (checks done after {run.checked_seconds} s, "
                f"first row after {run.first_row_seconds} s, "
                f"first sent after {run.first_sent_seconds} s; "
                f"preparing {run.preparing_seconds} s, "
                f"delivering {run.delivering_seconds} s; CPU per message: worker "
                f"{run.worker_cpu_ms_per_message} ms, PostgreSQL {run.database_cpu_ms_per_message}"
                " ms)",
                flush=True,
            )
    base = runs[0].messages_per_second
    scaling = {
        f"{run.workers}_vs_{runs[0].workers}": round(run.messages_per_second / base, 2)
        for run in runs
    }
    print(
        "scaling:",
        ", ".join(
            f"{key.replace('_vs_', ' vs ')} workers {value}x" for key, value in scaling.items()
        ),
    )
    text_estimate, figures = estimate(runs)
    print(text_estimate)
    # After the workers stopped: the floor on the same server, rows written by one process.
    floor = run_floor("bulk_send", "--customers", str(args.customers), "--backend", "postgresql")
    print(
        f"floor (render, COPY, mark sent, history; one process): "
        f"{floor['messages_per_second']:,} msg/s"
    )
    print(
        json.dumps(
            {
                "runs": [asdict(run) for run in runs],
                "scaling": scaling,
                "estimate": figures,
                **with_floor(runs, floor),
            }
        )
    )


if __name__ == "__main__":
    main()
