"""The webhook provider: Standard Webhooks signing and the SSRF guard."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from providers import standard_webhooks
from providers.address_guard import AddressGuard, forbidden_reason
from providers.errors import PermanentProviderError, TransientProviderError
from providers.http_transport import GuardedClient, guarded_client
from providers.webhook import WebhookConfig, WebhookProvider

from .fakes.webhook_receiver import SECRET, FakeReceiver
from .samples import email, sms

# The receiver listens on this machine, as the operator's setting allows.
LOCAL = AddressGuard(allow_private=True)
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1674087231
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIG = "v1,AQG81rX2n4rTN1fkXoqILSHO9gAOcwya9dP41rhrQDI="


def make(
    url: str, client: GuardedClient, guard: AddressGuard = LOCAL, **overrides: object
) -> WebhookProvider:
    values: dict[str, object] = {"url": url, "secret": SECRET}
    values.update(overrides)
    config = WebhookConfig(**values)  # type: ignore[arg-type]
    return WebhookProvider("hook", config, http_client=client, guard=guard)


def test_sign_matches_published_vector_and_library() -> None:
    assert standard_webhooks.sign(SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIG
    library = Webhook(SECRET).sign(
        VECTOR_ID, datetime.fromtimestamp(VECTOR_TS, UTC), VECTOR_BODY.decode()
    )
    assert library == VECTOR_SIG


def test_verify_vector_tampering_wrong_key_and_stale() -> None:
    headers = {
        "Webhook-Id": VECTOR_ID,
        "Webhook-Timestamp": str(VECTOR_TS),
        "Webhook-Signature": "v1a,ignored " + VECTOR_SIG,
    }
    verify = standard_webhooks.verify
    assert verify(SECRET, headers, VECTOR_BODY, now=VECTOR_TS + 10)
    assert not verify(SECRET, headers, b'{"test": 2432232315}', now=VECTOR_TS)
    assert not verify("whsec_" + "A" * 32, headers, VECTOR_BODY, now=VECTOR_TS)
    assert not verify(SECRET, headers, VECTOR_BODY, now=VECTOR_TS + 301)
    assert not verify(SECRET, headers, VECTOR_BODY, now=VECTOR_TS - 301)
    assert not verify(SECRET, {**headers, "Webhook-Id": "msg_other"}, VECTOR_BODY, now=VECTOR_TS)
    assert not verify(SECRET, {}, VECTOR_BODY, now=VECTOR_TS)


async def test_posts_signed_message_that_the_reference_library_accepts(
    webhook_receiver: tuple[FakeReceiver, str], http_client: GuardedClient
) -> None:
    api, url = webhook_receiver
    result = await make(url, http_client).send(email(id="dlv_9"))
    assert result.status == "sent"
    assert result.provider_message_id == "rcv_1"
    (event,) = api.events
    assert event["type"] == "message.send"
    assert event["data"]["id"] == "dlv_9"
    assert event["data"]["html"].startswith("<p>Hi Alice")
    assert api.requests[0].headers["webhook-id"] == "dlv_9"


async def test_wrong_secret_is_refused_by_receiver_as_permanent(
    webhook_receiver: tuple[FakeReceiver, str], http_client: GuardedClient
) -> None:
    provider = make(webhook_receiver[1], http_client, secret="whsec_" + "B" * 32)
    with pytest.raises(PermanentProviderError) as info:
        await provider.send(sms())
    assert info.value.status_code == 401


async def test_receiver_throttling_is_transient(
    webhook_receiver: tuple[FakeReceiver, str], http_client: GuardedClient
) -> None:
    api, url = webhook_receiver
    api.fail_next(status=503, headers={"Retry-After": "12"})
    with pytest.raises(TransientProviderError) as info:
        await make(url, http_client).send(sms())
    assert info.value.retry_after == 12.0


async def test_redirects_are_not_followed(
    webhook_receiver: tuple[FakeReceiver, str], http_client: GuardedClient
) -> None:
    api, url = webhook_receiver
    api.fail_next(status=307, headers={"Location": "http://169.254.169.254/"})
    with pytest.raises(PermanentProviderError, match="redirect"):
        await make(url, http_client).send(sms())
    assert len(api.requests) == 1


async def test_loopback_is_refused_without_the_operator_setting(
    webhook_receiver: tuple[FakeReceiver, str],
) -> None:
    api, url = webhook_receiver
    strict = AddressGuard()
    async with guarded_client(strict) as client:
        provider = make(url, client, guard=strict)
        with pytest.raises(PermanentProviderError, match="loopback"):
            await provider.send(email())
        with pytest.raises(PermanentProviderError, match="loopback"):
            await provider.check()
    assert api.requests == []


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback address"),
        ("::1", "loopback address"),
        ("10.1.2.3", "private address"),
        ("192.168.0.10", "private address"),
        ("172.16.5.4", "private address"),
        ("169.254.169.254", "cloud metadata address"),
        ("169.254.10.10", "link-local address"),
        ("fe80::1", "link-local address"),
        ("fd00:ec2::254", "cloud metadata address"),
        ("100.100.100.200", "cloud metadata address"),
        ("100.64.0.1", "not globally routable address"),
        ("224.0.0.1", "multicast address"),
        ("0.0.0.0", "unspecified address"),
        ("240.0.0.1", "reserved address"),
        ("::ffff:10.0.0.1", "private address (IPv4-mapped)"),
        ("fc00::1", "private address"),
    ],
)
def test_forbidden_addresses(address: str, reason: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


def test_secret_is_validated_and_hidden() -> None:
    config = WebhookConfig(url="https://example.com/h", secret=SECRET)
    assert SECRET not in repr(config)
    with pytest.raises(ValueError, match="whsec_"):
        WebhookConfig(url="https://example.com/h", secret="plain")
