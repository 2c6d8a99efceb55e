"""A bulk send's ``outcome``: what it came to for people, decided in one place for the API and
the pages. A completed job whose messages all failed is ``failed``, not a green ``completed``."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from distribution.bulk import job_outcome
from distribution.storage.db import Database
from tests.builders import publish_template
from tests.conftest import ProjectCredentials


@pytest.mark.parametrize(
    ("status", "messages", "outcome"),
    [
        ("completed", {"sent": 3}, "completed"),
        ("completed", {"delivered": 2, "suppressed": 1}, "completed"),
        ("completed", {"failed": 3}, "failed"),
        ("completed", {"failed": 1, "bounced": 2, "suppressed": 1}, "failed"),
        ("completed", {"sent": 2, "failed": 1}, "completed_with_failures"),
        ("completed", {}, "completed"),
        ("sending", {"failed": 3}, "sending"),
        ("cancelled", {"cancelled": 3}, "cancelled"),
        ("failed", {}, "failed"),
    ],
)
def test_the_outcome_of_a_job(status: str, messages: dict[str, int], outcome: str) -> None:
    assert job_outcome(status, messages) == outcome


def test_the_api_answers_the_outcome_beside_the_status(
    client: TestClient[Litestar], app_database: Database, api_project: ProjectCredentials
) -> None:
    template = publish_template(
        app_database, api_project.project.id, subject="Hi", body="<p>{{ code.code }}</p>"
    )
    campaign = client.post("/v1/campaigns", json={"name": "Outcome"}).json()["id"]
    pool = client.post("/v1/code-pools", json={"campaign": campaign, "name": "p"}).json()["id"]
    client.post(f"/v1/code-pools/{pool}/codes/generate", json={"count": 2, "length": 10})
    client.post("/v1/customers", json={"source_id": "o1", "email": "o1@example.com"})
    body = {
        "campaign": campaign,
        "audience": {"customers": ["o1"]},
        "channels": [{"channel": "email", "template": template, "provider": "capture"}],
    }
    started = client.post("/v1/bulk-sends", json=body)
    assert started.status_code == 202, started.text
    assert started.json()["outcome"] == started.json()["status"]
    job = started.json()["id"]
    cancelled = client.post(f"/v1/bulk-sends/{job}/cancel", json={}).json()
    assert (cancelled["status"], cancelled["outcome"]) == ("cancelled", "cancelled")
