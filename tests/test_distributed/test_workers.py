"""Three ``dm worker`` processes share one bulk job (PostgreSQL only).

The provider is the ``webhook`` kind pointed at a receiver process that counts calls per
delivery id (the ``webhook-id`` header) and notes when each arrived.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from sqlmodel import col, select

from distribution.models import Delivery
from distribution.storage.db import Database
from tests.conftest import make_project
from tests.service_process import wait_until
from tests.test_distributed.receiver import counting_receiver
from tests.test_distributed.windows import most_in_any_window
from tests.test_distributed.workers import (
    Invite,
    WorkerFleet,
    add_customers,
    api_client,
    delivery_counts,
    start_invite,
)
from tests.test_providers.fakes.webhook_receiver import SECRET

pytestmark = pytest.mark.slow

WORKERS = 3
# Short, so a killed worker's claims are found abandoned soon.
LEASE = "4"
# A rate-limited batch takes longer than LEASE: the default lease keeps its rows claimed.
ONE_JOB_AT_A_TIME = {"DM_WORKER_CONCURRENCY": "1"}


def _webhook_provider(
    client: httpx.Client, url: str, *, rate_per_second: float | None = None
) -> str:
    answer = client.post(
        "/v1/providers",
        json={
            "name": "hook",
            "kind": "webhook",
            "config": {"url": f"{url}/messages", "secret": SECRET},
            "max_concurrency": 50,
            "rate_per_second": rate_per_second,
        },
    )
    assert answer.status_code == 201, answer.text
    return "hook"


def _statuses(database: Database, job_id: str) -> dict[str, str]:
    """The job's deliveries: id -> status."""
    with database.reader() as session:
        rows = session.exec(
            select(Delivery.id, Delivery.status).where(col(Delivery.bulk_job_id) == job_id)
        ).all()
    return {str(delivery_id): str(status) for delivery_id, status in rows}


def _settled(database: Database, invite: Invite) -> bool:
    counts = delivery_counts(database, invite.job_id)
    return sum(counts.values()) == invite.recipients and not (
        counts.get("queued") or counts.get("sending")
    )


@pytest.fixture
def setup_invite(
    postgres: Database, postgres_url: str, tmp_path: Path
) -> Iterator[tuple[TestClient[Any], str]]:
    """(API client with a new project's credentials, project id)."""
    credentials = make_project(postgres)
    with api_client(postgres_url, tmp_path) as client:
        client.headers.update(credentials.headers)
        yield client, credentials.project.id


def test_three_workers_send_a_20000_message_job_exactly_once(
    postgres: Database, postgres_url: str, tmp_path: Path, setup_invite: tuple[TestClient[Any], str]
) -> None:
    client, project_id = setup_invite
    recipients = 20_000
    add_customers(postgres, project_id, recipients)
    with (
        counting_receiver() as receiver,
        WorkerFleet(postgres_url, tmp_path, WORKERS) as fleet,
    ):
        invite = start_invite(client, _webhook_provider(client, receiver.url), recipients)
        wait_until(
            lambda: _settled(postgres, invite),
            lambda: f"not settled: {delivery_counts(postgres, invite.job_id)}\n{fleet.log()}",
            limit=600,
        )
        assert fleet.running() == WORKERS
        calls = receiver.calls()
    deliveries = _statuses(postgres, invite.job_id)
    assert len(deliveries) == recipients
    assert Counter(deliveries.values()) == {"sent": recipients}
    assert set(calls) == set(deliveries)
    assert set(calls.values()) == {1}


def test_sigkill_one_worker_the_others_finish_the_job(
    postgres: Database, postgres_url: str, tmp_path: Path, setup_invite: tuple[TestClient[Any], str]
) -> None:
    client, project_id = setup_invite
    recipients = 3000
    add_customers(postgres, project_id, recipients)
    # Slow answers keep many sends in flight, so the kill lands mid-batch.
    with (
        counting_receiver(delay=0.2) as receiver,
        WorkerFleet(postgres_url, tmp_path, WORKERS, {"DM_LEASE_SECONDS": LEASE}) as fleet,
    ):
        invite = start_invite(client, _webhook_provider(client, receiver.url), recipients)
        wait_until(
            lambda: receiver.total() >= recipients // 5,
            lambda: f"no sends: {delivery_counts(postgres, invite.job_id)}\n{fleet.log()}",
            limit=300,
        )
        fleet.kill(0)
        at_kill = receiver.total()
        wait_until(
            lambda: _settled(postgres, invite),
            lambda: f"not settled: {delivery_counts(postgres, invite.job_id)}\n{fleet.log()}",
            limit=600,
        )
        assert fleet.running() == WORKERS - 1
        calls = receiver.calls()
    deliveries = _statuses(postgres, invite.job_id)
    statuses = Counter(deliveries.values())
    assert len(deliveries) == recipients, "every recipient got a delivery"
    assert set(statuses) <= {"sent", "unknown"}, statuses
    assert at_kill < recipients, "the kill came after every delivery was sent"
    unknown = {i for i, status in deliveries.items() if status == "unknown"}
    sent = {i for i, status in deliveries.items() if status == "sent"}
    assert all(calls[i] == 1 for i in sent), "a sent delivery reached it twice"
    assert set(calls) <= set(deliveries)
    duplicates = {i for i, n in calls.items() if n > 1}
    assert duplicates <= unknown


def test_a_provider_rate_limit_holds_across_three_workers(
    postgres: Database, postgres_url: str, tmp_path: Path, setup_invite: tuple[TestClient[Any], str]
) -> None:
    client, project_id = setup_invite
    rate = 50.0
    burst = rate  # the default: one second's worth
    # Three jobs of 200 (the batch size), one at a time per worker: each worker sends one.
    recipients = 600
    add_customers(postgres, project_id, recipients)
    with (
        counting_receiver() as receiver,
        WorkerFleet(postgres_url, tmp_path, WORKERS, ONE_JOB_AT_A_TIME) as fleet,
    ):
        invite = start_invite(
            client, _webhook_provider(client, receiver.url, rate_per_second=rate), recipients
        )
        wait_until(
            lambda: _settled(postgres, invite),
            lambda: f"not settled: {delivery_counts(postgres, invite.job_id)}\n{fleet.log()}",
            limit=300,
        )
        arrivals = receiver.arrivals()
    assert delivery_counts(postgres, invite.job_id) == {"sent": recipients}
    assert len(arrivals) == recipients
    for window in (0.5, 1.0, 2.0, 4.0):
        most = most_in_any_window(arrivals, window)
        assert most <= rate * window + burst, (window, most)
