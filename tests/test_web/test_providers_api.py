"""Providers over the API: secrets write-only, checks against local fakes, signed callbacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator, Mapping
from urllib.parse import urlencode

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlmodel import select

from distribution.models import ProviderConfig
from distribution.storage.db import Database
from providers.standard_webhooks import sign
from tests.conftest import ProjectCredentials, make_project
from tests.test_providers.fakes.server import serve
from tests.test_providers.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

Client = TestClient[Litestar]
PUBLIC_URL = "http://127.0.0.1:8000"  # the test app's settings.public_url
PASSWORD = "smtp-password-Qw91zzT4"
SMTP = {
    "host": "smtp.example.com",
    "from_email": "rewards@example.com",
    "username": "apikey",
    "password": PASSWORD,
}
WEBHOOK_KEY = "mandrill-webhook-key-5521"
BOUNCE_SECRET = "whsec_" + base64.b64encode(b"bounce-secret-0123456789abcdef").decode()
SECRETS = (PASSWORD, AUTH_TOKEN, WEBHOOK_KEY, BOUNCE_SECRET)


@pytest.fixture(scope="module")
def twilio_url() -> Iterator[str]:
    """A local fake of Twilio's API (the one the provider tests use)."""
    with serve(FakeTwilio()) as url:
        yield url


def _twilio(base_url: str, token: str = AUTH_TOKEN) -> dict[str, object]:
    return {
        "account_sid": ACCOUNT_SID,
        "auth_token": token,
        "from_number": "+15005550006",
        "base_url": base_url,
    }


def _no_secret_in(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def _stored(database: Database, project_id: str, name: str) -> str:
    with database.reader() as session:
        row = session.exec(
            select(ProviderConfig).where(
                ProviderConfig.project_id == project_id, ProviderConfig.name == name
            )
        ).one()
        return json.dumps(row.model_dump(), default=str)


def test_secrets_are_write_only_and_sealed_in_the_database(
    client: Client, api_project: ProjectCredentials, app_database: Database
) -> None:
    created = client.post(
        "/v1/providers",
        json={"name": "mail", "kind": "smtp", "config": SMTP, "max_concurrency": 2},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["config"] == {k: v for k, v in SMTP.items() if k != "password"}
    assert body["has_secret"] == {"bounce_webhook_secret": False, "password": True}
    assert body["max_concurrency"] == 2
    assert body["callback_url"] == (
        f"{PUBLIC_URL}/v1/provider-webhooks/{api_project.project.id}/mail"
    )
    responses = [
        created,
        client.get("/v1/providers"),
        client.get("/v1/providers/mail"),
        client.patch("/v1/providers/mail", json={"config": {"from_name": "Rewards"}}),
    ]
    for response in responses:
        assert response.status_code in (200, 201), response.text
        _no_secret_in(response.text)
    stored = _stored(app_database, api_project.project.id, "mail")
    assert "smtp.example.com" in stored
    _no_secret_in(stored)


def test_update_keeps_secrets_and_can_remove_them(client: Client) -> None:
    client.post("/v1/providers", json={"name": "mail", "kind": "smtp", "config": SMTP})
    kept = client.patch("/v1/providers/mail", json={"config": {"from_name": "Rewards"}}).json()
    assert kept["has_secret"]["password"] is True
    assert kept["config"]["from_name"] == "Rewards"
    removed = client.patch(
        "/v1/providers/mail", json={"config": {"username": None, "password": None}}
    )
    assert removed.status_code == 200, removed.text
    assert removed.json()["has_secret"]["password"] is False
    assert "username" not in removed.json()["config"]


def test_update_removes_a_limit_given_as_null_and_keeps_one_left_out(client: Client) -> None:
    client.post(
        "/v1/providers",
        json={
            "name": "m",
            "kind": "capture",
            "config": {},
            "max_concurrency": 2,
            "rate_per_second": 5,
        },
    )
    changed = client.patch("/v1/providers/m", json={"rate_per_second": None})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["rate_per_second"], changed.json()["max_concurrency"]) == (None, 2)
    refused = client.patch("/v1/providers/m", json={"max_concurrency": 0})
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["max_concurrency"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "m", "kind": "smtp", "config": {"host": "h"}}, "config.from_email"),
        ({"name": "m", "kind": "smtp", "config": {**SMTP, "prot": 1}}, "config.prot"),
        ({"name": "m", "kind": "smtp", "config": {**SMTP, "port": 70000}}, "config.port"),
        ({"name": "m", "kind": "twilio", "config": {"account_sid": "x"}}, "config.account_sid"),
        ({"name": "m", "kind": "pigeon", "config": {}}, "kind"),
        ({"name": "capture", "kind": "capture", "config": {}}, "name"),
        ({"name": "m", "kind": "capture", "config": {}, "max_concurrency": 0}, "max_concurrency"),
        (
            {"name": "m", "kind": "capture", "config": {"max_messages": 10**15}},
            "config.max_messages",
        ),
    ],
)
def test_invalid_input_is_422_naming_the_field(
    client: Client, payload: dict[str, object], field: str
) -> None:
    response = client.post("/v1/providers", json=payload)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    _no_secret_in(response.text)


