"""Bulk sends over HTTP: preflight, start, progress, pause, resume, cancel."""

from __future__ import annotations

import time

from litestar import Litestar
from litestar.testing import TestClient

from distribution.storage.db import Database
from tests.builders import publish_template
from tests.conftest import ProjectCredentials

Client = TestClient[Litestar]


def _setup(
    client: Client, db: Database, project: ProjectCredentials, codes: int
) -> dict[str, object]:
    template = publish_template(db, project.project.id, subject="Hi", body="<p>{{ code.code }}</p>")
    campaign = client.post("/v1/campaigns", json={"name": "Bulk"}).json()["id"]
    pool = client.post("/v1/code-pools", json={"campaign": campaign, "name": "p"}).json()["id"]
    client.post(f"/v1/code-pools/{pool}/codes/generate", json={"count": codes, "length": 10})
    for i in range(3):
        client.post("/v1/customers", json={"source_id": f"b{i}", "email": f"b{i}@example.com"})
    return {
        "campaign": campaign,
        "audience": {"customers": ["b0", "b1", "b2"]},
        "channels": [{"channel": "email", "template": template, "provider": "capture"}],
    }


def test_preflight_then_start_pause_resume_cancel(
    client: Client, app_database: Database, api_project: ProjectCredentials
) -> None:
    body = _setup(client, app_database, api_project, 3)
    dry = client.post("/v1/bulk-sends/preflight", json=body)
    assert dry.status_code == 200, dry.text
    assert dry.json()["ok"], dry.text
    assert dry.json()["audience"] == 3
    started = client.post("/v1/bulk-sends", json=body)
    assert started.status_code == 202, started.text
    job = started.json()["id"]
    assert client.post(f"/v1/bulk-sends/{job}/pause").json()["status"] == "paused"
    assert client.post(f"/v1/bulk-sends/{job}/resume").json()["status"] != "paused"
    cancelled = client.post(f"/v1/bulk-sends/{job}/cancel", json={"release_codes": True})
    assert cancelled.json()["status"] == "cancelled"
    assert client.post(f"/v1/bulk-sends/{job}/resume").status_code == 409
    assert client.get(f"/v1/bulk-sends/{job}").json()["progress"]["audience"] == 3


def test_an_under_stocked_pool_is_a_409_and_bad_fields_are_422(
    client: Client, app_database: Database, api_project: ProjectCredentials
) -> None:
    body = _setup(client, app_database, api_project, 2)
    refused = client.post("/v1/bulk-sends", json=body)
    assert refused.status_code == 409
    assert "needs 3" in refused.json()["detail"]
    answer = client.post("/v1/bulk-sends/preflight", json=body)
    assert answer.status_code == 200, answer.text
    dry = answer.json()
    assert not dry["ok"]
    assert dry["codes_available"] == 2
    bad = client.post("/v1/bulk-sends", json={**body, "campaign": "nope"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "campaign"
    assert client.get("/v1/bulk-sends/bulk_nope").status_code == 404


def test_an_unknown_action_is_a_problem_naming_the_field(
    client: Client, app_database: Database, api_project: ProjectCredentials
) -> None:
    body = _setup(client, app_database, api_project, 3)
    job = client.post("/v1/bulk-sends", json=body).json()["id"]
    answer = client.post(f"/v1/bulk-sends/{job}/explode")
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["status"] == answer.status_code
    [action] = problem["errors"]  # the path's action, and no noise about the absent body
    assert action["field"] == "action"
    assert "explode" in action["reason"]
    # Nothing happened to the job.
    assert client.get(f"/v1/bulk-sends/{job}").json()["status"] != "cancelled"


def test_a_finished_send_answers_its_options_and_report_not_the_workers_bookkeeping(
    client: Client, app_database: Database, api_project: ProjectCredentials
) -> None:
    body = _setup(client, app_database, api_project, 3) | {"send_delay_seconds": 0}
    job = client.post("/v1/bulk-sends", json=body).json()["id"]
    deadline = time.monotonic() + 60
    while (answer := client.get(f"/v1/bulk-sends/{job}").json())["status"] != "completed":
        assert time.monotonic() < deadline, answer
        time.sleep(0.1)
    assert set(answer["options"]) == {
        "pool_id",
        "send_delay_seconds",
        "send_to_available",
        "send_at",
    }
    assert answer["preflight"]["channels"][0]["sendable"] == 3
    assert answer["progress"]["messages"] == {"sent": 3}
