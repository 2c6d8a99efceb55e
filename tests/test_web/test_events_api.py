"""Events in over HTTP, messages out through the embedded worker and the capture provider."""

from __future__ import annotations

import copy
import time
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from distribution.provider_registry import ProviderRegistry
from tests.conftest import ProjectCredentials
from tests.test_distribution.test_delivery_engine import VOUCHERIFY_REDEMPTION

Client = TestClient[Litestar]

REWARD_EMAIL = {
    "subject": "You earned {{ reward.amount | money(reward.currency) }}, {{ customer.first_name }}",
    "body_format": "mjml",
    "body": "<mjml><mj-body><mj-section><mj-column><mj-text>"
    "Thanks {{ customer.first_name }}! {{ reward.description }}: "
    "{{ reward.amount | money(reward.currency) }}.</mj-text></mj-column></mj-section>"
    "</mj-body></mjml>",
}


def _published_template(
    client: Client, source: dict[str, Any], category: str = "transactional"
) -> str:
    created = client.post(
        "/v1/templates",
        json={
            "name": f"reward-{time.monotonic_ns()}",
            "channel": "email",
            "category": category,
            **source,
        },
    )
    assert created.status_code == 201, created.text
    template = created.json()
    version_id = template["variants"][0]["latest_draft"]["id"]
    published = client.post(
        f"/v1/templates/{template['id']}/publish", json={"version_id": version_id}
    )
    assert published.status_code in (200, 201), published.text
    return str(template["id"])


def _wait_for(client: Client, predicate: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        messages = client.get("/v1/messages").json()["messages"]
        if predicate(messages) or time.monotonic() > deadline:
            return list(messages)
        time.sleep(0.05)


def test_voucherify_webhook_sends_exactly_one_reward_email(
    client: Client, app: Litestar, api_project: ProjectCredentials
) -> None:
    template_id = _published_template(client, REWARD_EMAIL)
    distribution = client.post(
        "/v1/distributions",
        json={
            "name": "Reward",
            "trigger": "redemption.succeeded",
            "channels": [{"channel": "email", "template": template_id, "provider": "capture"}],
        },
    )
    assert distribution.status_code == 201, distribution.text
    answers = [
        client.post("/v1/events", json=copy.deepcopy(VOUCHERIFY_REDEMPTION)) for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert [a.json()["duplicate"] for a in answers] == [False, True, True]
    assert answers[0].json()["deliveries"] == answers[2].json()["deliveries"]

    messages = _wait_for(client, lambda ms: ms and all(m["status"] == "sent" for m in ms))
    assert len(messages) == 1
    registry: ProviderRegistry = app.state.providers
    captured = registry.captured(api_project.project.id).messages
    assert len(captured) == 1
    assert captured[0].message.to == "grace@example.com"
    assert "€15.00" in (captured[0].message.subject or "")
    detail = client.get(f"/v1/messages/{messages[0]['id']}").json()
    assert [h["status"] for h in detail["history"]] == ["queued", "sent"]
    assert detail["content"]["subject"] == captured[0].message.subject


def test_idempotency_key_header_dedupes_our_events(client: Client) -> None:
    body = {"type": "something.happened", "customer": {"source_id": "k1"}}
    first = client.post("/v1/events", json=body, headers={"Idempotency-Key": "abc-1"}).json()
    second = client.post("/v1/events", json=body, headers={"Idempotency-Key": "abc-1"}).json()
    third = client.post("/v1/events", json=body, headers={"Idempotency-Key": "abc-2"}).json()
    assert first["id"] == second["id"] != third["id"]
    assert (first["duplicate"], second["duplicate"], third["duplicate"]) == (False, True, False)


def test_bad_events_are_422_naming_the_field(client: Client) -> None:
    response = client.post("/v1/events", json={"type": "no spaces allowed", "colour": 1})
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"type", "colour", "customer"} <= fields
    unknown = client.post("/v1/events", json={"type": "x.y", "customer": {"id": "cust_nobody"}})
    assert unknown.status_code == 422


def test_distribution_lifecycle_and_stats(client: Client) -> None:
    template_id = _published_template(client, REWARD_EMAIL)
    created = client.post(
        "/v1/distributions",
        json={
            "name": "Reward",
            "trigger": "reward.granted",
            "channels": [{"channel": "email", "template": template_id, "provider": "capture"}],
            "frequency_cap_hours": 24,
        },
    ).json()
    assert created["created_by"] == client.headers["x-app-id"]
    paused = client.post(f"/v1/distributions/{created['id']}/pause").json()
    assert paused["status"] == "paused"
    event = {
        "type": "reward.granted",
        "customer": {"source_id": "s1", "email": "s1@example.com", "name": "Sam"},
        "reward": {"amount": 100, "currency": "USD", "description": "Credit"},
    }
    assert client.post("/v1/events", json=event).json()["deliveries"] == []
    client.post(f"/v1/distributions/{created['id']}/resume")
    first = client.post("/v1/events", json=event).json()["deliveries"]
    capped = client.post("/v1/events", json=event).json()["deliveries"]
    assert [d["status"] for d in first] == ["queued"]
    assert [d["status"] for d in capped] == ["suppressed"]
    _wait_for(client, lambda ms: any(m["status"] == "sent" for m in ms))
    stats = client.get(f"/v1/distributions/{created['id']}/stats").json()
    assert stats["total"] == {"sent": 1, "suppressed": 1}
    assert stats["by_channel"]["email"] == {"sent": 1, "suppressed": 1}


def test_unsubscribe_link_suppresses_later_marketing(client: Client) -> None:
    template_id = _published_template(
        client,
        category="marketing",
        source={
            "body_format": "html",
            "subject": "News for {{ customer.first_name }}",
            "body": "<p>Hello {{ customer.first_name }}</p>"
            '<p><a href="{{ links.unsubscribe_url }}">Unsubscribe</a></p>',
        },
    )
    client.post(
        "/v1/distributions",
        json={
            "name": "News",
            "trigger": "news.published",
            "channels": [{"channel": "email", "template": template_id, "provider": "capture"}],
        },
    )
    event = {
        "type": "news.published",
        "customer": {"source_id": "n1", "email": "n1@example.com", "name": "Nia"},
    }
    client.post("/v1/events", json=event)
    [message] = _wait_for(client, lambda ms: ms and ms[0]["status"] == "sent")
    detail = client.get(f"/v1/messages/{message['id']}").json()
    link = detail["content"]["unsubscribe_url"]
    path = link.split("://", 1)[1].split("/", 1)[1]
    page = client.get(f"/{path}")
    assert page.status_code == 200
    assert "Unsubscribe" in page.text
    # RFC 8058 one-click: a POST with no cookies or credentials unsubscribes at once, no redirect.
    one_click = client.post(
        f"/{path}",
        content="List-Unsubscribe=One-Click",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-App-Id": "",
            "X-App-Token": "",
        },
    )
    assert one_click.status_code == 200
    second = client.post("/v1/events", json=event).json()["deliveries"]
    assert [d["status"] for d in second] == ["suppressed"]
    forged = client.post(f"/{path[:-3]}xyz", content="List-Unsubscribe=One-Click")
    assert forged.status_code == 404
