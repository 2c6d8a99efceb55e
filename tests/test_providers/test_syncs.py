"""The syncs against their fakes, and one contract over every sync kind."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import pytest

from providers.activecampaign import CONTACT_ID
from providers.errors import PermanentProviderError, ProviderConfigError, TransientProviderError
from providers.http_transport import GuardedClient
from providers.identity import Identity
from providers.mailchimp_audience import MailchimpAudienceConfig, subscriber_hash
from providers.message import ProfileUpdate
from providers.protocol import Sync
from providers.registry import PROVIDER_KINDS, build_sync

from .fakes import activecampaign, braze, mailchimp_marketing

UPDATE = ProfileUpdate(
    id="upd_1",
    email="Alice@Example.com",
    external_id="user-1",
    first_name="Alice",
    code="WELCOME-42",
    reward="10 EUR",
)


@dataclass
class SyncSetup:
    config: dict[str, Any]
    api: Any
    bad_auth: dict[str, Any]
    url: str = ""


def mailchimp_setup(request: pytest.FixtureRequest) -> SyncSetup:
    api, url = request.getfixturevalue("mailchimp_marketing_api")
    config = {
        "api_key": mailchimp_marketing.API_KEY,
        "list_id": mailchimp_marketing.LIST_ID,
        "merge_fields": {"RCODE": "code", "REWARD": "reward", "FNAME": "first_name"},
        "base_url": url,
    }
    return SyncSetup(config, api, {**config, "api_key": "wrong-key-000-us6"}, url)


def braze_setup(request: pytest.FixtureRequest) -> SyncSetup:
    api, url = request.getfixturevalue("braze_api")
    config = {
        "api_key": braze.API_KEY,
        "base_url": url,
        "attributes": {"referral_code": "code", "referral_reward": "reward"},
    }
    return SyncSetup(config, api, {**config, "api_key": "wrong-braze-key"}, url)


def activecampaign_setup(request: pytest.FixtureRequest) -> SyncSetup:
    api, url = request.getfixturevalue("activecampaign_api")
    config = {
        "api_token": activecampaign.API_TOKEN,
        "base_url": url,
        "fields": {"12": "code", "13": "reward"},
    }
    return SyncSetup(config, api, {**config, "api_token": "wrong-ac-token"}, url)


SETUPS: dict[str, Callable[[pytest.FixtureRequest], SyncSetup]] = {
    "mailchimp_audience": mailchimp_setup,
    "braze_attributes": braze_setup,
    "activecampaign": activecampaign_setup,
}


def test_every_sync_kind_has_a_setup() -> None:
    assert {k for k, s in PROVIDER_KINDS.items() if s.role == "sync"} == set(SETUPS)


@pytest.mark.parametrize("kind", list(SETUPS))
async def test_sync_contract(
    kind: str, request: pytest.FixtureRequest, http_client: GuardedClient
) -> None:
    setup = SETUPS[kind](request)
    sync = build_sync(kind, kind, setup.config, http_client=http_client)
    assert isinstance(sync, Sync)
    result = await sync.sync(UPDATE)
    assert result.status in ("sent", "queued")
    await sync.check()
    setup.api.fail_next(status=429, headers={"Retry-After": "4"})
    with pytest.raises(TransientProviderError) as info:
        await sync.sync(UPDATE)
    assert info.value.retry_after == 4.0
    bad = build_sync(kind, kind, setup.bad_auth, http_client=http_client)
    with pytest.raises(PermanentProviderError):
        await bad.sync(UPDATE)


async def test_mailchimp_member_gets_merge_fields(
    mailchimp_marketing_api: tuple[Any, str], http_client: GuardedClient
) -> None:
    api, _url = mailchimp_marketing_api
    sync = build_sync(
        "mc", "mailchimp_audience", mailchimp_setup_config(_url), http_client=http_client
    )
    result = await sync.sync(UPDATE)
    expected_hash = subscriber_hash("alice@example.com")
    assert result.provider_message_id == expected_hash
    assert api.members[expected_hash]["merge_fields"] == {
        "RCODE": "WELCOME-42",
        "REWARD": "10 EUR",
        "FNAME": "Alice",
    }
    assert api.requests[0].json()["status_if_new"] == "transactional"


def mailchimp_setup_config(url: str) -> dict[str, Any]:
    return {
        "api_key": mailchimp_marketing.API_KEY,
        "list_id": mailchimp_marketing.LIST_ID,
        "merge_fields": {"RCODE": "code", "REWARD": "reward", "FNAME": "first_name"},
        "base_url": url,
    }


def test_mailchimp_datacenter_from_key() -> None:
    config = MailchimpAudienceConfig(api_key="abc-us6", list_id="l", merge_fields={"RCODE": "code"})
    assert config.root == "https://us6.api.mailchimp.com"
    assert "abc-us6" not in repr(config)
    assert subscriber_hash("Urist.McVankab@freddiesjokes.com") == (
        "62eeb292278cc15f5817cb78f7790b08"
    )


async def test_braze_attributes_written(
    braze_api: tuple[Any, str], http_client: GuardedClient
) -> None:
    api, url = braze_api
    config = {"api_key": braze.API_KEY, "base_url": url, "attributes": {"referral_code": "code"}}
    await build_sync("b", "braze_attributes", config, http_client=http_client).sync(UPDATE)
    assert api.attributes["user-1"]["referral_code"] == "WELCOME-42"


async def test_braze_attributes_errors_are_kept(
    braze_api: tuple[Any, str], http_client: GuardedClient
) -> None:
    """/users/track answers 201 `success` with `errors`: one naming no object is kept on the
    written result; one naming the object by index refuses it (Braze skipped it)."""
    api, url = braze_api
    api.minor_errors.append("some attributes were ignored")
    config = {"api_key": braze.API_KEY, "base_url": url, "attributes": {"referral_code": "code"}}
    sync = build_sync("b", "braze_attributes", config, http_client=http_client)
    result = await sync.sync(UPDATE)
    assert result.status == "queued"
    assert result.errors == ("some attributes were ignored",)
    assert result.reason == f"braze reported errors: {result.errors[0]}"

    api.minor_errors[:] = [{"type": "invalid attribute", "input_array": "attributes", "index": 0}]
    refused = await sync.sync(UPDATE)
    assert (refused.status, refused.reject_reason) == ("rejected", "invalid")
    assert refused.reason == "braze refused the attributes: invalid attribute"


async def test_activecampaign_contact_and_field_values(
    activecampaign_api: tuple[Any, str], http_client: GuardedClient
) -> None:
    api, url = activecampaign_api
    config = {
        "api_token": activecampaign.API_TOKEN,
        "base_url": url,
        "fields": {"12": "code", "13": "reward"},
    }
    result = await build_sync("ac", "activecampaign", config, http_client=http_client).sync(UPDATE)
    contact_id = result.provider_message_id
    assert contact_id is not None
    assert api.values == {(contact_id, "12"): "WELCOME-42", (contact_id, "13"): "10 EUR"}
    assert api.contacts["Alice@Example.com"]["firstName"] == "Alice"


@pytest.mark.parametrize("kind", list(SETUPS))
async def test_the_requests_a_sync_shows_are_the_requests_it_sends(
    kind: str, request: pytest.FixtureRequest, http_client: GuardedClient
) -> None:
    """What a preview shows is what the platform receives (ActiveCampaign's contact id aside,
    known only once contact/sync answers)."""
    setup = SETUPS[kind](request)
    setup.api.reset()
    sync = build_sync(kind, kind, setup.config, http_client=http_client)
    shown = sync.requests(UPDATE)
    result = await sync.sync(UPDATE)
    sent = [(r.method, r.path, r.json()) for r in setup.api.requests]
    expected = [
        (
            r.method,
            r.path,
            json.loads(json.dumps(r.body).replace(CONTACT_ID, str(result.provider_message_id))),
        )
        for r in shown
    ]
    assert [(m, p.removeprefix(urlsplit(setup.url).path), b) for m, p, b in sent] == expected


def test_the_default_mappings_write_code_links_campaign_and_reward() -> None:
    update = ProfileUpdate("d", external_id="b-1", code="C", referral_link="L", qr_url="Q")
    update = replace(update, email="a@example.com", campaign="S", reward="R")
    braze_sync = build_sync(
        "b", "braze_attributes", {"api_key": "k", "base_url": "https://rest.example.com"}
    )
    [track] = braze_sync.requests(update)
    written = {"referral_code": "C", "referral_link": "L", "referral_qr_url": "Q"}
    written |= {"referral_campaign": "S", "referral_reward": "R"}
    assert track.body == {"attributes": [{"external_id": "b-1"} | written]}
    audience = build_sync("m", "mailchimp_audience", {"api_key": "k-us6", "list_id": "l"})
    [upsert] = audience.requests(update)
    tags = {"RCODE": "C", "RLINK": "L", "RQRURL": "Q", "RCAMPAIGN": "S", "RREWARD": "R"}
    assert upsert.body["merge_fields"] == tags


@pytest.mark.parametrize(
    ("kind", "config", "identity"),
    [
        ("braze_attributes", {"api_key": "k", "base_url": "https://b.example.com"}, "source_id"),
        ("mailchimp_audience", {"api_key": "k-us6", "list_id": "l"}, "email"),
        (
            "activecampaign",
            {"api_token": "t", "base_url": "https://a.example.com", "fields": {"1": "code"}},
            "email",
        ),
        (
            "braze",
            {
                "api_key": "k",
                "base_url": "https://b.example.com",
                "sms_app_id": "a",
                "sms_subscription_group_id": "g",
            },
            "source_id",
        ),
    ],
)
def test_each_platform_kind_declares_how_it_identifies_users(
    kind: str, config: dict[str, Any], identity: str
) -> None:
    spec = PROVIDER_KINDS[kind]
    found = spec.identity_of(config)
    assert found is not None
    assert found.setting == identity
    chosen = spec.identity_of(config | {"identity": "metadata.crm_id"})
    assert chosen is not None
    assert chosen.label == "metadata key 'crm_id'"
    with pytest.raises(ProviderConfigError) as info:
        spec.parse_config(config | {"identity": "phone"}, name="p")
    assert "identity" in str(info.value)


def test_kinds_that_address_no_users_declare_no_identity() -> None:
    assert PROVIDER_KINDS["smtp"].identity_of({}) is None
    assert PROVIDER_KINDS["twilio"].identity_of({}) is None


def test_an_identity_picks_one_customer_value() -> None:
    def value(setting: str) -> str | None:
        metadata = {"crm": 42, "flag": True}
        return Identity(setting).value_of(source_id="s-1", email="a@b.co", metadata=metadata)

    assert (value("source_id"), value("email"), value("metadata.crm")) == ("s-1", "a@b.co", "42")
    # Not a usable id: a boolean, an absent key, blank text.
    assert value("metadata.flag") is None
    assert value("metadata.nope") is None
    assert Identity("source_id").value_of(source_id="  ", email=None, metadata={}) is None
    for bad in ("phone", "metadata.", "id"):
        with pytest.raises(ValueError, match="identity"):
            Identity(bad)
