"""Floor of a bulk invite: per recipient, the compiled template rendered, its delivery row
inserted, marked sent, and its two history rows, on the real schema, and nothing else.

The database is migrated by the project's own migrations (the real ``delivery`` and
``delivery_status_change`` tables with every index), a fresh SQLite file by default or a schema
of its own on PostgreSQL (``--backend postgresql``, ``TEST_DATABASE_URL``). Recipients go in
batches of 2,000, as the bulk job prepares them: render each (``templates.compile_email`` of the
same body as ``bulk.py``), insert the batch's rows and their ``queued`` history with the
project's ``insert_many`` (executemany on SQLite, COPY on PostgreSQL) and commit; then mark them
sent with their ``sent`` history and commit. No audience query, no codes, no claims, no
provider: the least a bulk send could cost. Reports messages per second, CPU per message (this
process; on PostgreSQL the server's is not counted), time to the first message sent and peak
memory (``VmHWM``).

    PYTHONPATH=. .venv/bin/python benchmarks/floors/bulk_send.py [--customers 100000]
        [--backend sqlite|postgresql]

Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Run from the repository root: benchmarks/providers.py would shadow the providers package.
sys.path[0] = str(Path(__file__).resolve().parent.parent.parent)

from sqlalchemy import Table, bindparam  # noqa: E402

from benchmarks.floors import peak_rss_mb  # noqa: E402
from distribution.models import Delivery, DeliveryStatus, DeliveryStatusChange, utcnow  # noqa: E402
from distribution.outbox import message_content  # noqa: E402
from distribution.storage.db import Database  # noqa: E402
from distribution.storage.driver_sql import insert_many  # noqa: E402
from distribution.storage.ids import new_id  # noqa: E402
from templates import EmailSource, compile_email  # noqa: E402
from tests.conftest import make_project, migrated_database  # noqa: E402

__all__ = ["BODY", "SUBJECT", "measure"]

#: The invite ``bulk.py`` sends; defined here so that the floor imports nothing of the app.
SUBJECT = "You're invited"
BODY = (
    "<p>Hi {{ customer.first_name }},</p><p>Your invite code is <b>{{ code.code }}</b>: "
    '<a href="{{ code.referral_link }}">join here</a>.</p>'
)

BATCH = 2000
HISTORY = ("delivery_id", "status", "detail", "at")
_DELIVERIES: Table = Delivery.__table__  # type: ignore[attr-defined]
_CHANGES: Table = DeliveryStatusChange.__table__  # type: ignore[attr-defined]
_MARK_SENT = (
    _DELIVERIES.update()
    .where(_DELIVERIES.c.id == bindparam("delivery_id"))
    .values(status=DeliveryStatus.SENT, sent_at=bindparam("at"), updated_at=bindparam("at"))
)


def _batches(count: int) -> Iterator[range]:
    for start in range(0, count, BATCH):
        yield range(start, min(count, start + BATCH))


def _context(number: int) -> dict[str, Any]:
    code = f"FLOOR{number:08d}"
    return {
        "customer": {"first_name": f"Reader{number}", "name": f"Reader {number}"},
        "code": {"code": code, "referral_link": f"https://shop.example.com/r/{code}"},
    }


def measure(count: int, url: str) -> dict[str, Any]:
    """Send ``count`` messages' worth of rows through the database at ``url``; the figures."""
    database = Database(url)
    project_id = make_project(database).project.id
    compiled = compile_email(EmailSource(SUBJECT, BODY, body_format="html"))
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    first_sent: float | None = None
    for batch in _batches(count):
        now = utcnow()
        rows = []
        for number in batch:
            rendered = compiled.render(_context(number))
            # The columns a bulk job writes; the rest take their defaults, as theirs do.
            row = {
                "id": new_id("msg"),
                "project_id": project_id,
                "idempotency_key": f"floor:{number}",
                "customer_id": f"cus_{number}",
                "channel": "email",
                "provider": "capture",
                "marketing": False,
                "recipient": f"r{number}@example.com",
                "status": DeliveryStatus.QUEUED,
                "priority": 10,
                "content": message_content(rendered, f"Reader {number}", None),
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            rows.append(row)
        names = tuple(rows[0])
        with database.session() as session:
            connection = session.connection()
            insert_many(connection, _DELIVERIES, names, ([r[n] for n in names] for r in rows))
            queued = ((r["id"], "queued", None, now) for r in rows)
            insert_many(connection, _CHANGES, HISTORY, queued)
        sent_at = utcnow()
        with database.session() as session:
            connection = session.connection()
            connection.execute(_MARK_SENT, [{"delivery_id": r["id"], "at": sent_at} for r in rows])
            insert_many(
                connection, _CHANGES, HISTORY, ((r["id"], "sent", None, sent_at) for r in rows)
            )
        if first_sent is None:
            first_sent = time.perf_counter() - started
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    used = (after.ru_utime + after.ru_stime) - (cpu.ru_utime + cpu.ru_stime)
    backend = database.engine.dialect.name
    database.dispose()
    return {
        "floor": "bulk_send",
        "backend": backend,
        "customers": count,
        "sent": count,
        "seconds": round(seconds, 2),
        "messages_per_second": round(count / seconds, 1) if seconds else None,
        "cpu_ms_per_message": round(used * 1000 / count, 3) if count else None,
        "first_sent_seconds": round(first_sent or 0.0, 3),
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="dm-floor-bulk-") as folder,
        migrated_database(args.backend, Path(folder)) as url,
    ):
        figures = measure(args.customers, url)
    for key, value in figures.items():
        print(f"{key:<20}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
