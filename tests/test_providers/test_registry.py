"""The registry and the typed configs: validation, secrets, schemas."""

from __future__ import annotations

import pytest

from providers.errors import ProviderConfigError
from providers.registry import PROVIDER_KINDS, build_provider, build_sender
from providers.twilio import TwilioProvider

from .fakes.twilio import ACCOUNT_SID, AUTH_TOKEN


def test_every_kind_describes_itself() -> None:
    for kind, spec in PROVIDER_KINDS.items():
        assert spec.kind == kind
        schema = spec.config_schema
        assert schema["type"] == "object"
        for secret in spec.secret_fields:
            assert schema["properties"][secret]["writeOnly"] is True
        if spec.role == "sender":
            assert spec.channels


def test_secret_fields_per_kind() -> None:
    assert PROVIDER_KINDS["twilio"].secret_fields == {"auth_token", "api_key_secret"}
    assert PROVIDER_KINDS["smtp"].secret_fields == {"password", "bounce_webhook_secret"}
    assert PROVIDER_KINDS["mailchimp_transactional"].secret_fields == {"api_key", "webhook_key"}
    assert PROVIDER_KINDS["capture"].secret_fields == frozenset()


def test_build_from_plain_mapping() -> None:
    provider = build_sender(
        "sms",
        "twilio",
        {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": "+15005550006"},
    )
    assert isinstance(provider, TwilioProvider)
    assert provider.channels == {"sms"}


def test_unknown_kind() -> None:
    with pytest.raises(ProviderConfigError, match="unknown kind"):
        build_provider("x", "carrier-pigeon", {})


def test_invalid_config_names_fields_without_values() -> None:
    with pytest.raises(ProviderConfigError) as info:
        build_provider(
            "sms",
            "twilio",
            {"account_sid": ACCOUNT_SID, "auth_token": 12345678901, "colour": "blue"},
        )
    text = str(info.value)
    assert "unknown field 'colour'" in text
    assert "auth_token must be" in text
    assert "12345678901" not in text


def test_validator_messages_do_not_quote_secrets() -> None:
    with pytest.raises(ProviderConfigError) as info:
        build_provider("sms", "twilio", {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN})
    assert "from_number or messaging_service_sid" in str(info.value)
    assert AUTH_TOKEN not in str(info.value)


def test_smtp_config_defaults_port_by_security() -> None:
    spec = PROVIDER_KINDS["smtp"]
    implicit = spec.parse_config(
        {"host": "mail.example.com", "security": "tls", "from_email": "a@example.com"}, name="m"
    )
    assert implicit.server().port == 465
    with pytest.raises(ProviderConfigError, match="security"):
        spec.parse_config(
            {"host": "mail.example.com", "security": "ssl", "from_email": "a@example.com"},
            name="m",
        )