def test_duplicate_name_is_a_conflict(client: Client) -> None:
    assert client.post(
        "/v1/providers", json={"name": "a", "kind": "capture", "config": {}}
    ).is_success
    again = client.post("/v1/providers", json={"name": "a", "kind": "capture", "config": {}})
    assert again.status_code == 409


def test_check_reports_the_providers_answer(client: Client, twilio_url: str) -> None:
    client.post(
        "/v1/providers", json={"name": "sms", "kind": "twilio", "config": _twilio(twilio_url)}
    )
    good = client.post("/v1/providers/sms/check")
    assert good.status_code == 200, good.text
    assert good.json()["ok"] is True
    client.patch("/v1/providers/sms", json={"config": {"auth_token": "wrong-token-000111"}})
    bad = client.post("/v1/providers/sms/check")
    assert bad.status_code == 200, bad.text
    assert bad.json()["ok"] is False
    assert "20003" in bad.json()["detail"] or "auth" in bad.json()["detail"].lower()
    assert "wrong-token-000111" not in bad.text
    # The live provider is rebuilt after the change back.
    client.patch("/v1/providers/sms", json={"config": {"auth_token": AUTH_TOKEN}})
    assert client.post("/v1/providers/sms/check").json()["ok"] is True


def test_check_of_an_unreachable_provider_is_not_ok(client: Client) -> None:
    client.post(
        "/v1/providers",
        json={"name": "sms", "kind": "twilio", "config": _twilio("http://127.0.0.1:9")},
    )
    answer = client.post("/v1/providers/sms/check")
    assert answer.status_code == 200
    assert answer.json()["ok"] is False


def test_kinds_describe_channels_and_secret_fields(client: Client) -> None:
    kinds = {k["kind"]: k for k in client.get("/v1/providers/kinds").json()}
    assert kinds["twilio"]["channels"] == ["sms"]
    assert kinds["twilio"]["role"] == "sender"
    assert set(kinds["twilio"]["secret_fields"]) == {"auth_token", "api_key_secret"}
    schema = kinds["twilio"]["config_schema"]
    assert schema["properties"]["auth_token"]["writeOnly"] is True
    assert "account_sid" in schema["required"]
    assert kinds["mailchimp_audience"]["role"] == "sync"
    assert "webhook_key" in kinds["mailchimp_transactional"]["secret_fields"]


def test_another_projects_provider_is_not_found(client: Client, app_database: Database) -> None:
    other = make_project(app_database)
    mine = client.post("/v1/providers", json={"name": "mail", "kind": "smtp", "config": SMTP})
    assert mine.status_code == 201
    headers = other.headers
    assert client.get("/v1/providers/mail", headers=headers).status_code == 404
    assert client.patch("/v1/providers/mail", json={}, headers=headers).status_code == 404
    assert client.post("/v1/providers/mail/check", headers=headers).status_code == 404
    assert client.delete("/v1/providers/mail", headers=headers).status_code == 404
    assert client.get("/v1/providers", headers=headers).json() == []
    assert client.get("/v1/providers/mail").status_code == 200
    assert client.delete("/v1/providers/mail").status_code == 204
    assert client.get("/v1/providers/mail").status_code == 404


# --- status callbacks -----------------------------------------------------------------------


