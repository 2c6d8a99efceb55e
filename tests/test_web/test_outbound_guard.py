"""Outbound destinations over the API: the address guard on save and at connect time, no remote
answer echoed back, and no stored secret carried over to a destination the caller just chose."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from providers.address_guard import system_resolver
from tests.conftest import make_project, migrated_database
from tests.test_providers.fakes.server import serve
from tests.test_providers.fakes.twilio import ACCOUNT_SID
from web.app import create_app

from .conftest import own_settings

Client = TestClient[Litestar]
TOKEN = "stored-auth-token-Zx81Qp"
MARKER = "INTERNAL-ANSWER-7f3a9c"
# A name the test resolver answers with this machine's address, as a rebinding DNS would.
REBOUND = "api.rebound.example.com"

# Every spelling of an internal destination item 4 and 5 of the issue name.
INTERNAL_HOSTS = [
    "127.0.0.1",
    "localhost",
    "169.254.169.254",
    "10.0.0.1",
    "[::1]",
    "2130706433",
    "0x7f.1",
    "0177.0.0.1",
    "127.1",
    "0",
    "LOCALHOST.",
    "metadata.google.internal",
    "[2002:7f00:1::]",
    "[::ffff:127.0.0.1]",
    "[64:ff9b::7f00:1]",
    "[64:ff9b:1::a00:1]",
    # Teredo: server 65.54.227.120, client 10.0.0.1 (stored inverted).
    "[2001:0:4136:e378:8000:63bf:f5ff:fffe]",
]


async def _test_resolver(host: str, port: int) -> list[str]:
    if host == REBOUND:
        return ["127.0.0.1"]
    return await system_resolver(host, port)


@pytest.fixture(scope="module")
def strict_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Litestar]:
    """The service as an operator runs it: private destinations not allowed. Its database is
    its own, so its worker never takes the deliveries of the permissive test app."""
    directory = tmp_path_factory.mktemp("strict")
    with migrated_database("sqlite", directory) as url:
        yield create_app(own_settings(url, directory), resolver=_test_resolver)


@pytest.fixture(scope="module")
def _strict_client(strict_app: Litestar) -> Iterator[Client]:
    with TestClient(strict_app) as client:
        yield client


@pytest.fixture
def strict(_strict_client: Client, strict_app: Litestar) -> Client:
    """A client of the strict service with a new project's credentials."""
    _strict_client.headers.clear()
    _strict_client.headers.update(make_project(strict_app.state.database).headers)
    return _strict_client


class RecordingApi:
    """A server that is not the provider: answers `status` with an internal-looking body and
    records the Authorization header of every request."""

    def __init__(self) -> None:
        self.status = 401
        self.authorizations: list[str] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        with self._lock:
            self.authorizations.append(dict(scope["headers"]).get(b"authorization", b"").decode())
        body = f'{{"code": 20003, "message": "{MARKER}", "more_info": "{MARKER}"}}'.encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def tokens(self) -> list[str]:
        """The Basic auth passwords that arrived."""
        with self._lock:
            headers = list(self.authorizations)
        return [base64.b64decode(h.removeprefix("Basic ")).decode() for h in headers if h]


@pytest.fixture(scope="module")
def _recording() -> Iterator[tuple[RecordingApi, str]]:
    api = RecordingApi()
    with serve(api) as url:
        yield api, url


@pytest.fixture
def recording(_recording: tuple[RecordingApi, str]) -> tuple[RecordingApi, str]:
    _recording[0].authorizations.clear()
    return _recording


def _twilio(base_url: str | None = None, token: str = TOKEN) -> dict[str, object]:
    config: dict[str, object] = {
        "account_sid": ACCOUNT_SID,
        "auth_token": token,
        "from_number": "+15005550006",
    }
    if base_url is not None:
        config["base_url"] = base_url
    return config


