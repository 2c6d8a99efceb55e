"""A campaign's statistics with a million messages, on PostgreSQL, through the real service.

Seeds one campaign of N deliveries (default 1,000,000) across 3 distributions, 4 template
versions, 30 days and every status, 1% of them converted and credited to redemptions, with one
``INSERT ... SELECT generate_series`` (the counting triggers fire, as for any write), folds the
deltas, then times ``GET /v1/campaigns/{id}/stats`` and ``/stats/days`` of ``dm serve``
(embedded mode, on that database) over ``--requests`` requests each: p50 and p95 in ms. The
baseline is the scan the statistics ran before the counts (a group by status, and by day, over
the campaign's deliveries), timed on the same database.

    PYTHONPATH=. .venv/bin/python benchmarks/stats.py [--database-url postgresql+psycopg://...]
        [--messages 1000000] [--requests 30]

The database is TEST_DATABASE_URL unless given; everything is written into a schema of its own,
dropped at the end. Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run from the repository root: benchmarks/providers.py would shadow the providers package.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import httpx  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from benchmarks._service import free_port, serving  # noqa: E402
from distribution.codes.campaigns import CampaignSpec, create_campaign  # noqa: E402
from distribution.storage.db import Database  # noqa: E402
from distribution.storage.delivery_counts import fold  # noqa: E402
from distribution.storage.migrate import upgrade  # noqa: E402
from tests.conftest import make_project  # noqa: E402

WARM_UP_SECONDS = 10
TABLES = "delivery, delivery_count, delivery_count_delta, redemption, redemption_attribution"
STATUSES = ("delivered", "delivered", "sent", "sent", "failed", "bounced", "queued", "cancelled")

# Every value comes from the series number ``n``: no Python loop over a million rows.
SEED = """
INSERT INTO delivery (
    id, project_id, idempotency_key, distribution_id, campaign_id, channel, provider,
    template_id, template_version_id, marketing, test, status, priority, content, attempts,
    next_attempt_at, created_at, updated_at, sent_at, code, converted_at)
SELECT
    'msg_bench_' || n, :project, 'bench:' || n, 'dist_bench_' || (n % 3), :campaign,
    'email', 'capture', 'tpl_bench', 'tver_bench_' || (n % 4), false, false,
    (ARRAY[{statuses}])[1 + n % {count}], 0, '{{}}'::jsonb, 1,
    -- Queued rows are due far ahead: due now, the service's worker would send them while
    -- the requests are timed (its sends, not the statistics, made the slow requests).
    CASE WHEN (ARRAY[{statuses}])[1 + n % {count}] = 'queued'
         THEN timestamp '2099-01-01' ELSE day END,
    day, day,
    CASE WHEN n % {count} < 4 OR n % {count} = 5 THEN day + interval '1 minute' END,
    'CODE' || n,
    CASE WHEN n % 100 = 0 AND n % {count} < 4 THEN day + interval '2 hours' END
FROM generate_series(1, :messages) AS n,
     LATERAL (SELECT timestamp '2026-11-01' + (n % 30) * interval '1 day'
                     + (n % 86400) * interval '1 second' AS day) AS moment
"""
REDEMPTIONS = """
INSERT INTO redemption (id, project_id, dedupe_key, code, amount, currency, attributed,
                        redeemed_at, created_at)
SELECT 'rdm_' || id, project_id, 'rdm:' || id, code, 1000, 'EUR', 1, converted_at, converted_at
FROM delivery WHERE project_id = :project AND converted_at IS NOT NULL
"""
ATTRIBUTIONS = """
INSERT INTO redemption_attribution (redemption_id, delivery_id)
SELECT 'rdm_' || id, id FROM delivery WHERE project_id = :project AND converted_at IS NOT NULL
"""
# The scans the statistics ran before the counts (outbox.conversions before migration 0022).
OLD_TOTALS = """
SELECT status, count(*), count(sent_at) FROM delivery
WHERE project_id = :project AND NOT test AND campaign_id = :campaign GROUP BY status
"""
OLD_DAYS = """
SELECT substr(CAST(created_at AS VARCHAR), 1, 10) AS day, count(*), count(sent_at),
       count(id) FILTER (WHERE status = 'delivered'),
       count(id) FILTER (WHERE status IN ('failed', 'bounced')), count(converted_at)
