"""A bulk invite to N customers of a segment on the embedded default (SQLite) to `capture`.

Builds the real app in-process (``create_app``; the embedded worker and bulk runner run in its
event loop), creates N customers, a template, a campaign and a pool of N codes, then times
``POST /v1/bulk-sends`` (no sending delay) until the job is ``completed``. Phases come from the
rows themselves: preflight (job start), preparation (assignment + rendering + inserting, in
batches), delivering (first to last ``sent``). Peak memory is this process's max RSS.

    PYTHONPATH=. .venv/bin/python benchmarks/bulk.py [--customers 100000]

Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

# Run from the repository root: benchmarks/providers.py would shadow the providers package.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from litestar.testing import TestClient  # noqa: E402
from sqlmodel import func, select  # noqa: E402

from distribution.bulk import get_job  # noqa: E402
from distribution.customers import upsert_customers  # noqa: E402
from distribution.db import Database  # noqa: E402
from distribution.models import Delivery  # noqa: E402
from tests.conftest import make_project  # noqa: E402
from tests.test_distribution.engine_helpers import publish_template  # noqa: E402
from web.app import create_app  # noqa: E402
from web.settings import Settings  # noqa: E402

BODY = (
    "<p>Hi {{ customer.first_name }},</p><p>Your invite code is <b>{{ code.code }}</b>: "
    '<a href="{{ code.referral_url }}">join here</a>.</p>'
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    count = parser.parse_args().customers
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
    template = publish_template(database, project_id, subject="You're invited", body=BODY)
    t0 = time.perf_counter()
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
    setup_customers = time.perf_counter() - t0
    with TestClient(app) as client:
        client.headers.update(creds.headers)
        campaign = client.post(
            "/v1/campaigns",
            json={"name": "Bench", "referral_url_template": "https://shop.example.com/r/{code}"},
        ).json()["id"]
        pool = client.post("/v1/code-pools", json={"campaign": campaign, "name": "p"}).json()["id"]
        t0 = time.perf_counter()
        generated = client.post(
            f"/v1/code-pools/{pool}/codes/generate", json={"count": count, "length": 12}
        ).json()
        setup_codes = time.perf_counter() - t0
        segment = client.post(
            "/v1/segments",
            json={"name": "wave", "filter": {"field": "metadata.wave", "op": "eq", "value": "one"}},
        ).json()["id"]
        start = time.perf_counter()
        answer = client.post(
            "/v1/bulk-sends",
            json={
                "campaign": campaign,
                "audience": {"segment": segment},
                "channels": [{"channel": "email", "template": template, "provider": "capture"}],
                "send_delay_seconds": 0,
            },
        )
        accepted = time.perf_counter() - start
        job_id = answer.json()["id"]
        while True:
            time.sleep(0.1)
            status = client.get(f"/v1/bulk-sends/{job_id}").json()
            if status["status"] in ("completed", "failed", "cancelled"):
                break
        total = time.perf_counter() - start
    with database.reader() as session:
        job = get_job(session, project_id, job_id)
        first_row, last_row, first_sent, last_sent, sent = session.exec(
            select(
                func.min(Delivery.created_at),
                func.max(Delivery.created_at),
                func.min(Delivery.sent_at),
                func.max(Delivery.sent_at),
                func.count(Delivery.sent_at),
            ).where(Delivery.bulk_job_id == job_id)
        ).one()
    assert job.started_at is not None
    preflight = (first_row - job.started_at).total_seconds()
    preparing = (last_row - first_row).total_seconds()
    delivering = (last_sent - first_sent).total_seconds()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {
        "customers": count,
        "codes_generated": generated["added"],
        "status": job.status,
        "sent": sent,
        "request_seconds": round(accepted, 3),
        "preflight_seconds": round(preflight, 2),
        "preparing_seconds": round(preparing, 2),
        "delivering_seconds": round(delivering, 2),
        "total_seconds": round(total, 2),
        "messages_per_second": round(sent / total, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "setup_customers_seconds": round(setup_customers, 2),
        "setup_codes_seconds": round(setup_codes, 2),
    }
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
