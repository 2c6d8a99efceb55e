"""Three ``dm worker`` processes run the scheduler's periodic task: each birthday fires once.

The workers run it every second (``DM_SCHEDULE_INTERVAL=1``) with the real clock, so the
distribution's hour is the minute that just began, in UTC, on today's month and day.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from distribution.customers.store import upsert_customers
from distribution.models import Delivery, Event, utcnow
from distribution.storage.db import Database
from tests.builders import distribute, publish_template
from tests.conftest import make_project
from tests.service_process import wait_until
from tests.test_distributed.receiver import counting_receiver
from tests.test_distributed.workers import WorkerFleet, api_client
from tests.test_providers.fakes.webhook_receiver import SECRET

pytestmark = pytest.mark.slow

CUSTOMERS = 60


def _sent(database: Database, project_id: str) -> Counter[str]:
    with database.reader() as session:
        rows = session.exec(
            select(Delivery.status).where(col(Delivery.project_id) == project_id)
        ).all()
    return Counter(str(status) for status in rows)


def _events(database: Database, project_id: str) -> int:
    with database.reader() as session:
        return int(
            session.exec(
                select(func.count()).select_from(Event).where(Event.project_id == project_id)
            ).one()
        )


def test_three_workers_fire_each_birthday_once(
    postgres: Database, postgres_url: str, tmp_path: Path
) -> None:
    credentials = make_project(postgres)
    project_id = credentials.project.id
    now = utcnow()
    # Within the minute that began (or the one before it, at the start of a minute).
    at = now - timedelta(seconds=1)
    birthday = at.replace(year=1992)  # a leap year: any day of this year exists in it
    rows = [
        {
            "source_id": f"b{n}",
            "email": f"b{n}@example.com",
            "birthdate": birthday.date().isoformat(),
            "timezone": "UTC",
        }
        for n in range(CUSTOMERS)
    ]
    with postgres.session() as session:
        upsert_customers(session, project_id, rows, default_region="US")
    with counting_receiver() as receiver:
        with api_client(postgres_url, tmp_path) as client:
            client.headers.update(credentials.headers)
            answer = client.post(
                "/v1/providers",
                json={
                    "name": "hook",
                    "kind": "webhook",
                    "config": {"url": f"{receiver.url}/messages", "secret": SECRET},
                },
            )
            assert answer.status_code == 201, answer.text
        template = publish_template(postgres, project_id, subject="Happy birthday", body="<p>!</p>")
        distribute(
            postgres,
            project_id,
            "customer.date",
            [("email", template, "hook")],
            schedule={"field": "birthdate", "at": at.strftime("%H:%M")},
        )
        with WorkerFleet(postgres_url, tmp_path, 3, {"DM_SCHEDULE_INTERVAL": "1"}) as fleet:
            wait_until(
                lambda: _sent(postgres, project_id)["sent"] >= CUSTOMERS,
                lambda: f"not sent: {_sent(postgres, project_id)}\n{fleet.log()}",
                limit=180,
            )
            time.sleep(4)  # several more ticks on every worker: nothing fires again
            assert fleet.running() == 3
        calls = receiver.calls()
    assert _events(postgres, project_id) == CUSTOMERS
    assert _sent(postgres, project_id) == {"sent": CUSTOMERS}
    assert len(calls) == CUSTOMERS
    assert set(calls.values()) == {1}