def _hmac_sha1(key: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's and Mandrill's scheme: HMAC-SHA1 of the URL then each name+value, sorted."""
    text = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(key.encode(), text.encode(), hashlib.sha1).digest()).decode()


def _form() -> dict[str, str]:
    return {"Content-Type": "application/x-www-form-urlencoded"}


TWILIO_STATUS = {
    "MessageSid": "SM" + "1" * 32,
    "MessageStatus": "undelivered",
    "ErrorCode": "30003",
    "To": "+15005550006",
    "AccountSid": ACCOUNT_SID,
}


def test_twilio_callback_is_verified_with_the_auth_token(
    client: Client, raw_client: Client, api_project: ProjectCredentials, twilio_url: str
) -> None:
    client.post(
        "/v1/providers", json={"name": "sms", "kind": "twilio", "config": _twilio(twilio_url)}
    )
    path = f"/v1/provider-webhooks/{api_project.project.id}/sms"
    raw_client.headers.clear()  # the provider has no API key
    body = urlencode(TWILIO_STATUS)

    def post(signature: str | None, content: str = body, query: str = "") -> int:
        headers = _form()
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        return raw_client.post(path + query, content=content, headers=headers).status_code

    good = _hmac_sha1(AUTH_TOKEN, PUBLIC_URL + path, TWILIO_STATUS)
    answer = raw_client.post(path, content=body, headers={**_form(), "X-Twilio-Signature": good})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": 1}
    # Twilio sometimes signs the URL without the port.
    assert post(_hmac_sha1(AUTH_TOKEN, "http://127.0.0.1" + path, TWILIO_STATUS)) == 200
    with_query = _hmac_sha1(AUTH_TOKEN, PUBLIC_URL + path + "?d=1", TWILIO_STATUS)
    assert post(with_query, query="?d=1") == 200
    assert post(with_query) == 401
    assert post(None) == 401
    assert post(_hmac_sha1("wrong-token-123456", PUBLIC_URL + path, TWILIO_STATUS)) == 401
    assert post(good, content=body.replace("undelivered", "delivered")) == 401


def test_callback_without_a_stored_secret_is_refused(
    client: Client, raw_client: Client, api_project: ProjectCredentials
) -> None:
    config = {
        "account_sid": ACCOUNT_SID,
        "api_key_sid": "SK" + "b" * 32,
        "api_key_secret": "key-secret-000111222",
        "from_number": "+15005550006",
    }
    client.post("/v1/providers", json={"name": "sms", "kind": "twilio", "config": config})
    path = f"/v1/provider-webhooks/{api_project.project.id}/sms"
    raw_client.headers.clear()
    # Without an auth token nothing can verify the signature, whatever key signed it.
    signature = _hmac_sha1("", PUBLIC_URL + path, TWILIO_STATUS)
    answer = raw_client.post(
        path,
        content=urlencode(TWILIO_STATUS),
        headers={**_form(), "X-Twilio-Signature": signature},
    )
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")


MANDRILL_EVENTS = json.dumps(
    [
        {"event": "delivered", "_id": "m1", "ts": 1700000000, "msg": {"email": "a@example.com"}},
        {
            "event": "hard_bounce",
            "_id": "m2",
            "ts": 1700000001,
            "msg": {"email": "b@example.com", "bounce_description": "bad_mailbox"},
        },
    ]
)


def test_mandrill_events_are_verified_with_the_webhook_key(
    client: Client, raw_client: Client, api_project: ProjectCredentials
) -> None:
    config = {"api_key": "md-key-0001112223", "from_email": "a@example.com"}
    config["webhook_key"] = WEBHOOK_KEY
    created = client.post(
        "/v1/providers", json={"name": "mc", "kind": "mailchimp_transactional", "config": config}
    )
    assert created.status_code == 201, created.text
    _no_secret_in(created.text)
    path = f"/v1/provider-webhooks/{api_project.project.id}/mc"
    raw_client.headers.clear()
    assert raw_client.head(path).status_code == 200  # Mandrill's unsigned URL check
    params = {"mandrill_events": MANDRILL_EVENTS}
    body = urlencode(params)

    def post(signature: str, content: str = body) -> httpx.Response:
        return raw_client.post(
            path, content=content, headers={**_form(), "X-Mandrill-Signature": signature}
        )

    good = _hmac_sha1(WEBHOOK_KEY, PUBLIC_URL + path, params)
    answer = post(good)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": 2}
    assert post(_hmac_sha1("other-key", PUBLIC_URL + path, params)).status_code == 401
    assert post(good, body.replace("hard_bounce", "soft_bounce")).status_code == 401
    assert raw_client.post(path, content=body, headers=_form()).status_code == 401
    # Signed but not Mandrill's format: refused as invalid, not a server error.
    junk = {"mandrill_events": "{not json"}
    signed_junk = _hmac_sha1(WEBHOOK_KEY, PUBLIC_URL + path, junk)
    assert post(signed_junk, urlencode(junk)).status_code == 422


def test_smtp_bounce_webhook_uses_standard_webhooks(
    client: Client, raw_client: Client, api_project: ProjectCredentials
) -> None:
    config = {**SMTP, "bounce_webhook_secret": BOUNCE_SECRET}
    assert client.post(
        "/v1/providers", json={"name": "mail", "kind": "smtp", "config": config}
    ).is_success
    path = f"/v1/provider-webhooks/{api_project.project.id}/mail"
    raw_client.headers.clear()
    body = json.dumps(
        {
            "type": "email.bounced",
            "timestamp": "2026-01-05T10:00:00Z",
            "data": {"message_id": "<dlv_1@example.com>", "recipient": "a@example.com"},
        }
    ).encode()

    def post(secret: str, at: int, content: bytes = body) -> int:
        headers = {
            "webhook-id": "msg_1",
            "webhook-timestamp": str(at),
            "webhook-signature": sign(secret, "msg_1", at, body),
            "content-type": "application/json",
        }
        return raw_client.post(path, content=content, headers=headers).status_code

    now = int(time.time())
    assert post(BOUNCE_SECRET, now) == 200
    other = "whsec_" + base64.b64encode(b"another-secret-0123456789").decode()
    assert post(other, now) == 401
    assert post(BOUNCE_SECRET, now - 3600) == 401
    assert post(BOUNCE_SECRET, now, body.replace(b"bounced", b"delivered")) == 401
    assert raw_client.post(path, content=body).status_code == 401


def test_callback_urls_do_not_tell_which_projects_and_providers_exist(
    client: Client, raw_client: Client, api_project: ProjectCredentials, twilio_url: str
) -> None:
    client.post(
        "/v1/providers", json={"name": "sms", "kind": "twilio", "config": _twilio(twilio_url)}
    )
    client.post("/v1/providers", json={"name": "out", "kind": "capture", "config": {}})
    raw_client.headers.clear()
    project = api_project.project.id
    paths = [
        f"/v1/provider-webhooks/{project}/sms",  # exists: the signature is wrong
        f"/v1/provider-webhooks/{project}/nope",
        f"/v1/provider-webhooks/proj_{'0' * 32}/sms",
        f"/v1/provider-webhooks/{project}/out",  # a kind without status callbacks
    ]
    answers = []
    for path in paths:
        signature = _hmac_sha1("wrong-token-123456", PUBLIC_URL + path, TWILIO_STATUS)
        answers.append(
            raw_client.post(
                path,
                content=urlencode(TWILIO_STATUS),
                headers={**_form(), "X-Twilio-Signature": signature},
            )
        )
    assert {a.status_code for a in answers} == {401}
    # A problem document names the URL it answers (``instance``); everything else is the same.
    assert [a.json().pop("instance") for a in answers] == paths
    bodies = [{k: v for k, v in a.json().items() if k != "instance"} for a in answers]
    assert all(body == bodies[0] for body in bodies)
    per_request = {"x-request-id", "content-length"}
    headers = [{k: v for k, v in a.headers.items() if k not in per_request} for a in answers]
    assert all(h == headers[0] for h in headers)


def test_a_capture_keeps_at_most_ten_thousand_messages(client: Client) -> None:
    most = {"name": "most", "kind": "capture", "config": {"max_messages": 10_000}}
    assert client.post("/v1/providers", json=most).is_success
    more = {"name": "more", "kind": "capture", "config": {"max_messages": 10_001}}
    response = client.post("/v1/providers", json=more)
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {"field": "config.max_messages", "reason": "must be at most 10,000"}
    ]
