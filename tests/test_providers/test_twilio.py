"""The twilio provider against the fake Twilio API."""

from __future__ import annotations

import pytest

from providers.address_guard import AddressGuard
from providers.errors import PermanentProviderError, TransientProviderError
from providers.http_transport import GuardedClient, guarded_client
from providers.twilio import TwilioConfig, TwilioProvider

from .fakes.twilio import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    SERVICE_SID,
    FakeTwilio,
)
from .samples import email, sms


def make(url: str, client: GuardedClient, **overrides: object) -> TwilioProvider:
    values: dict[str, object] = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from_number": "+15005550006",
        "base_url": url,
    }
    values.update(overrides)
    return TwilioProvider("sms", TwilioConfig(**values), http_client=client)  # type: ignore[arg-type]


async def test_send_form_encoded_with_callback(
    twilio_api: tuple[FakeTwilio, str], http_client: GuardedClient
) -> None:
    api, url = twilio_api
    provider = make(url, http_client, status_callback_url="https://hooks.example.com/twilio")
    result = await provider.send(sms())
    assert (result.status, result.provider_status) == ("queued", "queued")
    assert result.provider_message_id
    assert result.provider_message_id.startswith("SM")
    (request,) = api.requests
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["accept"] == "application/json"
    assert dict(request.form()) == {
        "To": "+14155552671",
        "Body": "Your code is WELCOME-42",
        "From": "+15005550006",
        "StatusCallback": "https://hooks.example.com/twilio",
    }


async def test_api_key_and_messaging_service(
    twilio_api: tuple[FakeTwilio, str], http_client: GuardedClient
) -> None:
    api, url = twilio_api
    provider = make(
        url,
        http_client,
        auth_token=None,
        api_key_sid=API_KEY_SID,
        api_key_secret=API_KEY_SECRET,
        from_number=None,
        messaging_service_sid=SERVICE_SID,
    )
    message = sms(status_callback_url="https://hooks.example.com/t?d=dlv_2")
    result = await provider.send(message)
    # Through a messaging service Twilio answers "accepted": no sender picked yet.
    assert (result.status, result.provider_status) == ("queued", "accepted")
    form = dict(api.requests[0].form())
    assert form["MessagingServiceSid"] == SERVICE_SID
    assert "From" not in form
    assert form["StatusCallback"] == "https://hooks.example.com/t?d=dlv_2"
    assert api.requests[0].basic_auth() == (API_KEY_SID, API_KEY_SECRET)
    await provider.check()


@pytest.mark.parametrize(
    ("to", "reason"), [("+15005550001", "invalid"), ("+15005550004", "unsubscribed")]
)
async def test_rejections_are_results(
    twilio_api: tuple[FakeTwilio, str], http_client: GuardedClient, to: str, reason: str
) -> None:
    result = await make(twilio_api[1], http_client).send(sms(to=to))
    assert result.status == "rejected"
    assert result.reason == reason
    assert result.reject_reason == reason


async def test_not_a_mobile_number_is_permanent(
    twilio_api: tuple[FakeTwilio, str], http_client: GuardedClient
) -> None:
    with pytest.raises(PermanentProviderError) as info:
        await make(twilio_api[1], http_client).send(sms(to="+15005550009"))
    assert info.value.code == 21614


async def test_bad_credentials_are_permanent_and_not_echoed(
    twilio_api: tuple[FakeTwilio, str], http_client: GuardedClient
) -> None:
    provider = make(twilio_api[1], http_client, auth_token="not-the-token-xyz")
    with pytest.raises(PermanentProviderError) as info:
        await provider.send(sms())
    assert (info.value.status_code, info.value.code) == (401, 20003)
    assert "not-the-token-xyz" not in str(info.value)
    with pytest.raises(PermanentProviderError):
        await provider.check()


async def test_throttling_is_transient_with_retry_after(
    twilio_api: tuple[FakeTwilio, str], http_client: GuardedClient
) -> None:
    api, url = twilio_api
    api.fail_next(
        status=429,
        body={"code": 20429, "message": "Too Many Requests", "status": 429},
        headers={"Retry-After": "7"},
    )
    provider = make(url, http_client)
    with pytest.raises(TransientProviderError) as info:
        await provider.send(sms())
    assert info.value.code == 20429
    assert info.value.retry_after == 7.0
    assert (await provider.send(sms())).status == "queued"


async def test_unknown_codes_go_by_http_class(
    twilio_api: tuple[FakeTwilio, str], http_client: GuardedClient
) -> None:
    api, url = twilio_api
    api.fail_next(status=503, body={"code": 20500, "message": "Internal", "status": 503})
    api.fail_next(status=400, body={"code": 21999, "message": "Something new", "status": 400})
    provider = make(url, http_client)
    with pytest.raises(TransientProviderError):
        await provider.send(sms())
    with pytest.raises(PermanentProviderError):
        await provider.send(sms())


async def test_body_over_1600_characters_is_refused_by_the_api(
    twilio_api: tuple[FakeTwilio, str], http_client: GuardedClient
) -> None:
    with pytest.raises(PermanentProviderError) as info:
        await make(twilio_api[1], http_client).send(sms(body="x" * 1601))
    assert info.value.code == 21617


async def test_timeout_is_transient(twilio_api: tuple[FakeTwilio, str]) -> None:
    api, url = twilio_api
    api.fail_next(status=201, delay=1.0)
    async with guarded_client(AddressGuard(allow_private=True), timeout=0.1) as client:
        with pytest.raises(TransientProviderError, match="timed out"):
            await make(url, client).send(sms())


async def test_email_is_refused(
    twilio_api: tuple[FakeTwilio, str], http_client: GuardedClient
) -> None:
    with pytest.raises(PermanentProviderError, match="channel"):
        await make(twilio_api[1], http_client).send(email())
    assert twilio_api[0].requests == []


def test_secrets_not_in_repr() -> None:
    config = TwilioConfig(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_key_sid=API_KEY_SID,
        api_key_secret=API_KEY_SECRET,
        from_number="+15005550006",
    )
    assert AUTH_TOKEN not in repr(config)
    assert API_KEY_SECRET not in repr(config)
