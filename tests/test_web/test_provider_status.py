"""GET /v1/messages shows the provider's own word for a sent message (Twilio against its fake)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.service_process import wait_until
from tests.test_providers.fakes.server import serve
from tests.test_providers.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID, FakeTwilio

Client = TestClient[Litestar]


@pytest.fixture(scope="module")
def twilio() -> Iterator[str]:
    with serve(FakeTwilio()) as url:
        yield url


def _sms_through(client: Client, config: dict[str, object]) -> dict[str, object]:
    """One SMS through a Twilio provider with ``config``: the message once it left."""
    base = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    created = client.post(
        "/v1/providers", json={"name": "sms", "kind": "twilio", "config": {**base, **config}}
    )
    assert created.status_code == 201, created.text
    template = client.post(
        "/v1/templates",
        json={"name": "code", "channel": "sms", "category": "transactional", "body": "Hi"},
    ).json()
    version = template["variants"][0]["latest_draft"]["id"]
    client.post(f"/v1/templates/{template['id']}/publish", json={"version_id": version})
    channels = [{"channel": "sms", "template": template["id"], "provider": "sms"}]
    distribution = client.post(
        "/v1/distributions", json={"name": "code", "trigger": "code.sent", "channels": channels}
    )
    assert distribution.status_code == 201, distribution.text
    customer = {"source_id": "texted", "phone": "+15005550010"}
    event = client.post("/v1/events", json={"type": "code.sent", "customer": customer})
    assert event.status_code == 202, event.text
    path = f"/v1/messages/{event.json()['deliveries'][0]['id']}"
    wait_until(
        lambda: client.get(path).json()["status"] in ("sent", "failed"), "the SMS never left"
    )
    message: dict[str, object] = client.get(path).json()
    return message


@pytest.mark.parametrize(
    ("config", "provider_status"),
    [
        ({"from_number": "+15005550006"}, "queued"),
        # Through a messaging service Twilio has not even picked a sender yet.
        ({"messaging_service_sid": SERVICE_SID}, "accepted"),
    ],
)
def test_a_twilio_answer_is_sent_with_twilios_own_status(
    client: Client, twilio: str, config: dict[str, object], provider_status: str
) -> None:
    message = _sms_through(client, {**config, "base_url": twilio})
    assert (message["status"], message["provider_status"]) == ("sent", provider_status)
    assert message["last_error"] is None
    [listed] = client.get("/v1/messages").json()["messages"]
    assert listed["provider_status"] == provider_status
