"""Import 100,000 generated customers through the CSV import endpoint of a running service.

Starts ``dm serve`` on a fresh SQLite database in a temporary folder, uploads one CSV file and
reports rows per second. Each run is a cold import: a new server (its import workers start
during the import) and a new database. The baseline, measured right after each import, is the
floor for the same file: ``csv.reader`` plus one ``executemany`` INSERT into SQLite, with no
validation at all; the ratio says how many times slower than that floor the import is, which
stays comparable when the shared machine is busy.

    .venv/bin/python benchmarks/customers.py [--rows 100000] [--runs 3] [--customer-sync]

``--customer-sync`` first configures a Braze sync with ``customer_sync`` on (and a delay no run
waits out, so nothing is sent): the import then also queues one profile row per customer.

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
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _service import create_project, free_port, serving

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


def import_once(
    csv_text: str, rows: int, *, customer_sync: bool = False
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
            started = time.perf_counter()
            response = httpx.post(
                f"{url}/v1/customers/import",
                content=csv_text.encode(),
                headers={**headers, "Content-Type": "text/csv"},
                timeout=600,
            )
            elapsed = time.perf_counter() - started
        # Measured right after the import, so both see the machine in the same state.
        floor = baseline(csv_text, folder)
    return elapsed, floor, response.json()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="cold imports; the best is reported")
    parser.add_argument(
        "--customer-sync", action="store_true", help="with a customer sync provider configured"
    )
    args = parser.parse_args()

    csv_text = make_csv(args.rows)
    results = []
    for run in range(1, args.runs + 1):
        elapsed, floor, report = import_once(csv_text, args.rows, customer_sync=args.customer_sync)
        rate = args.rows / elapsed
        results.append((rate, floor, report))
        print(
            f"run {run}: import {elapsed:.2f} s = {rate:,.0f} rows/s; "
            f"baseline {floor:,.0f} rows/s (ratio {floor / rate:.1f}x); "
            f"{report['created']:,} created, {report['failed']:,} failed"
        )
    rate, floor, report = max(results, key=lambda r: r[0])
    print(f"rows:                  {args.rows:,} per import, each into a new server and database")
    print(f"import (HTTP, SQLite): {rate:,.0f} rows/s (best of {args.runs})")
    print(f"baseline (csv+INSERT): {floor:,.0f} rows/s in the same run (ratio {floor / rate:.1f}x)")
    print(f"target:                >= 10,000 rows/s -> {'met' if rate >= 10_000 else 'MISSED'}")
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
            }
        )
    )


if __name__ == "__main__":
    main()