def _smtp(host: str) -> dict[str, object]:
    return {"host": host, "from_email": "rewards@example.com", "username": "u", "password": TOKEN}


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    errors = {e["field"]: e["reason"] for e in response.json()["errors"]}
    assert field in errors, errors
    assert errors[field].startswith("must not point at"), errors


def _sms_message_through(client: Client, provider: str) -> dict[str, Any]:
    """Send one SMS through `provider` (event -> distribution -> delivery) and wait for its end."""
    template = client.post(
        "/v1/templates",
        json={"name": f"t-{provider}", "channel": "sms", "category": "transactional", "body": "Hi"},
    ).json()
    version = template["variants"][0]["latest_draft"]["id"]
    client.post(f"/v1/templates/{template['id']}/publish", json={"version_id": version})
    trigger = f"guard.{provider}"
    created = client.post(
        "/v1/distributions",
        json={
            "name": trigger,
            "trigger": trigger,
            "channels": [{"channel": "sms", "template": template["id"], "provider": provider}],
        },
    )
    assert created.status_code == 201, created.text
    event = client.post(
        "/v1/events",
        json={"type": trigger, "customer": {"source_id": trigger, "phone": "+15005550010"}},
    )
    assert event.status_code == 202, event.text
    delivery_id = event.json()["deliveries"][0]["id"]
    deadline = time.monotonic() + 15
    while True:
        message: dict[str, Any] = client.get(f"/v1/messages/{delivery_id}").json()
        if message["status"] in ("failed", "sent") or time.monotonic() > deadline:
            return message
        time.sleep(0.05)


@pytest.mark.parametrize("host", INTERNAL_HOSTS)
def test_saving_an_internal_destination_is_422_naming_the_field(strict: Client, host: str) -> None:
    _refused(
        strict.post(
            "/v1/providers",
            json={"name": "sms", "kind": "twilio", "config": _twilio(f"https://{host}/")},
        ),
        "config.base_url",
    )
    _refused(
        strict.post(
            "/v1/providers",
            json={"name": "mail", "kind": "smtp", "config": _smtp(host.strip("[]"))},
        ),
        "config.host",
    )
    public = strict.post(
        "/v1/providers", json={"name": "sms", "kind": "twilio", "config": _twilio()}
    )
    assert public.status_code == 201, public.text
    _refused(
        strict.patch(
            "/v1/providers/sms", json={"config": {"base_url": f"http://{host}", "auth_token": "x"}}
        ),
        "config.base_url",
    )


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("mailchimp_transactional", {"api_key": "k", "from_email": "a@b.co"}, "base_url"),
        ("braze", {"api_key": "k", "email_app_id": "a", "from_email": "a@b.co"}, "base_url"),
        ("webhook", {"secret": "whsec_" + "A" * 40}, "url"),
        (
            "mailchimp_audience",
            {"api_key": "k-us6", "list_id": "l", "merge_fields": {"RCODE": "code"}},
            "base_url",
        ),
        ("braze_attributes", {"api_key": "k", "attributes": {"c": "code"}}, "base_url"),
        ("activecampaign", {"api_token": "k", "fields": {"1": "code"}}, "base_url"),
    ],
)
def test_every_kind_guards_its_destination(
    strict: Client, kind: str, config: dict[str, object], field: str
) -> None:
    answer = strict.post(
        "/v1/providers",
        json={"name": "p", "kind": kind, "config": {**config, field: "http://169.254.169.254/"}},
    )
    assert answer.status_code == 422, answer.text
    assert f"config.{field}" in {e["field"] for e in answer.json()["errors"]}


def test_a_name_resolving_to_this_machine_is_refused_at_connect_time(strict: Client) -> None:
    # The name passes on save (no DNS then); the connection resolves and refuses it.
    saved = strict.post(
        "/v1/providers",
        json={"name": "sms", "kind": "twilio", "config": _twilio(f"https://{REBOUND}")},
    )
    assert saved.status_code == 201, saved.text
    check = strict.post("/v1/providers/sms/check").json()
    assert check["ok"] is False
    assert "resolves to a loopback address" in check["detail"]
    message = _sms_message_through(strict, "sms")
    assert message["status"] == "failed"
    assert "resolves to a loopback address" in message["last_error"]


