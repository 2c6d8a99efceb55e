"""The mailchimp_transactional provider against the fake Mandrill API."""

from __future__ import annotations

import pytest

from providers.errors import PermanentProviderError, TransientProviderError
from providers.http_transport import GuardedClient
from providers.mailchimp_transactional import (
    MailchimpTransactionalConfig,
    MailchimpTransactionalProvider,
)

from .fakes.mandrill import API_KEY, FakeMandrill
from .samples import email, sms


def make(url: str, client: GuardedClient, key: str = API_KEY) -> MailchimpTransactionalProvider:
    config = MailchimpTransactionalConfig(
        api_key=key,
        from_email="rewards@example.com",
        from_name="Acme Rewards",
        reply_to="help@example.com",
        base_url=url,
        unsubscribe_mailto="unsub@example.com",
    )
    return MailchimpTransactionalProvider("mandrill", config, http_client=client)


async def test_send_payload_and_sent_result(
    mandrill_api: tuple[FakeMandrill, str], http_client: GuardedClient
) -> None:
    api, url = mandrill_api
    message = email(
        marketing=True,
        unsubscribe_url="https://example.com/u/T",
        tags=("referral",),
        metadata={"campaign": "spring"},
    )
    result = await make(url, http_client).send(message)
    assert (result.status, result.provider_status) == ("sent", "sent")
    assert result.provider_message_id
    (request,) = api.requests
    assert request.path == "/api/1.3/messages/send.json"
    body = request.json()
    assert body["key"] == API_KEY
    msg = body["message"]
    assert msg["to"] == [{"email": "alice@example.com", "name": "Alice Example", "type": "to"}]
    assert msg["from_email"] == "rewards@example.com"
    assert msg["from_name"] == "Acme Rewards"
    assert msg["headers"]["Reply-To"] == "help@example.com"
    assert msg["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["headers"]["List-Unsubscribe"].startswith("<https://example.com/u/T>, <mailto:")
    assert msg["metadata"] == {"campaign": "spring", "delivery_id": "dlv_1"}
    assert msg["tags"] == ["referral"]


@pytest.mark.parametrize(
    ("to", "status", "reason", "reject_reason"),
    [
        ("reject@example.com", "rejected", "hard-bounce", "bounced"),
        ("unsub@example.com", "rejected", "unsub", "unsubscribed"),
        ("spam@example.com", "rejected", "spam", "blocked"),
        ("sender@example.com", "rejected", "invalid-sender", "other"),
        ("invalid@example.com", "rejected", "invalid", "invalid"),
        ("queue@example.com", "queued", "sending-backlogged", None),
        ("schedule@example.com", "queued", "scheduled", None),
    ],
)
async def test_recipient_statuses(
    mandrill_api: tuple[FakeMandrill, str],
    http_client: GuardedClient,
    to: str,
    status: str,
    reason: str,
    reject_reason: str | None,
) -> None:
    result = await make(mandrill_api[1], http_client).send(email(to=to))
    assert (result.status, result.reason) == (status, reason)
    assert result.reject_reason == reject_reason
    # Mandrill's own word stays visible: "queued" and "scheduled" are not "sent".
    assert result.provider_status == mandrill_api[0].status_of(to)["status"]


async def test_invalid_key_is_permanent_although_http_500(
    mandrill_api: tuple[FakeMandrill, str], http_client: GuardedClient
) -> None:
    provider = make(mandrill_api[1], http_client, key="md-wrong-key-000000")
    with pytest.raises(PermanentProviderError) as info:
        await provider.send(email())
    assert (info.value.status_code, info.value.code) == (500, "Invalid_Key")
    assert "md-wrong-key-000000" not in str(info.value)
    with pytest.raises(PermanentProviderError):
        await provider.check()


async def test_general_error_is_transient_and_ping_works(
    mandrill_api: tuple[FakeMandrill, str], http_client: GuardedClient
) -> None:
    api, url = mandrill_api
    api.fail_next(
        status=500,
        body={"status": "error", "code": -1, "name": "GeneralError", "message": "Oops"},
    )
    provider = make(url, http_client)
    with pytest.raises(TransientProviderError):
        await provider.send(email())
    await provider.check()


async def test_validation_error_is_permanent(
    mandrill_api: tuple[FakeMandrill, str], http_client: GuardedClient
) -> None:
    with pytest.raises(PermanentProviderError) as info:
        await make(mandrill_api[1], http_client).send(email(tags=("_reserved",)))
    assert info.value.code == "ValidationError"


async def test_sms_is_refused(
    mandrill_api: tuple[FakeMandrill, str], http_client: GuardedClient
) -> None:
    with pytest.raises(PermanentProviderError, match="channel"):
        await make(mandrill_api[1], http_client).send(sms())


def test_key_not_in_repr() -> None:
    config = MailchimpTransactionalConfig(api_key=API_KEY, from_email="a@example.com")
    assert API_KEY not in repr(config)
