"""``POST /v1/distributions/preview``: what an event would make of a rule not saved yet."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from distribution.storage.db import Database
from tests.builders import publish_template
from tests.conftest import ProjectCredentials

Client = TestClient[Litestar]


def _rule(template: str, **extra: object) -> dict[str, object]:
    return {
        "name": "Welcome",
        "trigger": "code.assigned",
        "channels": [{"channel": "email", "template": template, "provider": "capture"}],
        **extra,
    }


def test_an_unsaved_rule_previews_a_real_customer_and_stores_nothing(
    client: Client, app_database: Database, api_project: ProjectCredentials
) -> None:
    template = publish_template(
        app_database,
        api_project.project.id,
        subject="Hi {{ customer.name }}",
        body="<p>Your code {{ code.code }}</p>",
    )
    client.post("/v1/customers", json={"source_id": "ana", "name": "Ana", "email": "a@example.com"})
    client.post("/v1/distributions", json=_rule(template))  # the same name: no conflict
    answer = client.post(
        "/v1/distributions/preview",
        json={
            "distribution": _rule(template),
            "event": {"customer": {"source_id": "ana"}, "code": {"code": "ANA-1"}},
        },
    )
    assert answer.status_code == 200, answer.text
    [row] = answer.json()["deliveries"]
    assert row["status"] == "queued"
    assert row["recipient"] == "a@example.com"
    assert row["content"]["subject"] == "Hi Ana"
    assert "ANA-1" in row["content"]["html"]
    assert len(client.get("/v1/distributions").json()) == 1
    assert client.get("/v1/messages").json()["messages"] == []


def test_an_unsaved_rule_is_checked_like_a_new_one(
    client: Client, app_database: Database, api_project: ProjectCredentials
) -> None:
    template = publish_template(app_database, api_project.project.id)
    rule = _rule(template, filters={"conditions": {"field": "name", "op": "gt", "value": 1}})
    answer = client.post("/v1/distributions/preview", json={"distribution": rule, "event": {}})
    assert answer.status_code == 422
    fields = [e["field"] for e in answer.json()["errors"]]
    assert any(f.startswith("filters.conditions") for f in fields), fields
