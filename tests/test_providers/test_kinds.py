"""Every kind declares itself once, in its own module; the registry treats all kinds alike."""

from __future__ import annotations

import ast
import hashlib
import hmac
import importlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from providers import (
    PROVIDER_KINDS,
    CallbackFormatError,
    CallbackRequest,
    CallbackSignatureError,
    DeliveryEvent,
    ProviderKind,
    ProviderKinds,
    StatusCallbacks,
)
from providers.capture import CaptureProvider
from providers.message import CHANNELS

ROOT = Path(__file__).resolve().parents[2]
# Modules that treat every kind the same way: a kind's name written in them is a per-kind branch.
GENERIC_MODULES = [
    "providers/registry.py",
    "distribution/provider_configs/callbacks.py",
    "distribution/provider_configs/registry.py",
]


@pytest.mark.parametrize("kind", sorted(PROVIDER_KINDS))
def test_every_kind_declares_its_channels_and_callbacks_in_its_own_module(kind: str) -> None:
    spec = PROVIDER_KINDS[kind]
    module = importlib.import_module(spec.config_type.__module__)
    assert module.KIND is spec
    assert spec.channels <= CHANNELS
    assert bool(spec.channels) == (spec.role == "sender")
    assert spec.callbacks is None or isinstance(spec.callbacks, StatusCallbacks)
    if spec.callbacks is not None:
        assert spec.callbacks.signing_key_field in spec.secret_fields


def test_the_kinds_with_status_callbacks() -> None:
    declared = {k for k, spec in PROVIDER_KINDS.items() if spec.callbacks is not None}
    assert declared == {
        "smtp",
        "twilio",
        "mailchimp_transactional",
        # Their unsubscribe webhooks (customer sync), authenticated by a secret in the URL.
        "mailchimp_audience",
        "activecampaign",
    }


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


@pytest.mark.parametrize("path", GENERIC_MODULES)
def test_generic_modules_name_no_kind(path: str) -> None:
    assert not _string_constants(ROOT / path) & set(PROVIDER_KINDS)


# A throwaway kind: HMAC-SHA256 of the body in a header, a JSON body of one event.
PIGEON_KEY = "pigeon-signing-key-0123456789"


def _pigeon_signature(key: str, body: bytes) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class _Pigeon:
    keys_seen: list[str]

    def verify(self, request: CallbackRequest, key: str) -> bool:
        self.keys_seen.append(key)
        expected = _pigeon_signature(key, request.body)
        return hmac.compare_digest(expected, request.header("X-Pigeon-Signature"))

    def parse(self, request: CallbackRequest) -> list[DeliveryEvent]:
        data = json.loads(request.body)
        return [
            DeliveryEvent(
                provider_message_id=data["id"],
                type="delivered",
                timestamp=datetime.fromtimestamp(data["ts"], UTC),
            )
        ]


def _registry(pigeon: _Pigeon) -> ProviderKinds:
    kind = ProviderKind(
        kind="pigeon",
        role="sender",
        channels=frozenset({"sms"}),
        config_type=PROVIDER_KINDS["capture"].config_type,
        description="A throwaway kind for this test.",
        factory=lambda name, config, ctx: CaptureProvider(name, config),
        callbacks=StatusCallbacks(
            signing_key_field="loft_key",
            signature_header="X-Pigeon-Signature",
            verify=pigeon.verify,
            parse=pigeon.parse,
        ),
    )
    return ProviderKinds([*PROVIDER_KINDS.values(), kind])


def _request(body: bytes, signature: str) -> CallbackRequest:
    return CallbackRequest(
        url="https://dm.example.com/v1/provider-webhooks/p/loft",
        headers={"x-pigeon-signature": signature},
        body=body,
    )


def test_a_new_kind_is_verified_and_parsed_through_the_generic_path() -> None:
    pigeon = _Pigeon([])
    kinds = _registry(pigeon)
    body = json.dumps({"id": "m-1", "ts": 1_700_000_000}).encode()
    request = _request(body, _pigeon_signature(PIGEON_KEY, body))
    fields: list[str] = []

    def secret_of(field: str) -> str | None:
        fields.append(field)
        return PIGEON_KEY

    events = kinds.read_status_callback("pigeon", secret_of, request)
    assert [(e.provider_message_id, e.type) for e in events] == [("m-1", "delivered")]
    assert fields == ["loft_key"]
    assert pigeon.keys_seen == [PIGEON_KEY]


def test_a_new_kind_refuses_a_wrong_signature_and_a_foreign_format() -> None:
    kinds = _registry(_Pigeon([]))
    body = json.dumps({"id": "m-1", "ts": 1_700_000_000}).encode()
    with pytest.raises(CallbackSignatureError):
        kinds.read_status_callback("pigeon", lambda _: PIGEON_KEY, _request(body, "0" * 64))
    with pytest.raises(CallbackSignatureError):
        kinds.read_status_callback("pigeon", lambda _: None, _request(body, "0" * 64))
    unreadable = b"not json"
    signed = _request(unreadable, _pigeon_signature(PIGEON_KEY, unreadable))
    with pytest.raises(CallbackFormatError, match="is not a pigeon status callback"):
        kinds.read_status_callback("pigeon", lambda _: PIGEON_KEY, signed)


@pytest.mark.parametrize("kind", [None, "capture", "no-such-kind"])
def test_a_callback_to_no_kind_with_callbacks_is_checked_against_a_decoy(kind: str | None) -> None:
    pigeon = _Pigeon([])
    kinds = _registry(pigeon)
    body = b"{}"
    with pytest.raises(CallbackSignatureError):
        kinds.read_status_callback(kind, lambda _: PIGEON_KEY, _request(body, "0" * 64))
    # The scheme the request claims ran once, with a key that is not the stored one.
    assert len(pigeon.keys_seen) == 1
    assert pigeon.keys_seen[0] != PIGEON_KEY
