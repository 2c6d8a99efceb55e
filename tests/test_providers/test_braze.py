"""The braze provider against the fake Braze REST API."""

from __future__ import annotations

import time

import pytest

from providers.braze import BrazeConfig, BrazeProvider
from providers.errors import PermanentProviderError, TransientProviderError
from providers.http_transport import GuardedClient
from providers.message import SendResult

from .fakes.braze import API_KEY, FakeBraze
from .samples import email, sms


def make(url: str, client: GuardedClient, key: str = API_KEY) -> BrazeProvider:
    config = BrazeConfig(
        api_key=key,
        base_url=url,
        email_app_id="app-email",
        sms_app_id="app-sms",
        sms_subscription_group_id="sg-1",
        from_email="rewards@example.com",
        from_name="Acme Rewards",
        campaign_id="camp-1",
    )
    return BrazeProvider("braze", config, http_client=client)


async def test_email_payload(braze_api: tuple[FakeBraze, str], http_client: GuardedClient) -> None:
    api, url = braze_api
    message = email(external_user_id="user-1", marketing=True, unsubscribe_url="https://e.com/u")
    result = await make(url, http_client).send(message)
    assert result.status == "queued"
    assert result.provider_message_id
    body = api.requests[0].json()
    assert body["external_user_ids"] == ["user-1"]
    sent = body["messages"]["email"]
    assert sent["from"] == "Acme Rewards <rewards@example.com>"
    assert sent["app_id"] == "app-email"
    assert sent["plaintext_body"] == "Hi Alice, your code is WELCOME-42"
    assert sent["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sent["extras"]["delivery_id"] == "dlv_1"


async def test_sms_payload(braze_api: tuple[FakeBraze, str], http_client: GuardedClient) -> None:
    api, url = braze_api
    result = await make(url, http_client).send(sms(external_user_id="user-2"))
    assert result.status == "queued"
    assert api.requests[0].json()["messages"]["sms"] == {
        "app_id": "app-sms",
        "subscription_group_id": "sg-1",
        "body": "Your code is WELCOME-42",
    }


async def test_missing_external_id_is_permanent(
    braze_api: tuple[FakeBraze, str], http_client: GuardedClient
) -> None:
    with pytest.raises(PermanentProviderError, match="external_user_id"):
        await make(braze_api[1], http_client).send(email())
    assert braze_api[0].requests == []


async def test_send_many_batches_identical_content_in_fifties(
    braze_api: tuple[FakeBraze, str], http_client: GuardedClient
) -> None:
    api, url = braze_api
    same = [email(id=f"d{i}", external_user_id=f"u{i}", text=None) for i in range(120)]
    other = email(id="x", external_user_id="ux", subject="Something else")
    outcomes = await make(url, http_client).send_many([*same, other])
    assert all(isinstance(o, SendResult) and o.status == "queued" for o in outcomes)
    sizes = sorted(len(r.json()["external_user_ids"]) for r in api.requests)
    assert sizes == [1, 20, 50, 50]


async def test_auth_failure_is_permanent(
    braze_api: tuple[FakeBraze, str], http_client: GuardedClient
) -> None:
    with pytest.raises(PermanentProviderError) as info:
        await make(braze_api[1], http_client, key="wrong-key-123456").send(
            sms(external_user_id="u")
        )
    assert info.value.status_code == 401


async def test_rate_limit_reset_header(
    braze_api: tuple[FakeBraze, str], http_client: GuardedClient
) -> None:
    api, url = braze_api
    reset = int(time.time()) + 30
    api.fail_next(
        status=429, body={"message": "Rate Limited"}, headers={"x-ratelimit-reset": str(reset)}
    )
    with pytest.raises(TransientProviderError) as info:
        await make(url, http_client).send(sms(external_user_id="u"))
    assert info.value.retry_after is not None
    assert 20 < info.value.retry_after <= 30


async def test_more_than_fifty_ids_is_refused_by_the_fake(
    braze_api: tuple[FakeBraze, str], http_client: GuardedClient
) -> None:
    _api, url = braze_api
    body = {
        "external_user_ids": [f"u{i}" for i in range(51)],
        "messages": {"sms": {"app_id": "a", "subscription_group_id": "s", "body": "b"}},
    }
    response = await http_client.post(
        f"{url}/messages/send", json=body, headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert response.status_code == 400
    provider = make(url, http_client)
    with pytest.raises(ValueError, match="50"):
        provider._payload([sms(id=f"d{i}", external_user_id=f"u{i}") for i in range(51)])


async def test_non_ascii_sender_name_is_plain_text(
    braze_api: tuple[FakeBraze, str], http_client: GuardedClient
) -> None:
    """Braze reads `from` as JSON text: an RFC 2047 word would reach the inbox as it is."""
    api, url = braze_api
    message = email(external_user_id="user-1", from_name="Récompenses Acme")
    result = await make(url, http_client).send(message)
    assert result.status == "queued"
    assert api.requests[0].json()["messages"]["email"]["from"] == (
        "Récompenses Acme <rewards@example.com>"
    )


async def test_sender_name_with_specials_is_quoted(
    braze_api: tuple[FakeBraze, str], http_client: GuardedClient
) -> None:
    api, url = braze_api
    await make(url, http_client).send(email(external_user_id="u", from_name="Acme, Inc."))
    assert api.requests[0].json()["messages"]["email"]["from"] == (
        '"Acme, Inc." <rewards@example.com>'
    )


async def test_success_with_errors_keeps_the_errors(
    braze_api: tuple[FakeBraze, str], http_client: GuardedClient
) -> None:
    """A 201 `success` with an `errors` array is accepted, but never plainly."""
    api, url = braze_api
    api.minor_errors.append("user-1 is not subscribed to the group")
    result = await make(url, http_client).send(sms(external_user_id="user-1"))
    assert result.status == "queued"
    assert result.provider_status == "success"
    assert result.errors == ("user-1 is not subscribed to the group",)
    assert result.reason == "braze reported errors: user-1 is not subscribed to the group"


async def test_success_without_errors_has_no_reason(
    braze_api: tuple[FakeBraze, str], http_client: GuardedClient
) -> None:
    result = await make(braze_api[1], http_client).send(sms(external_user_id="user-1"))
    assert (result.errors, result.reason, result.provider_status) == ((), None, "success")
