"""What the syncs ask of their platforms for customer sync writes: the calls ``requests``
previews (``sync`` sends the same ones; the web tests send them to the strict fakes)."""

from __future__ import annotations

import pytest

from providers import ProfileUpdate
from providers.activecampaign import ActiveCampaignConfig, ActiveCampaignSync
from providers.braze_attributes import BrazeAttributesConfig, BrazeAttributesSync
from providers.mailchimp_audience import (
    MailchimpAudienceConfig,
    MailchimpAudienceSync,
    subscriber_hash,
)

BRAZE = BrazeAttributesSync(
    "b", BrazeAttributesConfig(api_key="k", base_url="https://rest.iad-01.braze.com")
)
MAILCHIMP = MailchimpAudienceSync("m", MailchimpAudienceConfig(api_key="k-us6", list_id="L1"))
ACTIVECAMPAIGN = ActiveCampaignSync(
    "a",
    ActiveCampaignConfig(
        api_token="t", base_url="https://x.api-us1.com", fields={"12": "code"}, list_id="3"
    ),
)


def test_an_update_never_subscribes_anyone() -> None:
    with pytest.raises(ValueError, match="never subscribes"):
        ProfileUpdate(id="1", email="a@example.com", subscribed=True)  # type: ignore[arg-type]


def test_a_code_write_is_unchanged_by_customer_sync() -> None:
    update = ProfileUpdate(id="1", external_id="u1", first_name="Ada", code="C1")
    [track] = BRAZE.requests(update)
    assert track.body == {"attributes": [{"external_id": "u1", "referral_code": "C1"}]}


def test_a_contact_write_with_an_opt_out() -> None:
    update = ProfileUpdate(
        id="1",
        external_id="u1",
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        contact=True,
        subscribed=False,
    )
    [track] = BRAZE.requests(update)
    assert track.body == {
        "attributes": [
            {
                "external_id": "u1",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "email": "ada@example.com",
                "email_subscribe": "unsubscribed",
            }
        ]
    }
    [member] = MAILCHIMP.requests(update)
    assert member.method == "PUT"
    assert member.body == {
        "email_address": "ada@example.com",
        "status_if_new": "unsubscribed",
        "status": "unsubscribed",
        "merge_fields": {"FNAME": "Ada", "LNAME": "Lovelace"},
    }
    *_, opt_out = ACTIVECAMPAIGN.requests(update)
    assert opt_out.path == "/api/3/contactLists"
    assert opt_out.body == {
        "contactList": {"list": "3", "contact": "{contact.id from contact/sync}", "status": "2"}
    }


@pytest.mark.parametrize(
    ("sync", "calls"),
    [
        (BRAZE, [("POST", "/users/delete", {"external_ids": ["u1"]})]),
        (
            MAILCHIMP,
            [
                (
                    "POST",
                    f"/3.0/lists/L1/members/{subscriber_hash('ada@example.com')}"
                    "/actions/delete-permanent",
                    {},
                )
            ],
        ),
        (
            ACTIVECAMPAIGN,
            [
                ("GET", "/api/3/contacts", {"email": "ada@example.com"}),
                ("DELETE", "/api/3/contacts/{contacts[].id from the lookup by email}", {}),
            ],
        ),
    ],
)
def test_an_erasure_deletes_and_writes_nothing_else(
    sync: BrazeAttributesSync | MailchimpAudienceSync | ActiveCampaignSync,
    calls: list[tuple[str, str, dict[str, object]]],
) -> None:
    update = ProfileUpdate(id="1", external_id="u1", email="ada@example.com", erase=True)
    assert [(r.method, r.path, dict(r.body)) for r in sync.requests(update)] == calls