def test_smtp_to_a_name_resolving_to_this_machine_is_refused_at_connect_time(
    strict: Client,
) -> None:
    saved = strict.post(
        "/v1/providers", json={"name": "mail", "kind": "smtp", "config": _smtp(REBOUND)}
    )
    assert saved.status_code == 201, saved.text
    check = strict.post("/v1/providers/mail/check").json()
    assert check["ok"] is False
    assert "resolves to a loopback address" in check["detail"]


@pytest.mark.parametrize("status", [401, 500])
def test_check_and_send_never_repeat_the_remote_answer(
    client: Client, recording: tuple[RecordingApi, str], status: int
) -> None:
    api, url = recording
    api.status = status
    saved = client.post(
        "/v1/providers", json={"name": "sms", "kind": "twilio", "config": _twilio(url)}
    )
    assert saved.status_code == 201, saved.text
    check = client.post("/v1/providers/sms/check")
    assert check.status_code == 200
    assert check.json()["ok"] is False
    assert MARKER not in check.text
    assert f"status={status}" in check.json()["detail"]
    message = _sms_message_through(client, "sms")
    assert message["last_error"], message
    assert MARKER not in message["last_error"]
    assert f"status={status}" in message["last_error"]


def test_moving_a_provider_requires_its_secrets_again(
    client: Client, recording: tuple[RecordingApi, str]
) -> None:
    api, url = recording
    client.post("/v1/providers", json={"name": "sms", "kind": "twilio", "config": _twilio()})
    moved = client.patch("/v1/providers/sms", json={"config": {"base_url": url}})
    assert moved.status_code == 422, moved.text
    errors = {e["field"]: e["reason"] for e in moved.json()["errors"]}
    assert "config.auth_token" in errors
    assert "base_url" in errors["config.auth_token"]
    assert client.get("/v1/providers/sms").json()["config"].get("base_url") is None
    # Giving the secret again is the caller's own secret: that one may go there.
    again = client.patch(
        "/v1/providers/sms", json={"config": {"base_url": url, "auth_token": "callers-own-1"}}
    )
    assert again.status_code == 200, again.text
    client.post("/v1/providers/sms/check")
    assert api.tokens() == [f"{ACCOUNT_SID}:callers-own-1"]
    assert all(TOKEN not in token for token in api.tokens())


def test_moving_an_smtp_relay_requires_its_password_again(client: Client) -> None:
    client.post(
        "/v1/providers", json={"name": "mail", "kind": "smtp", "config": _smtp("a.example")}
    )
    moved = client.patch("/v1/providers/mail", json={"config": {"host": "b.example"}})
    assert moved.status_code == 422, moved.text
    assert "config.password" in {e["field"] for e in moved.json()["errors"]}
    kept = client.patch("/v1/providers/mail", json={"config": {"from_name": "Rewards"}})
    assert kept.status_code == 200, kept.text


def test_a_project_cannot_allow_private_networks(strict: Client) -> None:
    answer = strict.post(
        "/v1/providers",
        json={
            "name": "hook",
            "kind": "webhook",
            "config": {
                "url": "https://hooks.example.com/in",
                "secret": "whsec_" + "A" * 40,
                "allow_private_networks": True,
            },
        },
    )
    assert answer.status_code == 422, answer.text
    assert "config.allow_private_networks" in {e["field"] for e in answer.json()["errors"]}


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",
        "0x7f.1",
        "0177.0.0.1",
        "127.1",
        "0",
        "LOCALHOST.",
        "metadata.google.internal",
        "[2002:7f00:1::]",
    ],
)
def test_webhook_subscriptions_refuse_every_spelling_of_an_internal_host(
    strict: Client, host: str
) -> None:
    answer = strict.post("/v1/webhooks", json={"url": f"https://{host}/hook", "event_types": ["*"]})
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "url"
