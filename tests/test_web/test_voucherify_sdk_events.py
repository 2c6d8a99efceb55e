"""Voucherify's official Python SDK tracks custom events against a real ``dm serve``.

A shop that already calls ``track_custom_event`` for Voucherify points the same SDK at this
service (its host, a project's X-App-Id and X-App-Token) and triggers distributions with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import voucherify

from tests.service_process import Service, all_messages, api_credentials, wait_until

WELCOME = (
    "<mjml><mj-body><mj-section><mj-column><mj-text>Welcome {{ customer.name }} to the "
    "{{ event.data.metadata.list }} list ({{ event.type }})</mj-text></mj-column></mj-section>"
    "</mj-body></mjml>"
)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    with Service(tmp_path) as running:
        yield running


def _distribution(client: httpx.Client, trigger: str) -> None:
    template = client.post(
        "/v1/templates",
        json={
            "name": "welcome",
            "channel": "email",
            "category": "transactional",
            "subject": "Welcome, {{ customer.first_name }}",
            "body_format": "mjml",
            "body": WELCOME,
        },
    )
    assert template.status_code == 201, template.text
    body = template.json()
    version_id = body["variants"][0]["latest_draft"]["id"]
    published = client.post(f"/v1/templates/{body['id']}/publish", json={"version_id": version_id})
    assert published.status_code in (200, 201), published.text
    made = client.post(
        "/v1/distributions",
        json={
            "name": "Welcome",
            "trigger": trigger,
            "channels": [{"channel": "email", "template": body["id"], "provider": "capture"}],
        },
    )
    assert made.status_code == 201, made.text


def test_track_custom_event_from_the_sdk_triggers_a_distribution(service: Service) -> None:
    credentials = api_credentials(service.run("projects", "create", "shop"))
    service.start()
    with httpx.Client(base_url=service.url, headers=credentials, timeout=30) as client:
        _distribution(client, "newsletter_subscribed")
        configuration = voucherify.Configuration(host=service.url, api_key=dict(credentials))
        with voucherify.ApiClient(configuration) as api_client:
            tracked = voucherify.EventsApi(api_client).track_custom_event(
                voucherify.EventsCreateRequestBody(
                    event="newsletter_subscribed",
                    customer=voucherify.Customer(
                        source_id="shop-42", name="Ada Lovelace", email="ada@example.com"
                    ),
                    metadata={"list": "weekly"},
                )
            )
        assert tracked.object == "event"
        assert tracked.customer.source_id == "shop-42"
        wait_until(
            lambda: [m["status"] for m in all_messages(client)] == ["sent"],
            lambda: f"messages: {all_messages(client)}",
            limit=30,
        )
        [message] = all_messages(client)
        detail = client.get(f"/v1/messages/{message['id']}").json()
        assert detail["recipient"] == "ada@example.com"
        assert detail["content"]["subject"] == "Welcome, Ada"
        assert (
            "Welcome Ada Lovelace to the weekly list (newsletter_subscribed)"
            in (detail["content"]["html"])
        )


def test_a_refused_custom_event_is_a_problem_the_sdk_raises(service: Service) -> None:
    credentials = api_credentials(service.run("projects", "create", "shop"))
    service.start()
    configuration = voucherify.Configuration(host=service.url, api_key=dict(credentials))
    with (
        voucherify.ApiClient(configuration) as api_client,
        pytest.raises(voucherify.ApiException) as refused,
    ):
        voucherify.EventsApi(api_client).track_custom_event(
            voucherify.EventsCreateRequestBody(
                event="has spaces", customer=voucherify.Customer(source_id="shop-42")
            )
        )
    assert refused.value.status == 422
    assert '"field":"event"' in (refused.value.body or "").replace(" ", "")
