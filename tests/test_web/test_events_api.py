"""Events in over HTTP, messages out through the embedded worker and the capture provider."""

from __future__ import annotations

import copy
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from distribution.provider_configs.registry import ProviderRegistry
from tests.conftest import ProjectCredentials
from tests.test_distribution.event_samples import VOUCHERIFY_REDEMPTION
from tests.test_web.api_templates import REWARD_EMAIL, published_template

Client = TestClient[Litestar]


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
    template_id = published_template(client, REWARD_EMAIL)
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


def test_dedupe_keys_longer_than_an_index_row_takes_are_422(client: Client) -> None:
    # PostgreSQL refuses index rows over about 2,700 bytes: that was a 500 there.
    body = {"type": "something.happened", "customer": {"source_id": "k1"}}
    long_key = client.post("/v1/events", json=body, headers={"Idempotency-Key": "k" * 5000})
    assert long_key.status_code == 422, long_key.text
    assert [e["field"] for e in long_key.json()["errors"]] == ["idempotency_key"]
    voucherify = copy.deepcopy(VOUCHERIFY_REDEMPTION)
    voucherify["id"] = "evt_" + "9" * 5000
    long_id = client.post("/v1/events", json=voucherify)
    assert long_id.status_code == 422, long_id.text
    assert [e["field"] for e in long_id.json()["errors"]] == ["id"]


def test_bad_events_are_422_naming_the_field(client: Client) -> None:
    response = client.post("/v1/events", json={"type": "no spaces allowed", "colour": 1})
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"type", "colour", "customer"} <= fields
    unknown = client.post("/v1/events", json={"type": "x.y", "customer": {"id": "cust_nobody"}})
    assert unknown.status_code == 422


def test_distribution_lifecycle_and_stats(client: Client) -> None:
    template_id = published_template(client, REWARD_EMAIL)
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
    template_id = published_template(
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


def _event_deliveries(client: Client, event: dict[str, Any]) -> list[dict[str, Any]]:
    answer = client.post("/v1/events", json=event)
    assert answer.status_code == 202, answer.text
    return list(answer.json()["deliveries"])


def _subject(client: Client, delivery_id: str) -> str:
    return str(client.get(f"/v1/messages/{delivery_id}").json()["content"]["subject"])


def test_every_edit_reaches_the_very_next_event(client: Client) -> None:
    """Distributions, segments and live templates are cached between events: each edit counts."""
    template_id = published_template(
        client, {"body_format": "html", "subject": "First {{ customer.name }}", "body": "<p>1</p>"}
    )
    rule = {
        "name": "Edits",
        "trigger": "edit.tested",
        "channels": [{"channel": "email", "template": template_id, "provider": "capture"}],
    }
    distribution = client.post("/v1/distributions", json=rule).json()
    event = {
        "type": "edit.tested",
        "customer": {"source_id": "e1", "email": "e1@example.com", "name": "Eve"},
    }
    [first] = _event_deliveries(client, event)
    assert _subject(client, first["id"]) == "First Eve"

    draft = client.post(
        f"/v1/templates/{template_id}/versions",
        json={"body_format": "html", "subject": "Second {{ customer.name }}", "body": "<p>2</p>"},
    ).json()["version"]
    client.post(f"/v1/templates/{template_id}/publish", json={"version_id": draft["id"]})
    [second] = _event_deliveries(client, event)
    assert _subject(client, second["id"]) == "Second Eve"

    only_gold = {"field": "metadata.tier", "op": "eq", "value": "gold"}
    conditions = {**rule, "filters": {"conditions": only_gold}}
    assert client.put(f"/v1/distributions/{distribution['id']}", json=conditions).is_success
    assert _event_deliveries(client, event) == []

    segment = client.post("/v1/segments", json={"name": "edits", "filter": only_gold}).json()
    in_segment = {**rule, "filters": {"segment_id": segment["id"]}}
    assert client.put(f"/v1/distributions/{distribution['id']}", json=in_segment).is_success
    assert _event_deliveries(client, event) == []
    everyone = {"field": "email", "op": "exists", "value": True}
    assert client.patch(f"/v1/segments/{segment['id']}", json={"filter": everyone}).is_success
    assert [d["status"] for d in _event_deliveries(client, event)] == ["queued"]
    assert client.delete(f"/v1/segments/{segment['id']}").status_code == 204
    assert _event_deliveries(client, event) == []

    assert client.put(f"/v1/distributions/{distribution['id']}", json=rule).is_success
    client.post(f"/v1/distributions/{distribution['id']}/pause")
    assert _event_deliveries(client, event) == []
    client.post(f"/v1/distributions/{distribution['id']}/resume")
    assert client.delete(f"/v1/templates/{template_id}").status_code == 204
    [archived] = _event_deliveries(client, event)
    assert archived["status"] == "failed"
    assert "archived" in archived["reason"]


def test_setting_an_inbound_secret_applies_to_the_next_unsigned_event(client: Client) -> None:
    event = {"id": "before-secret", "type": "secret.tested", "customer": {"source_id": "s9"}}
    assert client.post("/v1/events", json=event).status_code == 202  # the project is cached now
    assert client.post("/v1/settings/inbound-webhook-secret").status_code == 201
    refused = client.post("/v1/events", json={**event, "id": "after-secret"})
    assert refused.status_code == 401


def _post_together(client: Client, bodies: list[dict[str, Any]]) -> list[Any]:
    """POST every body at the same moment (from threads), so they reach ingest together."""
    barrier = threading.Barrier(len(bodies))

    def post(body: dict[str, Any]) -> Any:
        barrier.wait()
        return client.post("/v1/events", json=body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def test_concurrent_posts_of_one_id_answer_one_original_and_one_duplicate(
    client: Client,
) -> None:
    body = {"id": f"twin-{time.monotonic_ns()}", "type": "twin.posted", "customer": "twin-1"}
    for _ in range(5):  # a few rounds: the twins land in one batch, or in two
        body["id"] = f"twin-{time.monotonic_ns()}"
        answers = _post_together(client, [body, copy.deepcopy(body)])
        assert [a.status_code for a in answers] == [202, 202]
        first, second = (a.json() for a in answers)
        assert first["id"] == second["id"]
        assert sorted([first["duplicate"], second["duplicate"]]) == [False, True]


def test_concurrent_posts_each_get_their_own_answer(client: Client) -> None:
    stamp = time.monotonic_ns()
    good = [
        {"id": f"own-{stamp}-{n}", "type": "own.answer", "customer": f"own-{n}"} for n in range(3)
    ]
    unparsable = {"type": "own.answer", "customer": "own-x", "colour": "red"}
    unknown_customer = {"type": "own.answer", "customer": {"id": "cust_nobody"}}
    answers = _post_together(client, [good[0], unparsable, good[1], unknown_customer, good[2]])

    assert [a.status_code for a in answers] == [202, 422, 202, 422, 202]
    assert [e["field"] for e in answers[1].json()["errors"]] == ["colour"]
    assert [e["field"] for e in answers[3].json()["errors"]] == ["customer"]
    accepted = [answers[i].json() for i in (0, 2, 4)]
    assert len({a["id"] for a in accepted}) == 3
    assert not any(a["duplicate"] for a in accepted)
