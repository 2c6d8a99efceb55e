"""Import 100,000 generated customers through the CSV import endpoint of a running service.

Starts ``dm serve`` on a fresh SQLite database in a temporary folder, uploads one CSV file and
reports rows per second. Each run is a cold import: a new server (its import workers start
during the import) and a new database. The baseline, measured right after each import:
``csv.reader`` plus one ``executemany`` INSERT of the same file into a bare SQLite table, with
no validation at all; the ratio says how many times slower than that the import is, which stays
comparable when the shared machine is busy. Then the floor, ``floors/customer_import.py``, in a
process of its own: ``csv.reader``, the project's own email and phone checks and one
executemany INSERT into the real, migrated ``customer`` table. The JSON line's ``ours``,
``floor`` and ``ratio`` compare the best import with the best floor.

    .venv/bin/python benchmarks/customers.py [--rows 100000] [--runs 3] [--customer-sync]
        [--segment-events]

``--customer-sync`` first configures a Braze sync with ``customer_sync`` on (and a delay no run
waits out, so nothing is sent): the import then also queues one profile row per customer.

``--segment-events`` runs every cold import twice, alternately: without segment-change
detection, and with it (a segment that half the rows enter, ``metadata.orders < 25``, and an
active distribution on ``customer.segment.entered`` for it, an email through ``capture`` in
quiet hours all day, so nothing is sent during the run). Each entering row then stores one
event in the import's own transaction; the app's segment event runner prepares their
deliveries (one rendered row each) after the chunks commit, beside the import, and the run
also waits for the last of them. Both rates, the time until every delivery exists, and the
ratio end up in the JSON line (goal: the import at most 1.3x slower).

Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on sys.path and benchmarks/providers.py would
# shadow the `providers` package (the floor imports distribution); the repository root must win.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from benchmarks._service import create_project, free_port, serving  # noqa: E402
from benchmarks.floors import ratio, run_floor  # noqa: E402

FIRST = ["Ada", "Grace", "Alan", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Frances"]
LAST = ["Lovelace", "Hopper", "Turing", "Torvalds", "Liskov", "Thompson", "Hamilton", "Ritchie"]
CITIES = ["London", "Paris", "Berlin", "Lisbon", "Austin", "Toronto", "Warsaw", "Porto"]


def make_csv(rows: int) -> str:
    rng = random.Random(7)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "source_id",
            "name",
            "email",
            "phone",
            "address.city",
            "address.country",
            "locale",
            "metadata.tier",
            "metadata.orders",
            "metadata.signup",
        ]
    )
    for i in range(rows):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        writer.writerow(
            [
                f"shop-{i}",
                f"{first} {last}",
                f"{first}.{last}.{i}@example.com".lower(),
                f"+1415{rng.randrange(2_000_000, 9_999_999)}",
                rng.choice(CITIES),
                rng.choice(["US", "GB", "France", "DE", "PT"]),
                rng.choice(["en", "en-GB", "fr", "pt-BR", "de"]),
                rng.choice(["gold", "silver", "bronze"]),
                rng.randrange(0, 50),
                f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            ]
        )
    return out.getvalue()


def baseline(csv_text: str, folder: Path) -> float:
    """Rows per second for parsing plus a bare INSERT: the floor any import sits on."""
    db = sqlite3.connect(folder / "baseline.sqlite3")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "CREATE TABLE c (id INTEGER PRIMARY KEY, source_id, name, email, phone, city, country, "
        "locale, tier, orders, signup)"
    )
    started = time.perf_counter()
    reader = csv.reader(io.StringIO(csv_text))
    next(reader)
    rows = list(reader)
    db.executemany("INSERT INTO c VALUES (NULL,?,?,?,?,?,?,?,?,?,?)", rows)
    db.commit()
    elapsed = time.perf_counter() - started
    db.close()
    return len(rows) / elapsed


#: A sync with customer sync on whose rows stay queued through the run (nothing is sent).
CUSTOMER_SYNC_PROVIDER = {
    "name": "braze-sync",
    "kind": "braze_attributes",
    "config": {
        "api_key": "bench-key",
        "base_url": "https://rest.iad-01.braze.com",
        "customer_sync": True,
        "customer_sync_delay": 3600,
    },
}


#: Half the generated rows (``metadata.orders`` is 0-49) are in it.
HALF_SEGMENT = {
    "name": "Fewer than 25 orders",
    "filter": {"field": "metadata.orders", "op": "lt", "value": 25},
}
WELCOME = {
    "name": "welcome",
    "channel": "email",
    "category": "transactional",
    "subject": "Welcome to {{ segment.name }}, {{ customer.first_name }}",
    "body_format": "html",
    "body": "<p>Hello {{ customer.name }}, you are now in {{ segment.name }}.</p>",
}


def listen_to_segment(url: str, headers: dict[str, str]) -> str:
    """A segment half the rows enter and an active distribution on entering it (its id)."""
    segment = httpx.post(f"{url}/v1/segments", json=HALF_SEGMENT, headers=headers)
    segment.raise_for_status()
    template = httpx.post(f"{url}/v1/templates", json=WELCOME, headers=headers)
    template.raise_for_status()
    version_id = template.json()["variants"][0]["latest_draft"]["id"]
    httpx.post(
        f"{url}/v1/templates/{template.json()['id']}/publish",
        json={"version_id": version_id},
        headers=headers,
    ).raise_for_status()
    distribution = httpx.post(
        f"{url}/v1/distributions",
        json={
            "name": "Welcome to the segment",
            "trigger": "customer.segment.entered",
            "filters": {"segment_id": segment.json()["id"]},
            "channels": [
                {"channel": "email", "template": template.json()["id"], "provider": "capture"}
            ],
            # Queued for later, like the customer sync's delay: the import is measured, not
            # the worker sending 50,000 emails beside it.
            "quiet_hours": {"start": "00:00", "end": "23:59"},
        },
        headers=headers,
    )
    distribution.raise_for_status()
    return str(distribution.json()["id"])


def entering(csv_text: str) -> int:
    """How many rows of the file enter the segment."""
    rows = csv.DictReader(io.StringIO(csv_text))
    return sum(int(row["metadata.orders"]) < 25 for row in rows)


def wait_for_deliveries(url: str, headers: dict[str, str], distribution: str, count: int) -> int:
    """Wait until the distribution has ``count`` deliveries; how many it has."""
    deadline = time.monotonic() + 600
    while True:
        stats = httpx.get(f"{url}/v1/distributions/{distribution}/stats", headers=headers)
        made = int(sum(stats.json()["total"].values()))
        if made >= count or time.monotonic() > deadline:
            return made
        time.sleep(0.1)


def import_once(
    csv_text: str, rows: int, *, customer_sync: bool = False, segment_events: bool = False
) -> tuple[float, float, dict[str, Any]]:
    """One cold import on a fresh server: seconds, the baseline's rows/s, and the report."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {**os.environ, "DM_DATA_DIR": str(folder), "DM_PORT": str(free_port())}
        env.pop("DATABASE_URL", None)
        headers = create_project(env)
        url = f"http://127.0.0.1:{env['DM_PORT']}"
        with serving(env):
            if customer_sync:
                httpx.post(
                    f"{url}/v1/providers", json=CUSTOMER_SYNC_PROVIDER, headers=headers
                ).raise_for_status()
            distribution = listen_to_segment(url, headers) if segment_events else ""
            started = time.perf_counter()
            response = httpx.post(
                f"{url}/v1/customers/import",
                content=csv_text.encode(),
                headers={**headers, "Content-Type": "text/csv"},
                timeout=600,
            )
            elapsed = time.perf_counter() - started
            report = response.json()
            if segment_events:
                expected = entering(csv_text)
                made = wait_for_deliveries(url, headers, distribution, expected)
                report["deliveries_seconds"] = time.perf_counter() - started
                report["deliveries"] = (made, expected)
                report["segment_events"] = _count_events(url, headers)
        # Measured right after the import, so both see the machine in the same state.
        floor = baseline(csv_text, folder)
    return elapsed, floor, report


