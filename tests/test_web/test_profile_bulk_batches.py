"""A bulk send through the Braze attributes channel, end to end through the service: profile
writes go 75 to a `/users/track` call, and with 30% of the calls failing (429 with the
rate-limit reset, 500, 503) every customer is still written exactly once, with their own code."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from litestar import Litestar
from litestar.testing import TestClient
from sqlmodel import col, select

from distribution.models import Delivery
from distribution.storage.db import Database
from tests.conftest import make_project, migrated_database
from tests.service_process import wait_until
from tests.test_distributed.workers import post_invite, prepare_invite
from tests.test_providers.fakes import braze
from tests.test_providers.fakes.braze import FakeBraze
from tests.test_providers.fakes.server import serve
from tests.test_web.bulk_invite import FINAL, add_readers, assigned_codes, bulk_send
from web.app import create_app

from .conftest import own_settings

CUSTOMERS = 1500


@contextmanager
def _service(directory: Path) -> Iterator[tuple[TestClient[Litestar], Database]]:
    """A service of its own (SQLite, embedded worker) whose retries come quickly."""
    with migrated_database("sqlite", directory) as url:
        settings = own_settings(
            url,
            directory,
            allow_private_networks=True,  # the fake listens on 127.0.0.1
            # Retries within a second (and after Braze's rate-limit reset), not minutes.
            retry_backoff=0.05,
            retry_max_backoff=0.5,
            max_attempts=30,
        )
        app = create_app(settings)
        project = make_project(app.state.database)
        with TestClient(app) as client:
            client.headers.update(project.headers)
            yield client, app.state.database


def test_a_bulk_profile_push_writes_each_customer_once_through_failing_batches(
    tmp_path: Path,
) -> None:
    api = FakeBraze()
    api.flaky(0.3, seed=5)
    with serve(api) as url, _service(tmp_path) as (client, database):
        answer = client.post(
            "/v1/providers",
            json={
                "name": "attrs",
                "kind": "braze_attributes",
                "config": {"api_key": braze.API_KEY, "base_url": url},
            },
        )
        assert answer.status_code == 201, answer.text
        source_ids = add_readers(client, CUSTOMERS)
        request = prepare_invite(client, "attrs", CUSTOMERS)
        request["channels"] = [{"channel": "profile", "provider": "attrs"}]
        job_id = post_invite(client, request, CUSTOMERS).job_id
        wait_until(
            lambda: bulk_send(client, job_id)["status"] in FINAL,
            lambda: f"the bulk send did not finish: {bulk_send(client, job_id)}",
            limit=90,
        )
        job = bulk_send(client, job_id)
        codes = assigned_codes(database, str(request["campaign"]))
        with database.reader() as session:
            rows = session.exec(
                select(Delivery.status, Delivery.attempts).where(
                    col(Delivery.bulk_job_id) == job_id
                )
            ).all()

    assert job["status"] == "completed", job
    assert job["progress"]["messages"] == {"sent": CUSTOMERS}
    assert Counter(status for status, _ in rows) == {"sent": CUSTOMERS}
    assert max(attempts for _, attempts in rows) > 1  # faults were met, and retried
    # Every customer written exactly once, with their own code: one per customer.
    assert api.writes == dict.fromkeys(source_ids, 1)
    written = {s: api.attributes[s]["referral_code"] for s in source_ids}
    assert len(codes) == CUSTOMERS
    assert sorted(written.values()) == sorted(codes.values())
    # Batched: a call per 75 customers, and the calls the faults cost again.
    calls = [r for r in api.requests if r.path == "/users/track"]
    assert all(len(r.json()["attributes"]) <= 75 for r in calls)
    assert math.ceil(CUSTOMERS / 75) < len(calls) < CUSTOMERS / 10
