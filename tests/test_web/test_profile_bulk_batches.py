"""Bulk sends through the profile channel in batches. Braze, end to end through the service: profile
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
from tests.test_providers.fakes import activecampaign, braze, mailchimp_marketing
from tests.test_providers.fakes.activecampaign import FakeActiveCampaign
from tests.test_providers.fakes.braze import FakeBraze
from tests.test_providers.fakes.mailchimp_marketing import FakeMailchimpMarketing
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


#: Each kind's credentials at its fake.
CREDENTIALS: dict[str, dict[str, object]] = {
    "braze_attributes": {"api_key": braze.API_KEY},
    "mailchimp_audience": {
        "api_key": mailchimp_marketing.API_KEY,
        "list_id": mailchimp_marketing.LIST_ID,
    },
    "activecampaign": {"api_token": activecampaign.API_TOKEN, "fields": {"12": "code"}},
}


def _provider(client: TestClient[Litestar], kind: str, url: str) -> None:
    """The sync provider ``crm`` of ``kind`` at the fake served at ``url``."""
    config = CREDENTIALS[kind] | {"base_url": url}
    answer = client.post("/v1/providers", json={"name": "crm", "kind": kind, "config": config})
    assert answer.status_code == 201, answer.text


def _send_to_everyone(
    client: TestClient[Litestar], database: Database, customers: int
) -> tuple[str, int]:
    """A bulk send of a code to each of ``customers`` new customers through the profile channel
    of ``crm``, waited for: its campaign, and the most attempts a row took."""
    add_readers(client, customers)
    request = prepare_invite(client, "crm", customers)
    request["channels"] = [{"channel": "profile", "provider": "crm"}]
    job_id = post_invite(client, request, customers).job_id
    wait_until(
        lambda: bulk_send(client, job_id)["status"] in FINAL,
        lambda: f"the bulk send did not finish: {bulk_send(client, job_id)}",
        limit=90,
    )
    job = bulk_send(client, job_id)
    assert job["status"] == "completed", job
    assert job["progress"]["messages"] == {"sent": customers}
    with database.reader() as session:
        rows = session.exec(
            select(Delivery.status, Delivery.attempts).where(col(Delivery.bulk_job_id) == job_id)
        ).all()
    assert Counter(status for status, _ in rows) == {"sent": customers}
    return str(request["campaign"]), max(attempts for _, attempts in rows)


def test_a_bulk_profile_push_writes_each_customer_once_through_failing_batches(
    tmp_path: Path,
) -> None:
    api = FakeBraze()
    api.flaky(0.3, seed=5)
    with serve(api) as url, _service(tmp_path) as (client, database):
        _provider(client, "braze_attributes", url)
        campaign, attempts = _send_to_everyone(client, database, CUSTOMERS)
        codes = assigned_codes(database, campaign)

    assert attempts > 1  # faults were met, and retried
    source_ids = [f"reader-{n}" for n in range(CUSTOMERS)]  # as add_readers names them
    # Every customer written exactly once, with their own code: one per customer.
    assert api.writes == dict.fromkeys(source_ids, 1)
    written = {s: api.attributes[s]["referral_code"] for s in source_ids}
    assert len(codes) == CUSTOMERS
    assert sorted(written.values()) == sorted(codes.values())
    # Batched: a call per 75 customers, and the calls the faults cost again.
    calls = [r for r in api.requests if r.path == "/users/track"]
    assert all(len(r.json()["attributes"]) <= 75 for r in calls)
    assert math.ceil(CUSTOMERS / 75) < len(calls) < CUSTOMERS / 10


# Mailchimp and ActiveCampaign take batches too (`/3.0/batches`, the bulk contact import): a
# bulk send writes each customer's code through them, with one status per recipient.
BATCHED_CUSTOMERS = 600


def test_a_bulk_send_writes_mailchimp_members_through_batches_despite_failed_operations(
    tmp_path: Path,
) -> None:
    api = FakeMailchimpMarketing()
    api.fail_operations_randomly(0.3, 429, seed=3)
    with serve(api) as url, _service(tmp_path) as (client, database):
        _provider(client, "mailchimp_audience", url)
        campaign, attempts = _send_to_everyone(client, database, BATCHED_CUSTOMERS)
        codes = assigned_codes(database, campaign)

    assert attempts > 1  # the refused operations were retried
    written = {m["email_address"]: m["merge_fields"]["RCODE"] for m in api.members.values()}
    assert len(written) == BATCHED_CUSTOMERS
    assert sorted(written.values()) == sorted(codes.values())
    batches = [r for r in api.requests if r.path == "/3.0/batches" and r.method == "POST"]
    assert all(len(r.json()["operations"]) <= 500 for r in batches)
    # A batch per claim of rows, and again for the operations refused: far from one per member.
    assert len(batches) < BATCHED_CUSTOMERS / 20


def test_a_bulk_send_writes_activecampaign_contacts_through_bulk_imports(
    tmp_path: Path,
) -> None:
    api = FakeActiveCampaign()
    with serve(api) as url, _service(tmp_path) as (client, database):
        _provider(client, "activecampaign", url)
        campaign, _ = _send_to_everyone(client, database, BATCHED_CUSTOMERS)
        codes = assigned_codes(database, campaign)

    written = {email: api.values[(c["id"], "12")] for email, c in api.contacts.items()}
    assert len(written) == BATCHED_CUSTOMERS
    assert sorted(written.values()) == sorted(codes.values())
    assert sum(api.import_sizes) == BATCHED_CUSTOMERS
    assert max(api.import_sizes) <= 250