FROM delivery WHERE project_id = :project AND NOT test AND campaign_id = :campaign GROUP BY 1
"""


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    return parser.parse_args()


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 1)

    return {"p50_ms": at(0.5), "p95_ms": at(0.95)}


def _timed(call: Callable[[], Any], times: int) -> list[float]:
    spans = []
    for _ in range(times):
        start = time.perf_counter()
        call()
        spans.append(time.perf_counter() - start)
    return spans


def _seed(database: Database, messages: int) -> dict[str, Any]:
    project = make_project(database, "stats-bench")
    with database.session() as session:
        campaign = create_campaign(session, project.project.id, CampaignSpec(name="Million")).id
    values = {"project": project.project.id, "campaign": campaign, "messages": messages}
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    start = time.perf_counter()
    with database.engine.begin() as connection:
        # Autovacuum's pass over a million fresh rows would run during the timed requests (a
        # table grown over months has had it long ago): off for this schema's tables.
        for table in TABLES.split(", "):
            connection.exec_driver_sql(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        seed = SEED.format(statuses=statuses, count=len(STATUSES))
        connection.execute(text(seed), values)
        connection.execute(text(REDEMPTIONS), values)
        connection.execute(text(ATTRIBUTIONS), values)
    seeded = time.perf_counter() - start
    start = time.perf_counter()
    fold(database.engine)
    folded = time.perf_counter() - start
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f"ANALYZE {TABLES}")
    return {
        "headers": project.headers,
        "campaign": campaign,
        "values": values,
        "seed_seconds": round(seeded, 1),
        "fold_seconds": round(folded, 2),
    }


def main() -> None:
    arguments = _arguments()
    if not arguments.database_url:
        raise SystemExit("give --database-url or set TEST_DATABASE_URL (PostgreSQL)")
    schema = f"bench_stats_{secrets.token_hex(4)}"
    admin = create_engine(arguments.database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = (
        make_url(arguments.database_url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    database = Database(url)
    try:
        upgrade(database.engine)
        seeded = _seed(database, arguments.messages)
        values = seeded["values"]
        with database.engine.connect() as connection:
            old_totals = _timed(lambda: connection.execute(text(OLD_TOTALS), values).all(), 5)
            old_days = _timed(lambda: connection.execute(text(OLD_DAYS), values).all(), 5)
        with tempfile.TemporaryDirectory() as folder:
            port = free_port()
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "DM_DATA_DIR": folder,
                "DM_PORT": str(port),
                "DM_SECRET_KEY": "benchmark-secret",
                "DM_LOG_LEVEL": "WARNING",
            }
            with (
                serving(env),
                httpx.Client(
                    base_url=f"http://127.0.0.1:{port}", headers=seeded["headers"], timeout=60
                ) as client,
            ):
                path = f"/v1/campaigns/{seeded['campaign']}/stats"
                stats = client.get(path).json()
                assert stats["messages"] == arguments.messages, stats
                # Untimed: the service's first seconds (connections, caches, its render pool's
                # processes importing the program) are not what a reader of the figures waits
                # for. Ten requests were not enough: the pool's start-up took CPU for seconds.
                warm_until = time.monotonic() + WARM_UP_SECONDS
                while time.monotonic() < warm_until:
                    client.get(path).raise_for_status()
                    client.get(f"{path}/days").raise_for_status()
                stats_spans = _timed(
                    lambda: client.get(path).raise_for_status(), arguments.requests
                )
                days = client.get(f"{path}/days").json()
                assert sum(d["messages"] for d in days) == arguments.messages
                days_spans = _timed(
                    lambda: client.get(f"{path}/days").raise_for_status(), arguments.requests
                )
    finally:
        database.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
    figures = {
        "messages": arguments.messages,
        "seed_seconds": seeded["seed_seconds"],
        "fold_seconds": seeded["fold_seconds"],
        "stats": _percentiles(stats_spans),
        "stats_days": _percentiles(days_spans),
        "old_scan_totals": _percentiles(old_totals),
        "old_scan_days": _percentiles(old_days),
        "converted": stats["converted"],
        "conversions": stats["conversions"],
    }
    figures["speedup_p50_stats"] = round(
        figures["old_scan_totals"]["p50_ms"] / max(figures["stats"]["p50_ms"], 0.1), 1
    )
    figures["speedup_p50_days"] = round(
        figures["old_scan_days"]["p50_ms"] / max(figures["stats_days"]["p50_ms"], 0.1), 1
    )
    for key, value in figures.items():
        print(f"{key:<20}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
