"""One contract over every sender kind, each against its fake, aiosmtpd, or nothing (capture).

Every kind is built through the registry from a plain config mapping, as the API will do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from providers.address_guard import AddressGuard
from providers.errors import PermanentProviderError, TransientProviderError
from providers.http_transport import GuardedClient
from providers.message import Message, SendResult
from providers.protocol import Provider
from providers.registry import PROVIDER_KINDS, build_sender

from .conftest import SmtpServerHandle
from .fakes import braze, mandrill, twilio
from .fakes.smtp_server import PASSWORD, USERNAME
from .fakes.webhook_receiver import SECRET
from .samples import email, sms


@dataclass
class Setup:
    """A kind wired to its server: config, a valid message, a message on a foreign channel."""

    config: dict[str, Any]
    message: Message
    foreign: Message
    bad_auth: dict[str, Any] | None = None
    throttle: Callable[[], float | None] | None = None  # returns the expected retry_after


def capture_setup(request: pytest.FixtureRequest) -> Setup:
    return Setup({"channels": ["email"]}, email(), sms())


def smtp_setup(request: pytest.FixtureRequest) -> Setup:
    server: SmtpServerHandle = request.getfixturevalue("starttls_smtp")
    config = {
        "host": "localhost",
        "port": server.port,
        "username": USERNAME,
        "password": PASSWORD,
        "from_email": "rewards@example.com",
        "ca_cert_pem": request.getfixturevalue("ca_pem"),
        "timeout": 5.0,
    }

    def throttle() -> None:
        server.handler.rcpt_replies["alice@example.com"] = "452 4.5.3 Too many recipients"

    return Setup(config, email(), sms(), {**config, "password": "wrong-pw-1"}, throttle)


def twilio_setup(request: pytest.FixtureRequest) -> Setup:
    api, url = request.getfixturevalue("twilio_api")
    config = {
        "account_sid": twilio.ACCOUNT_SID,
        "auth_token": twilio.AUTH_TOKEN,
        "from_number": "+15005550006",
        "base_url": url,
    }

    def throttle() -> float:
        api.fail_next(
            status=429,
            body={"code": 20429, "message": "Too Many Requests"},
            headers={"Retry-After": "3"},
        )
        return 3.0

    return Setup(config, sms(), email(), {**config, "auth_token": "wrong-token-1"}, throttle)


def mandrill_setup(request: pytest.FixtureRequest) -> Setup:
    api, url = request.getfixturevalue("mandrill_api")
    config = {"api_key": mandrill.API_KEY, "from_email": "rewards@example.com", "base_url": url}

    def throttle() -> None:
        api.fail_next(
            status=500,
            body={
                "status": "error",
                "code": -100,
                "name": "GeneralError",
                "message": "An unknown error occurred",
            },
        )

    return Setup(config, email(), sms(), {**config, "api_key": "md-wrong-key-1"}, throttle)


def braze_setup(request: pytest.FixtureRequest) -> Setup:
    api, url = request.getfixturevalue("braze_api")
    config = {
        "api_key": braze.API_KEY,
        "base_url": url,
        "sms_app_id": "app-sms",
        "sms_subscription_group_id": "sg-1",
    }

    def throttle() -> None:
        api.fail_next(status=503, body={"message": "Service Unavailable"})

    return Setup(
        config,
        sms(external_user_id="u1"),
        email(external_user_id="u1"),
        {**config, "api_key": "wrong-key-123"},
        throttle,
    )


def webhook_setup(request: pytest.FixtureRequest) -> Setup:
    api, url = request.getfixturevalue("webhook_receiver")
    config = {"url": url, "secret": SECRET, "channels": ["sms"]}

    def throttle() -> float:
        api.fail_next(status=429, headers={"Retry-After": "9"})
        return 9.0

    return Setup(config, sms(), email(), {**config, "secret": "whsec_" + "C" * 32}, throttle)


SETUPS: dict[str, Callable[[pytest.FixtureRequest], Setup]] = {
    "capture": capture_setup,
    "smtp": smtp_setup,
    "twilio": twilio_setup,
    "mailchimp_transactional": mandrill_setup,
    "braze": braze_setup,
    "webhook": webhook_setup,
}
WITH_AUTH = [k for k in SETUPS if k != "capture"]


def test_every_sender_kind_has_a_contract_setup() -> None:
    senders = {k for k, spec in PROVIDER_KINDS.items() if spec.role == "sender"}
    assert senders == set(SETUPS)


def build(kind: str, config: dict[str, Any], client: GuardedClient) -> Provider:
    # The fakes listen on this machine, as the operator's setting allows.
    return build_sender(
        f"contract-{kind}", kind, config, http_client=client, guard=AddressGuard(allow_private=True)
    )


@pytest.mark.parametrize("kind", list(SETUPS))
async def test_valid_message_gets_a_result(
    kind: str, request: pytest.FixtureRequest, http_client: GuardedClient
) -> None:
    setup = SETUPS[kind](request)
    provider = build(kind, setup.config, http_client)
    try:
        assert isinstance(provider, Provider)
        assert provider.kind == kind
        result = await provider.send(setup.message)
        await provider.check()
    finally:
        await provider.aclose()
    assert result.status in ("sent", "queued")
    assert result.provider_message_id
    assert result.reject_reason is None


def test_a_rejection_always_carries_a_normalised_reason() -> None:
    assert SendResult("rejected", reason="carrier said no").reject_reason == "other"
    assert SendResult("rejected", reject_reason="bounced").reject_reason == "bounced"
    with pytest.raises(ValueError, match="only a rejected result"):
        SendResult("sent", reject_reason="unsubscribed")


@pytest.mark.parametrize("kind", list(SETUPS))
async def test_declares_channels_and_refuses_others(
    kind: str, request: pytest.FixtureRequest, http_client: GuardedClient
) -> None:
    setup = SETUPS[kind](request)
    provider = build(kind, setup.config, http_client)
    try:
        assert setup.message.channel in provider.channels
        assert setup.foreign.channel not in provider.channels
        assert provider.channels <= PROVIDER_KINDS[kind].channels
        with pytest.raises(PermanentProviderError, match="channel"):
            await provider.send(setup.foreign)
    finally:
        await provider.aclose()


@pytest.mark.parametrize("kind", WITH_AUTH)
async def test_auth_failure_is_permanent(
    kind: str, request: pytest.FixtureRequest, http_client: GuardedClient
) -> None:
    setup = SETUPS[kind](request)
    assert setup.bad_auth is not None
    provider = build(kind, setup.bad_auth, http_client)
    try:
        with pytest.raises(PermanentProviderError) as info:
            await provider.send(setup.message)
    finally:
        await provider.aclose()
    for secret in PROVIDER_KINDS[kind].secret_fields:
        value = setup.bad_auth.get(secret)
        assert not value or value not in str(info.value)


@pytest.mark.parametrize("kind", WITH_AUTH)
async def test_throttling_or_server_error_is_transient(
    kind: str, request: pytest.FixtureRequest, http_client: GuardedClient
) -> None:
    setup = SETUPS[kind](request)
    assert setup.throttle is not None
    expected_retry_after = setup.throttle()
    provider = build(kind, setup.config, http_client)
    try:
        with pytest.raises(TransientProviderError) as info:
            await provider.send(setup.message)
    finally:
        await provider.aclose()
    assert info.value.retry_after == expected_retry_after
