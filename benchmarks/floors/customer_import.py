"""Floor of a customer CSV import: ``csv.reader``, the project's own email and phone checks, and
one executemany INSERT into the real ``customer`` table, and nothing else.

The database is a fresh SQLite file migrated by the project's own migrations (the real table
with its indexes and unique constraint), the file the one ``customers.py`` uploads (``make_csv``,
the same seed). Timed: reading the CSV, ``normalize_email`` and ``normalize_phone`` of
``distribution.customers.customer_input`` on every row (the checks an import cannot skip), and
inserting every row in one transaction with the project's ``insert_many``. No HTTP, no other
field's validation, no upsert, no segment or sync work. Reports rows per second and CPU per row.

    PYTHONPATH=. .venv/bin/python benchmarks/floors/customer_import.py [--rows 100000]

Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run from the repository root: benchmarks/providers.py would shadow the providers package.
sys.path[0] = str(Path(__file__).resolve().parent.parent.parent)

from sqlalchemy import Table  # noqa: E402

from benchmarks.customers import make_csv  # noqa: E402
from benchmarks.floors import peak_rss_mb  # noqa: E402
from distribution.customers.customer_input import normalize_email, normalize_phone  # noqa: E402
from distribution.models import Customer, utcnow  # noqa: E402
from distribution.storage.db import Database  # noqa: E402
from distribution.storage.driver_sql import insert_many  # noqa: E402
from distribution.storage.ids import new_id  # noqa: E402
from tests.conftest import make_project, migrated_database  # noqa: E402

__all__ = ["measure"]

_CUSTOMERS: Table = Customer.__table__  # type: ignore[attr-defined]
COLUMNS = (
    "id",
    "project_id",
    "source_id",
    "name",
    "email",
    "phone",
    "address_city",
    "address_country",
    "locale",
    "metadata",
    "created_at",
    "updated_at",
)


def measure(csv_text: str, url: str) -> dict[str, Any]:
    """Import ``csv_text`` the least costly way into the database at ``url``; the figures."""
    database = Database(url)
    project_id = make_project(database).project.id
    started = time.perf_counter()
    cpu_started = time.process_time()
    reader = csv.reader(io.StringIO(csv_text))
    next(reader)
    rows = []
    failed = 0
    now = utcnow()
    for source_id, name, email, phone, city, country, locale, tier, orders, signup in reader:
        try:
            checked = (normalize_email(email), normalize_phone(phone, "US"))
        except ValueError:
            failed += 1
            continue
        meta = {"tier": tier, "orders": int(orders), "signup": signup}
        row = (new_id("cus"), project_id, source_id, name, *checked, city, country, locale)
        rows.append((*row, meta, now, now))
    with database.session() as session:
        insert_many(session.connection(), _CUSTOMERS, COLUMNS, rows)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    database.dispose()
    count = len(rows) + failed
    return {
        "floor": "customer_import",
        "rows": count,
        "failed": failed,
        "seconds": round(seconds, 3),
        "rows_per_second": round(count / seconds) if seconds else None,
        "cpu_ms_per_row": round(cpu * 1000 / count, 4) if count else None,
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    csv_text = make_csv(args.rows)
    with (
        tempfile.TemporaryDirectory(prefix="dm-floor-import-") as folder,
        migrated_database("sqlite", Path(folder)) as url,
    ):
        figures = measure(csv_text, url)
    for key, value in figures.items():
        print(f"{key:<16}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
