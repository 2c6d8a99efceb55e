"""Voucherify project webhooks at the connection's callback_url, end to end over HTTP."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from distribution.provider_configs.registry import ProviderRegistry
from tests.conftest import ProjectCredentials
from tests.test_distribution.event_samples import (
    SEED_CUSTOMER_ID,
    VOUCHERIFY_SEED_REDEMPTION,
    VOUCHERIFY_V2024_REDEMPTION,
    VOUCHERIFY_V2024_REFERRER_REWARDED,
)
from tests.test_providers.fakes.server import serve
from tests.test_providers.fakes.voucherify import FakeVoucherify
from tests.test_web.api_templates import published_template
from tests.test_web.voucherify_webhooks import (
    WEBHOOK_SECRET,
    connect_voucherify,
    post_webhook,
    signed_body,
)

Client = TestClient[Litestar]
# Strict: a variable the send does not provide fails it.
RECEIPT = {
    "subject": "{{ customer.name }}, you used {{ reward.amount | money(reward.currency) }}",
    "body_format": "mjml",
    "body": "<mjml><mj-body><mj-section><mj-column><mj-text>"
    "amount={{ reward.amount }} event={{ event.id }} at={{ event.created_at }} "
    "name={{ customer.name }}</mj-text></mj-column></mj-section></mj-body></mjml>",
}
GRACE = {
    "id": SEED_CUSTOMER_ID,
    "source_id": None,
    "name": "Grace Hopper",
    "email": "grace@example.com",
    "phone": None,
    "address": {"city": "Arlington", "country": "US", "line_1": None, "line_2": None},
    "metadata": {},
    "summary": {"redemptions": {"total_redeemed": 1}},
    "object": "customer",
}


@pytest.fixture(scope="module")
def _fake() -> Iterator[tuple[FakeVoucherify, str]]:
    api = FakeVoucherify()
    with serve(api) as url:
        yield api, url


@pytest.fixture
def voucherify_api(_fake: tuple[FakeVoucherify, str]) -> tuple[FakeVoucherify, str]:
    _fake[0].reset()
    _fake[0].customers[SEED_CUSTOMER_ID] = copy.deepcopy(GRACE)
    return _fake


def _distributions(client: Client, count: int) -> None:
    template_id = published_template(client, RECEIPT)
    for index in range(count):
        made = client.post(
            "/v1/distributions",
            json={
                "name": f"Receipt {index}",
                "trigger": "redemption.succeeded",
                "channels": [{"channel": "email", "template": template_id, "provider": "capture"}],
            },
        )
        assert made.status_code == 201, made.text


def _settled(client: Client, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        messages: list[dict[str, Any]] = client.get("/v1/messages").json()["messages"]
        done = len(messages) >= count and all(
            m["status"] not in ("queued", "sending") for m in messages
        )
        if done or time.monotonic() > deadline:
            return messages
        time.sleep(0.05)


@pytest.mark.parametrize(
    "body", [VOUCHERIFY_SEED_REDEMPTION, VOUCHERIFY_V2024_REDEMPTION], ids=["legacy", "v2024"]
)
def test_the_seed_webhook_sends_one_message_per_distribution_however_often_it_comes(
    client: Client,
    app: Litestar,
    api_project: ProjectCredentials,
    voucherify_api: tuple[FakeVoucherify, str],
    body: dict[str, Any],
) -> None:
    api, url = voucherify_api
    path = connect_voucherify(client, url, currency="EUR")
    _distributions(client, 2)
    raw, signature = signed_body(body)
    answers = [post_webhook(client, path, raw, signature) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200], answers[0].text
    events = [a.json()["event"] for a in answers]
    assert [e["duplicate"] for e in events] == [False, True, True]
    assert len({e["id"] for e in events}) == 1
    # Read once, before the first ingestion; the retries are answered from the stored event.
    assert [(r.method, r.path) for r in api.requests] == [
        ("GET", f"/v1/customers/{SEED_CUSTOMER_ID}")
    ]

    messages = _settled(client, 2)
    assert [m["status"] for m in messages] == ["sent", "sent"]
    registry: ProviderRegistry = app.state.providers
    captured = [c.message for c in registry.captured(api_project.project.id).messages]
    assert [m.to for m in captured] == ["grace@example.com"] * 2
    assert captured[0].subject == "Grace Hopper, you used €15.00"
    text = captured[0].html or ""
    assert f"amount=1500 event={events[0]['id']} at=2026-11-25T10:00:00.118Z" in text
    assert "name=Grace Hopper" in text
    # Voucherify's id is kept as an external reference of the customer the fetch completed.
    customers = client.get("/v1/customers").json()["customers"]
    assert [(c["name"], c["email"]) for c in customers] == [("Grace Hopper", "grace@example.com")]


def test_a_changed_byte_or_no_signature_is_401_and_stores_nothing(
    client: Client, voucherify_api: tuple[FakeVoucherify, str]
) -> None:
    api, url = voucherify_api
    path = connect_voucherify(client, url)
    _distributions(client, 1)
    raw, signature = signed_body(VOUCHERIFY_SEED_REDEMPTION)
    tampered = raw.replace(b'"amount":1500', b'"amount":9500')
    assert tampered != raw
    wrong_secret = signed_body(VOUCHERIFY_SEED_REDEMPTION, "another-secret")[1]
    for body, signed in ((tampered, signature), (raw, None), (raw, wrong_secret)):
        refused = post_webhook(client, path, body, signed)
        assert refused.status_code == 401, refused.text
    # A URL naming no connection answers the same.
    elsewhere = post_webhook(client, path.rsplit("/", 1)[0] + "/nobody", raw, signature)
    assert elsewhere.status_code == 401
    assert elsewhere.json()["detail"] == refused.json()["detail"]
    assert client.get("/v1/messages").json()["messages"] == []
    assert client.get("/v1/customers").json()["customers"] == []
    assert api.requests == []


def test_a_customer_that_cannot_be_read_is_a_note_and_the_event_is_kept(
    client: Client, voucherify_api: tuple[FakeVoucherify, str]
) -> None:
    api, url = voucherify_api
    api.customers.clear()
    path = connect_voucherify(client, url)
    _distributions(client, 1)
    raw, signature = signed_body(VOUCHERIFY_SEED_REDEMPTION)
    answer = post_webhook(client, path, raw, signature)
    assert answer.status_code == 200, answer.text
    event = answer.json()["event"]
    [note] = event["notes"]
    assert "could not be read from Voucherify" in note
    assert "404" in note
    [delivery] = event["deliveries"]
    assert delivery["status"] == "failed"
    assert "email" in (delivery["reason"] or "")


def test_a_voucherify_id_finds_the_customer_with_a_real_source_id(
    client: Client, voucherify_api: tuple[FakeVoucherify, str]
) -> None:
    api, url = voucherify_api
    path = connect_voucherify(client, url)
    known = copy.deepcopy(VOUCHERIFY_V2024_REDEMPTION)
    known["event"]["id"] = "evcus_known_first"
    known["data"]["customer"].update(source_id="shop-7", name="Grace H.", email="g@example.com")
    for body in (known, VOUCHERIFY_SEED_REDEMPTION):
        raw, signature = signed_body(body)
        assert post_webhook(client, path, raw, signature).status_code == 200
    customers = client.get("/v1/customers").json()["customers"]
    assert [(c["source_id"], c["email"]) for c in customers] == [("shop-7", "g@example.com")]
    # The second event named the customer by Voucherify's id alone: found, so nothing to read.
    assert api.requests == []


def test_the_connection_keeps_its_secrets_and_offers_a_callback_url(
    client: Client, api_project: ProjectCredentials, voucherify_api: tuple[FakeVoucherify, str]
) -> None:
    path = connect_voucherify(client, voucherify_api[1])
    assert path == f"/v1/provider-webhooks/{api_project.project.id}/voucherify"
    shown = client.get("/v1/providers/voucherify")
    assert shown.json()["role"] == "source"
    assert shown.json()["channels"] == []
    assert shown.json()["has_secret"] == {"app_token": True, "webhook_secret": True}
    assert WEBHOOK_SECRET not in shown.text
    checked = client.post("/v1/providers/voucherify/check")
    assert checked.json() == {"ok": True, "detail": "credentials accepted"}


def test_a_custom_event_names_the_referrer_by_voucherify_s_id(
    client: Client, voucherify_api: tuple[FakeVoucherify, str]
) -> None:
    path = connect_voucherify(client, None)
    raw, signature = signed_body(VOUCHERIFY_V2024_REFERRER_REWARDED)
    assert post_webhook(client, path, raw, signature).status_code == 200
    template_id = published_template(
        client,
        {
            "subject": "{{ customer.first_name }} joined",
            "body_format": "mjml",
            "body": "<mjml><mj-body></mj-body></mjml>",
        },
    )
    made = client.post(
        "/v1/distributions",
        json={
            "name": "Your friend joined",
            "trigger": "friend_joined",
            "recipient": "referrer",
            "channels": [{"channel": "email", "template": template_id, "provider": "capture"}],
        },
    )
    assert made.status_code == 201, made.text
    tracked = client.post(
        "/v1/events",
        json={
            "event": "friend_joined",
            "customer": {"source_id": "shop-99", "name": "Cleo", "email": "cleo@example.com"},
            "referral": {"code": "BRUNO-REF", "referrer_id": "cust_Adv0c4t3Bruno"},
        },
    )
    assert tracked.status_code == 202, tracked.text
    [delivery] = tracked.json()["deliveries"]
    assert delivery["status"] == "queued", delivery
    [message] = client.get("/v1/messages").json()["messages"]
    assert message["recipient"] == "bruno@example.com"


def test_a_signed_event_about_no_customer_is_acknowledged_and_not_stored(
    client: Client, voucherify_api: tuple[FakeVoucherify, str]
) -> None:
    path = connect_voucherify(client, None)
    body = {
        "id": "whs_campaign_1",
        "project_id": "proj_f1r5tPr0j3ct",
        "created_at": "2026-11-25T10:00:00.000Z",
        "type": "campaign.created",
        "data": {"campaign": {"id": "camp_new", "name": "Winter", "object": "campaign"}},
        "source": {"channel": "Dashboard"},
        "event": {"id": "evcam_1", "type": "campaign.created"},
    }
    raw, signature = signed_body(body)
    answer = post_webhook(client, path, raw, signature)
    assert (answer.status_code, answer.json()) == (200, {"received": 0})
    assert client.get("/v1/customers").json()["customers"] == []
    not_json = post_webhook(client, path, b"{nope", signed_body({})[1])
    assert not_json.status_code == 401
    garbage, garbage_signature = b'{"hello": "world"}', signed_body({"hello": "world"})[1]
    refused = post_webhook(client, path, garbage, garbage_signature)
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["body"]
