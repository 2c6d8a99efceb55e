"""Webhook subscriptions over HTTP, the app's dispatcher, and signed events in."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from standardwebhooks.webhooks import Webhook

from tests.conftest import ProjectCredentials
from tests.test_distribution.webhook_receiver import Receiver
from tests.test_providers.fakes.server import serve
from tests.test_web.api_templates import REWARD_EMAIL, published_template
from web.app import create_app
from web.settings import Settings

Client = TestClient[Litestar]


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    api = Receiver()
    with serve(api) as url:
        yield api, url


def _subscribe(client: Client, receiver: tuple[Receiver, str], types: list[str]) -> dict[str, Any]:
    api, base = receiver
    path = f"/hooks/{time.monotonic_ns()}"
    answer = client.post("/v1/webhooks", json={"url": base + path, "event_types": types})
    assert answer.status_code == 201, answer.text
    created = dict(answer.json())
    api.secrets[path] = created["secret"]
    created["path"] = path
    return created


def _wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_secret_is_shown_once_and_rotation_replaces_it(
    client: Client, receiver: tuple[Receiver, str]
) -> None:
    created = _subscribe(client, receiver, ["message.sent", "message.failed"])
    assert created["secret"].startswith("whsec_")
    assert created["status"] == "active"
    listed = client.get("/v1/webhooks").json()
    assert [w["id"] for w in listed] == [created["id"]]
    assert all(w["secret"] is None for w in listed)
    assert client.get(f"/v1/webhooks/{created['id']}").json()["secret"] is None

    rotated = client.post(f"/v1/webhooks/{created['id']}/rotate-secret").json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]
    assert created["secret"] not in client.get(f"/v1/webhooks/{created['id']}").text

    assert client.delete(f"/v1/webhooks/{created['id']}").status_code == 204
    assert client.get(f"/v1/webhooks/{created['id']}").status_code == 404


def test_bad_subscriptions_are_422(client: Client) -> None:
    for body in (
        {"url": "ftp://example.com/x", "event_types": ["message.sent"]},
        {"url": "https://example.com/x", "event_types": []},
        {"url": "https://example.com/x", "event_types": ["message.snet"]},
        {"url": "https://example.com/x"},
    ):
        assert client.post("/v1/webhooks", json=body).status_code == 422, body


def test_the_test_call_reaches_the_receiver_signed(
    client: Client, receiver: tuple[Receiver, str]
) -> None:
    api, _ = receiver
    created = _subscribe(client, receiver, ["message.sent"])
    answer = client.post(f"/v1/webhooks/{created['id']}/test")
    assert answer.status_code == 202
    call_id = answer.json()["id"]
    _wait_until(lambda: any(r.webhook_id == call_id for r in api.received))
    [got] = [r for r in api.received if r.webhook_id == call_id]
    assert got.event["type"] == "webhook.test"
    assert got.event["data"]["subscription_id"] == created["id"]


def test_an_event_reaches_the_subscriber_as_queued_and_sent(
    client: Client, receiver: tuple[Receiver, str]
) -> None:
    api, _ = receiver
    created = _subscribe(client, receiver, ["message.queued", "message.sent"])
    template_id = published_template(client, REWARD_EMAIL)
    client.post(
        "/v1/distributions",
        json={
            "name": "Reward",
            "trigger": "reward.granted",
            "channels": [{"channel": "email", "template": template_id, "provider": "capture"}],
        },
    )
    event = client.post(
        "/v1/events",
        json={
            "type": "reward.granted",
            "customer": {"source_id": "hook-1", "email": "h@example.com", "name": "Hal"},
            "reward": {"type": "credit", "amount": 100, "currency": "EUR", "description": "x"},
        },
    )
    [delivery] = event.json()["deliveries"]

    def mine() -> list[str]:
        return sorted(r.event["type"] for r in api.received if r.path == created["path"])

    _wait_until(lambda: len(mine()) == 2)
    assert mine() == ["message.queued", "message.sent"]
    assert all(
        r.event["data"]["id"] == delivery["id"] for r in api.received if r.path == created["path"]
    )


def test_internal_targets_are_refused_without_the_operator_setting(
    database_url: str, tmp_path: Path, api_project: ProjectCredentials
) -> None:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        secret_key="test-secret-key",
        migrate_on_start=False,
        run_worker=False,
    )
    with TestClient(create_app(settings)) as client:
        client.headers.update(api_project.headers)
        for url in ("http://127.0.0.1:9/hook", "http://169.254.169.254/", "http://localhost/"):
            answer = client.post("/v1/webhooks", json={"url": url, "event_types": ["*"]})
            assert answer.status_code == 422, url
            assert answer.json()["errors"][0]["field"] == "url"


# Signed events in.

EVENT = {"type": "custom.thing", "customer": {"source_id": "signed-1"}}


def _signed(secret: str, body: bytes, msg_id: str, at: datetime) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode()),
    }


def _events_stored(client: Client) -> int:
    return len(client.get("/v1/customers", params={"limit": 100}).json()["customers"])


def test_with_a_secret_only_correctly_signed_fresh_events_are_accepted(client: Client) -> None:
    answer = client.post("/v1/settings/inbound-webhook-secret")
    assert answer.status_code == 201
    secret = answer.json()["secret"]
    body = json.dumps(EVENT).encode()
    now = datetime.now(UTC)

    refused = [
        client.post("/v1/events", content=body, headers={"content-type": "application/json"}),
        client.post(
            "/v1/events",
            content=body.replace(b"signed-1", b"signed-2"),
            headers=_signed(secret, body, "wh_1", now),
        ),
        client.post(
            "/v1/events",
            content=body,
            headers=_signed(secret, body, "wh_2", now - timedelta(minutes=6)),
        ),
        client.post(
            "/v1/events",
            content=body,
            headers=_signed(secret, body, "wh_3", now + timedelta(minutes=6)),
        ),
        client.post(
            "/v1/events",
            content=body,
            headers=_signed("whsec_" + "A" * 43 + "=", body, "wh_4", now),
        ),
    ]
    assert [r.status_code for r in refused] == [401] * 5
    assert "outside the 5-minute window" in refused[2].json()["detail"]
    assert _events_stored(client) == 0

    first = client.post("/v1/events", content=body, headers=_signed(secret, body, "wh_ok", now))
    again = client.post(
        "/v1/events",
        content=body,
        headers=_signed(secret, body, "wh_ok", now + timedelta(seconds=30)),
    )
    assert (first.status_code, again.status_code) == (202, 202)
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    assert again.json()["id"] == first.json()["id"]

    assert client.delete("/v1/settings/inbound-webhook-secret").status_code == 204
    plain = client.post("/v1/events", json={**EVENT, "id": "unsigned-after-clear"})
    assert plain.status_code == 202


def test_rotating_the_inbound_secret_retires_the_old_one(client: Client) -> None:
    old = client.post("/v1/settings/inbound-webhook-secret").json()["secret"]
    new = client.post("/v1/settings/inbound-webhook-secret").json()["secret"]
    body = json.dumps(EVENT).encode()
    now = datetime.now(UTC)
    stale = client.post("/v1/events", content=body, headers=_signed(old, body, "wh_a", now))
    fresh = client.post("/v1/events", content=body, headers=_signed(new, body, "wh_b", now))
    assert (stale.status_code, fresh.status_code) == (401, 202)


def test_a_signed_event_replayed_with_a_new_idempotency_key_is_stored_once(
    client: Client,
) -> None:
    secret = client.post("/v1/settings/inbound-webhook-secret").json()["secret"]
    now = datetime.now(UTC)
    voucherify_without_id = {
        "object": "event",
        "type": "customer.created",
        "data": {"object": {"object": "customer", "id": "c1", "source_id": "signed-3"}},
    }
    for body in (json.dumps(EVENT).encode(), json.dumps(voucherify_without_id).encode()):
        msg_id = f"wh_{time.monotonic_ns()}"
        answers = [
            client.post(
                "/v1/events",
                content=body,
                headers={**_signed(secret, body, msg_id, now), "Idempotency-Key": key},
            )
            for key in ("first-key", "second-key")
        ]
        assert [a.status_code for a in answers] == [202, 202]
        first, replay = (a.json() for a in answers)
        assert replay["id"] == first["id"]
        assert (first["duplicate"], replay["duplicate"]) == (False, True)


def test_recent_calls_show_each_test_call_and_its_outcome(
    client: Client, receiver: tuple[Receiver, str]
) -> None:
    api, _ = receiver
    created = _subscribe(client, receiver, ["message.sent"])
    assert client.get(f"/v1/webhooks/{created['id']}/calls").json() == []
    call_id = client.post(f"/v1/webhooks/{created['id']}/test").json()["id"]
    _wait_until(
        lambda: client.get(f"/v1/webhooks/{created['id']}/calls").json()[0]["status"] == "delivered"
    )
    [call] = client.get(f"/v1/webhooks/{created['id']}/calls").json()
    assert call["id"] == call_id
    assert call["event_type"] == "webhook.test"
    assert (call["status"], call["attempts"], call["last_status_code"]) == ("delivered", 1, 204)
    assert call["delivered_at"]
    assert call["next_attempt_at"] is None
    assert any(r.webhook_id == call_id for r in api.received)
    assert client.get(f"/v1/webhooks/{created['id']}/calls?limit=0").status_code == 422
    assert client.get("/v1/webhooks/whsub_missing/calls").status_code == 404


def test_a_failing_target_shows_its_failure_in_the_recent_calls(client: Client) -> None:
    # Nothing listens on the discard port: every attempt fails with a connection error.
    answer = client.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/hooks", "event_types": ["*"]}
    )
    webhook_id = answer.json()["id"]
    client.post(f"/v1/webhooks/{webhook_id}/test")
    _wait_until(
        lambda: client.get(f"/v1/webhooks/{webhook_id}/calls").json()[0]["last_error"] is not None
    )
    [call] = client.get(f"/v1/webhooks/{webhook_id}/calls").json()
    assert call["last_error"]
    assert call["attempts"] >= 1
    assert call["status"] in ("pending", "failed")


def test_the_inbound_secret_shows_only_whether_it_is_set(client: Client) -> None:
    path = "/v1/settings/inbound-webhook-secret"
    assert client.get(path).json() == {"set": False, "object": "inbound_webhook_secret"}
    secret = client.post(path).json()["secret"]
    shown = client.get(path)
    assert shown.json()["set"] is True
    assert secret not in shown.text
    client.delete(path)
    assert client.get(path).json()["set"] is False