def _count_events(url: str, headers: dict[str, str]) -> int:
    """How many customer.segment.entered events a sample of 200 rows got (a check that the
    detection ran: about half of them)."""
    found = 0
    for i in range(200):
        events = httpx.get(f"{url}/v1/customers/shop-{i}/events", headers=headers).json()
        found += sum(e["type"] == "customer.segment.entered" for e in events)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="cold imports; the best is reported")
    parser.add_argument(
        "--customer-sync", action="store_true", help="with a customer sync provider configured"
    )
    parser.add_argument(
        "--segment-events",
        action="store_true",
        help="also import with segment-change detection, and compare",
    )
    args = parser.parse_args()

    csv_text = make_csv(args.rows)
    results = []
    detected: list[tuple[float, dict[str, Any]]] = []
    floors: list[dict[str, Any]] = []
    for run in range(1, args.runs + 1):
        # Alternate which import goes first, so neither always meets the machine warmer.
        for detecting in (True, False) if run % 2 else (False, True):
            if detecting and not args.segment_events:
                continue
            elapsed, floor, report = import_once(
                csv_text, args.rows, customer_sync=args.customer_sync, segment_events=detecting
            )
            rate = args.rows / elapsed
            if detecting:
                detected.append((rate, report))
                made, expected = report["deliveries"]
                print(
                    f"run {run}: with segment events {rate:,.0f} rows/s; {made:,} of "
                    f"{expected:,} deliveries after {report['deliveries_seconds']:.1f} s; "
                    f"{report['segment_events']} of the first 200 rows' timelines say entered"
                )
                continue
            results.append((rate, floor, report))
            # Right after the import too, in a process of its own, like the baseline.
            floors.append(run_floor("customer_import", "--rows", str(args.rows)))
            print(
                f"run {run}: import {elapsed:.2f} s = {rate:,.0f} rows/s; "
                f"baseline {floor:,.0f} rows/s (ratio {floor / rate:.1f}x); "
                f"floor {floors[-1]['rows_per_second']:,} rows/s; "
                f"{report['created']:,} created, {report['failed']:,} failed"
            )
    rate, floor, report = max(results, key=lambda r: r[0])
    print(f"rows:                  {args.rows:,} per import, each into a new server and database")
    print(f"import (HTTP, SQLite): {rate:,.0f} rows/s (best of {args.runs})")
    print(f"baseline (csv+INSERT): {floor:,.0f} rows/s in the same run (ratio {floor / rate:.1f}x)")
    best_floor = max(floors, key=lambda f: f["rows_per_second"])
    print(
        f"floor (csv+checks+INSERT into customer): {best_floor['rows_per_second']:,} rows/s "
        f"(ratio {best_floor['rows_per_second'] / rate:.2f}x)"
    )
    print(f"target:                >= 10,000 rows/s -> {'met' if rate >= 10_000 else 'MISSED'}")
    figures: dict[str, Any] = {}
    if detected:
        with_rate, best = max(detected, key=lambda d: d[0])
        slower = rate / with_rate
        print(f"with segment events:   {with_rate:,.0f} rows/s (best of {args.runs})")
        print(f"every delivery made:   {best['deliveries_seconds']:.1f} s after the upload began")
        print(f"slower by:             {slower:.2f}x -> {'met' if slower <= 1.3 else 'MISSED'}")
        figures = {
            "segment_events_rows_per_second": round(with_rate),
            "all_segment_events_rows_per_second": [round(r) for r, _ in detected],
            "segment_events_slower_ratio": round(slower, 2),
            "segment_events_deliveries": best["deliveries"][0],
            "segment_events_deliveries_seconds": round(best["deliveries_seconds"], 2),
        }
    print(
        json.dumps(
            {
                "benchmark": "customers_import",
                "rows": args.rows,
                "runs": args.runs,
                "customer_sync": args.customer_sync,
                "rows_per_second": round(rate),
                "all_rows_per_second": [round(r[0]) for r in results],
                "baseline_rows_per_second": round(floor),
                "ratio_baseline_to_import": round(floor / rate, 2),
                "failed": report["failed"],
                **figures,
                "ours": {"rows_per_second": round(rate)},
                "floor": best_floor,
                # How many times faster the floor imports (best run against best run).
                "ratio": {"rows_per_second": ratio(best_floor["rows_per_second"], rate)},
            }
        )
    )


if __name__ == "__main__":
    main()
