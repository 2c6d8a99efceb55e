"""`voucherify` (source): the webhook signature, and reading customers from its API (a fake)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from providers.callbacks import CallbackRequest
from providers.errors import (
    CallbackSignatureError,
    PermanentProviderError,
    ProviderConfigError,
    TransientProviderError,
)
from providers.http_transport import GuardedClient
from providers.protocol import EventSource
from providers.registry import PROVIDER_KINDS, build_provider
from providers.voucherify import SIGNATURE_HEADER, verify_voucherify_signature

from .fakes import voucherify
from .fakes.voucherify import FakeVoucherify

SECRET = "vf-webhook-secret-3f9c2a"
BODY = {"id": "evcus_1", "object": "event", "type": "redemption.succeeded", "data": {"x": "é"}}
COMPACT = json.dumps(BODY, separators=(",", ":"), ensure_ascii=False).encode()


def _sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_the_signature_over_the_raw_body_is_accepted() -> None:
    pretty = json.dumps(BODY, indent=2).encode()
    assert verify_voucherify_signature(SECRET, pretty, _sign(SECRET, pretty))
    assert verify_voucherify_signature(SECRET, COMPACT, _sign(SECRET, COMPACT).upper())


def test_a_body_reformatted_on_the_way_matches_its_compact_signature() -> None:
    # Voucherify signs compact JSON; a relay that pretty-prints (and escapes) it keeps the data.
    reformatted = json.dumps(BODY, indent=4, ensure_ascii=True).encode()
    assert verify_voucherify_signature(SECRET, reformatted, _sign(SECRET, COMPACT))


@pytest.mark.parametrize(
    ("body", "signature"),
    [
        (COMPACT.replace(b"redemption", b"redemptiox"), _sign(SECRET, COMPACT)),
        (COMPACT, _sign("another-secret", COMPACT)),
        (COMPACT, ""),
        (b"not json", _sign(SECRET, COMPACT)),
        # Same data, other key order: Voucherify's bytes are not reproduced, so it is refused.
        (json.dumps(dict(reversed(list(BODY.items())))).encode(), _sign(SECRET, b"{}")),
    ],
)
def test_anything_else_is_refused(body: bytes, signature: str) -> None:
    assert not verify_voucherify_signature(SECRET, body, signature)


def test_the_kind_is_a_source_with_inbound_events_and_no_channels() -> None:
    kind = PROVIDER_KINDS["voucherify"]
    assert (kind.role, kind.channels, kind.callbacks) == ("source", frozenset(), None)
    assert kind.inbound is not None
    assert kind.inbound.signature_header == SIGNATURE_HEADER
    assert kind.secret_fields == {"webhook_secret", "app_token"}
    assert kind.config_schema["properties"]["webhook_secret"]["writeOnly"] is True


def test_inbound_events_are_verified_through_the_registry() -> None:
    request = CallbackRequest(
        url="https://dm.example.com/v1/provider-webhooks/p/vf",
        headers={"X-Voucherify-Signature": _sign(SECRET, COMPACT)},
        body=COMPACT,
    )
    PROVIDER_KINDS.verify_inbound_events("voucherify", lambda _: SECRET, request)
    for kind, secret in (("voucherify", "wrong"), ("voucherify", None), ("twilio", SECRET)):
        with pytest.raises(CallbackSignatureError):
            PROVIDER_KINDS.verify_inbound_events(kind, lambda _, s=secret: s, request)


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({}, "webhook_secret is required"),
        ({"webhook_secret": "s", "app_id": "a"}, "app_id and app_token go together"),
        ({"webhook_secret": "s", "api_url": "ftp://x"}, r"api_url must be an http\(s\) URL"),
        ({"webhook_secret": "s", "currency": "eur"}, "currency must be an ISO 4217 code"),
    ],
)
def test_bad_configs_name_the_field(config: dict[str, Any], reason: str) -> None:
    with pytest.raises(ProviderConfigError, match=reason):
        build_provider("vf", "voucherify", config)


def _source(url: str, client: GuardedClient, **config: Any) -> EventSource:
    built = build_provider(
        "vf",
        "voucherify",
        {"webhook_secret": SECRET, "api_url": url, **config},
        http_client=client,
    )
    assert isinstance(built, EventSource)
    return built


CREDENTIALS = {"app_id": voucherify.APP_ID, "app_token": voucherify.APP_TOKEN}


async def test_a_customer_is_read_with_the_app_headers(
    voucherify_api: tuple[FakeVoucherify, str], http_client: GuardedClient
) -> None:
    api, url = voucherify_api
    api.customers["cust_1"] = {"id": "cust_1", "name": "Ada", "object": "customer"}
    source = _source(url, http_client, **CREDENTIALS)
    assert await source.fetch_customer("cust_1") == api.customers["cust_1"]
    [seen] = api.requests
    assert (seen.method, seen.path) == ("GET", "/v1/customers/cust_1")
    assert seen.headers["x-app-id"] == voucherify.APP_ID
    await source.check()


async def test_without_credentials_nothing_is_asked(
    voucherify_api: tuple[FakeVoucherify, str], http_client: GuardedClient
) -> None:
    api, url = voucherify_api
    assert await _source(url, http_client).fetch_customer("cust_1") is None
    assert api.requests == []


async def test_refusals_and_failures_are_provider_errors(
    voucherify_api: tuple[FakeVoucherify, str], http_client: GuardedClient
) -> None:
    api, url = voucherify_api
    with pytest.raises(PermanentProviderError) as refused:
        await _source(url, http_client, **CREDENTIALS).fetch_customer("cust_missing")
    assert refused.value.status_code == 404
    wrong = {**CREDENTIALS, "app_token": "wrong-token"}
    with pytest.raises(PermanentProviderError):
        await _source(url, http_client, **wrong).fetch_customer("cust_1")
    assert voucherify.APP_TOKEN not in str(refused.value)
    api.fail_next(status=503)
    with pytest.raises(TransientProviderError):
        await _source(url, http_client, **CREDENTIALS).fetch_customer("cust_1")
