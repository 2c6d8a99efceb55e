"""Integration channels over HTTP: distributions and bulk sends writing codes onto profiles in
Braze, Mailchimp and ActiveCampaign (their strict local fakes), identified by the brand's ids."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from providers.mailchimp_audience import subscriber_hash
from tests.service_process import wait_until
from tests.test_distribution.webhook_receiver import Receiver
from tests.test_providers.fakes import activecampaign, braze, mailchimp_marketing
from tests.test_providers.fakes.activecampaign import FakeActiveCampaign
from tests.test_providers.fakes.asgi import FakeApi
from tests.test_providers.fakes.braze import FakeBraze
from tests.test_providers.fakes.mailchimp_marketing import FakeMailchimpMarketing
from tests.test_providers.fakes.server import serve
from tests.test_web.api_templates import published_template
from tests.test_web.bulk_invite import FINAL, bulk_send

Client = TestClient[Litestar]
CODE = {"code": "ANA-7K2Q", "referral_link": "https://shop.example.com/r/ANA-7K2Q"}
CAMPAIGN = {"id": "camp_spring", "name": "Spring referral"}
REWARD = {"type": "credit", "amount": 1500, "currency": "EUR", "description": "Store credit"}


Fake = TypeVar("Fake", bound=FakeApi)
App = TypeVar("App")


def _served(make: Callable[[], App]) -> Any:
    """A module fixture serving the app ``make`` builds: the app and its base URL."""

    @pytest.fixture(scope="module")
    def served() -> Iterator[tuple[App, str]]:
        app = make()
        with serve(app) as url:
            yield app, url

    return served


receiver = _served(Receiver)
braze_api = _served(FakeBraze)
mailchimp_api = _served(FakeMailchimpMarketing)
activecampaign_api = _served(FakeActiveCampaign)


def _ok(answer: Any) -> Any:
    assert answer.status_code in (200, 201, 202), answer.text
    return answer.json()


#: Each kind's credentials at its fake (and ActiveCampaign's field ids, which have no default).
CREDENTIALS: dict[str, dict[str, Any]] = {
    "braze_attributes": {"api_key": braze.API_KEY},
    "mailchimp_audience": {
        "api_key": mailchimp_marketing.API_KEY,
        "list_id": mailchimp_marketing.LIST_ID,
    },
    "activecampaign": {
        "api_token": activecampaign.API_TOKEN,
        "fields": {"12": "code", "13": "reward"},
    },
}
ASSIGNED = ("code.assigned",)
BOTH = ("code.assigned", "redemption.succeeded")


def _connected(
    client: Client,
    served: tuple[Fake, str],
    name: str,
    kind: str,
    triggers: tuple[str, ...],
    config: dict[str, Any] | None = None,
) -> Fake:
    """The fake, emptied, behind a provider ``name`` of ``kind`` (with ``config`` over its
    credentials), and a profile distribution through it on each of ``triggers``."""
    api, url = served
    api.reset()
    settings = CREDENTIALS[kind] | {"base_url": url} | (config or {})
    _ok(client.post("/v1/providers", json={"name": name, "kind": kind, "config": settings}))
    for trigger in triggers:
        _distribution(client, trigger, name)
    return api


def _distribution(client: Client, trigger: str, provider: str) -> str:
    channels = [{"channel": "profile", "provider": provider}]
    body = {"name": f"{trigger} to {provider}", "trigger": trigger, "channels": channels}
    distribution: str = _ok(client.post("/v1/distributions", json=body))["id"]
    return distribution


def _event(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    """Post the event; its one delivery once it is settled."""
    [delivery] = _ok(client.post("/v1/events", json=body))["deliveries"]
    path = f"/v1/messages/{delivery['id']}"
    wait_until(
        lambda: client.get(path).json()["status"] not in ("queued", "sending"),
        lambda: f"the profile write never settled: {client.get(path).json()}",
        limit=60,
    )
    message: dict[str, Any] = client.get(path).json()
    return message


def _code_assigned(customer: dict[str, Any]) -> dict[str, Any]:
    return {"type": "code.assigned", "customer": customer, "code": CODE, "campaign": CAMPAIGN}


def _tracked(api: FakeBraze) -> list[Any]:
    return [r.json() for r in api.requests if r.path == "/users/track"]


def test_braze_attributes_get_the_code_and_the_reward_by_the_brands_own_id(
    client: Client, braze_api: tuple[FakeBraze, str], receiver: tuple[Receiver, str]
) -> None:
    api = _connected(client, braze_api, "braze-attrs", "braze_attributes", BOTH)
    hooks, base = receiver
    path = f"/hooks/{time.monotonic_ns()}"
    hook = _ok(client.post("/v1/webhooks", json={"url": base + path, "event_types": ["*"]}))
    hooks.secrets[path] = hook["secret"]
    customer = {"source_id": "brand-42", "email": "ada@example.com"}

    assigned = _event(client, _code_assigned(customer))
    rewarded = _event(
        client,
        {"type": "redemption.succeeded", "customer": {"source_id": "brand-42"}, "reward": REWARD},
    )

    # The row keeps what the mapping writes: not the customer's email, which it does not map.
    assert set(assigned["content"]["profile"]) == {
        "external_id",
        "code",
        "referral_link",
        "qr_url",
        "campaign",
    }
    for message in (assigned, rewarded):
        assert (message["channel"], message["status"]) == ("profile", "sent")
        assert message["recipient"] == "brand-42"
        assert message["template_id"] is None
    [code_write, reward_write] = _tracked(api)
    [item] = code_write["attributes"]
    assert item.pop("referral_qr_url").endswith("/links/qr/ANA-7K2Q.png")
    assert item == {
        "external_id": "brand-42",
        "referral_code": "ANA-7K2Q",
        "referral_link": "https://shop.example.com/r/ANA-7K2Q",
        "referral_campaign": "Spring referral",
    }
    assert reward_write == {
        "attributes": [{"external_id": "brand-42", "referral_reward": "Store credit"}]
    }
    # Our own customer id never reaches Braze, which would take it and reach nobody.
    assert set(api.attributes) == {"brand-42"}
    listed = client.get("/v1/messages").json()["messages"]
    assert {(m["channel"], m["status"], m["recipient"]) for m in listed} == {
        ("profile", "sent", "brand-42")
    }
    # Our webhooks tell of each write as of any message.
    wait_until(
        lambda: len([r for r in hooks.received if r.path == path]) >= 4,
        "the message webhooks never came",
        limit=30,
    )
    told = {(r.event["type"], r.event["data"]["channel"]) for r in hooks.received if r.path == path}
    assert told == {("message.queued", "profile"), ("message.sent", "profile")}


def test_a_recipient_without_the_identity_is_refused_with_the_reason(
    client: Client, braze_api: tuple[FakeBraze, str]
) -> None:
    by_crm = {"identity": "metadata.crm_id"}
    api = _connected(client, braze_api, "braze-crm", "braze_attributes", ASSIGNED, by_crm)

    known = _event(client, _code_assigned({"source_id": "s-1", "metadata": {"crm_id": "CRM-9"}}))
    unknown = _event(client, _code_assigned({"source_id": "s-2"}))

    assert (known["status"], known["recipient"]) == ("sent", "CRM-9")
    assert unknown["status"] == "failed"
    assert unknown["last_error"] == (
        "the customer has no metadata key 'crm_id' (provider 'braze-crm' identifies users by it)"
    )
    assert [t["attributes"][0]["external_id"] for t in _tracked(api)] == ["CRM-9"]


def test_mailchimp_merge_fields_by_the_members_email(
    client: Client, mailchimp_api: tuple[FakeMailchimpMarketing, str]
) -> None:
    api = _connected(client, mailchimp_api, "audience", "mailchimp_audience", ASSIGNED)

    written = _event(client, _code_assigned({"source_id": "m-1", "email": "Ada@Example.com"}))
    refused = _event(client, _code_assigned({"source_id": "m-2", "phone": "+15005550010"}))

    assert (written["status"], written["recipient"]) == ("sent", "Ada@example.com")
    member = api.members[subscriber_hash("ada@example.com")]
    assert member["merge_fields"].pop("RQRURL").endswith("/links/qr/ANA-7K2Q.png")
    assert member["merge_fields"] == {
        "RCODE": "ANA-7K2Q",
        "RLINK": "https://shop.example.com/r/ANA-7K2Q",
        "RCAMPAIGN": "Spring referral",
    }
    assert refused["status"] == "failed"
    assert refused["last_error"] == (
        "the customer has no email address (provider 'audience' identifies users by it)"
    )
    assert len(api.requests) == 1


def test_activecampaign_fields_by_the_contacts_email(
    client: Client, activecampaign_api: tuple[FakeActiveCampaign, str]
) -> None:
    api = _connected(client, activecampaign_api, "crm", "activecampaign", BOTH)

    customer = {"source_id": "a-1", "email": "ada@example.com"}
    assert _event(client, _code_assigned(customer))["status"] == "sent"
    rewarded = {"type": "redemption.succeeded", "customer": customer, "reward": REWARD}
    assert _event(client, rewarded)["status"] == "sent"

    contact = api.contacts["ada@example.com"]["id"]
    assert api.values == {(contact, "12"): "ANA-7K2Q", (contact, "13"): "Store credit"}


def test_the_platform_answering_429_is_retried_after_its_retry_after(
    client: Client, braze_api: tuple[FakeBraze, str]
) -> None:
    api = _connected(client, braze_api, "braze-busy", "braze_attributes", ASSIGNED)
    api.fail_next(status=429, body={"message": "rate limited"}, headers={"Retry-After": "1"})

    message = _event(client, _code_assigned({"source_id": "busy-1"}))

    assert (message["status"], message["attempts"]) == ("sent", 2)
    statuses = [change["status"] for change in message["history"]]
    assert statuses == ["queued", "queued", "sent"], message["history"]
    assert set(api.attributes) == {"busy-1"}


def test_a_channel_and_its_provider_must_fit(
    client: Client, braze_api: tuple[FakeBraze, str]
) -> None:
    _connected(client, braze_api, "attrs", "braze_attributes", ())
    cases = [
        ({"channel": "email", "template": "tmpl_x", "provider": "attrs"}, "provider"),
        ({"channel": "profile", "provider": "capture"}, "provider"),
        ({"channel": "profile", "template": "tmpl_x", "provider": "attrs"}, "template"),
    ]
    for channel, field in cases:
        body = {"name": "wrong", "trigger": "code.assigned", "channels": [channel]}
        answer = client.post("/v1/distributions", json=body)
        assert answer.status_code in (400, 422), answer.text
        fields = [error["field"] for error in answer.json().get("errors", [])]
        assert fields == [f"channels[0].{field}"], answer.text


def test_the_distribution_preview_shows_the_request_and_writes_nothing(
    client: Client, braze_api: tuple[FakeBraze, str]
) -> None:
    by_crm = {"identity": "metadata.crm_id"}
    api = _connected(client, braze_api, "braze-view", "braze_attributes", (), by_crm)
    distribution = _distribution(client, "code.assigned", "braze-view")
    _ok(client.post("/v1/customers", json={"source_id": "v-1", "metadata": {"crm_id": "CRM-1"}}))
    _ok(client.post("/v1/customers", json={"source_id": "v-2"}))
    path = f"/v1/distributions/{distribution}/preview"

    answer = _ok(client.post(path, json={"customer": {"source_id": "v-1"}, "code": CODE}))
    missing = _ok(client.post(path, json={"customer": {"source_id": "v-2"}, "code": CODE}))

    [row] = answer["deliveries"]
    assert (row["channel"], row["status"], row["recipient"]) == ("profile", "queued", "CRM-1")
    [track] = row["requests"]
    assert (track["method"], track["path"]) == ("POST", "/users/track")
    [item] = track["body"]["attributes"]
    assert (item["external_id"], item["referral_code"]) == ("CRM-1", "ANA-7K2Q")
    [refusal] = missing["deliveries"]
    assert (refusal["status"], refusal["requests"]) == ("failed", None)
    assert refusal["reason"].startswith("the customer has no metadata key 'crm_id'")
    assert api.requests == []
    assert client.get("/v1/messages").json()["messages"] == []


def _bulk_invite(client: Client, provider: str) -> dict[str, Any]:
    """A campaign with codes for three customers with an email address and one without: the
    body of a bulk send of it through ``provider``'s profile channel."""
    campaign = _ok(client.post("/v1/campaigns", json={"name": "Invite"}))["id"]
    pool = _ok(client.post("/v1/code-pools", json={"campaign": campaign, "name": "p"}))["id"]
    _ok(client.post(f"/v1/code-pools/{pool}/codes/generate", json={"count": 5, "length": 10}))
    for i in range(3):
        _ok(client.post("/v1/customers", json={"source_id": f"b{i}", "email": f"b{i}@example.com"}))
    _ok(client.post("/v1/customers", json={"source_id": "no-mail", "phone": "+15005550011"}))
    return {
        "campaign": campaign,
        "audience": {"customers": ["b0", "b1", "b2", "no-mail"]},
        "channels": [{"channel": "profile", "provider": provider}],
        "send_delay_seconds": 0,
    }


def test_a_bulk_dry_run_checks_the_audience_and_the_mapping(
    client: Client, mailchimp_api: tuple[FakeMailchimpMarketing, str]
) -> None:
    wrong = {"list_id": "no-such-list", "merge_fields": {"RREWARD": "reward"}}
    _connected(client, mailchimp_api, "elsewhere", "mailchimp_audience", (), wrong)

    dry = _ok(client.post("/v1/bulk-sends/preflight", json=_bulk_invite(client, "elsewhere")))

    assert dry["ok"] is False
    [check] = [c["provider_check"] for c in dry["channels"]]
    assert check["ok"] is False
    assert "404" in check["detail"]
    assert dry["problems"] == [
        "provider 'elsewhere' maps none of code, qr_url, referral_link: "
        "the profiles would not get the code",
        f"provider 'elsewhere': {check['detail']}",
    ]


def test_a_bulk_send_writes_each_recipients_own_code_once(
    client: Client, mailchimp_api: tuple[FakeMailchimpMarketing, str]
) -> None:
    api = _connected(client, mailchimp_api, "list", "mailchimp_audience", ())
    body = _bulk_invite(client, "list")

    dry = _ok(client.post("/v1/bulk-sends/preflight", json=body))
    [report] = dry["channels"]
    assert (report["sendable"], report["no_identity"]) == (3, 1)
    assert report["provider_check"]["ok"] is True
    assert (dry["ok"], dry["problems"]) == (True, [])
    api.requests.clear()  # the check's GET of the audience
    sample = dry["samples"][0]
    [upsert] = sample["requests"]
    assert upsert["method"] == "PUT"
    assert upsert["path"] == (
        f"/3.0/lists/{mailchimp_marketing.LIST_ID}/members/{subscriber_hash('b0@example.com')}"
    )
    assert upsert["body"]["merge_fields"]["RCODE"] == "PREFLIGHT-CODE"
    assert api.requests == []

    job = _ok(client.post("/v1/bulk-sends", json=body))["id"]
    wait_until(lambda: bulk_send(client, job)["status"] in FINAL, "the bulk send never finished")

    assert bulk_send(client, job)["progress"]["messages"] == {"sent": 3, "failed": 1}
    written = {m["email_address"]: m["merge_fields"]["RCODE"] for m in api.members.values()}
    assert set(written) == {"b0@example.com", "b1@example.com", "b2@example.com"}
    assert len(set(written.values())) == 3
    assert len(api.requests) == 3


def test_erasing_a_customer_cancels_their_pending_profile_writes(
    client: Client, braze_api: tuple[FakeBraze, str]
) -> None:
    api = _connected(client, braze_api, "braze-late", "braze_attributes", ())
    channels = [{"channel": "profile", "provider": "braze-late"}]
    # Quiet hours around now (UTC, the customer's zone): the write waits, queued.
    now = datetime.now(UTC)
    quiet = {
        "start": (now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=1)).strftime("%H:%M"),
    }
    body = {"name": "late", "trigger": "code.assigned", "channels": channels, "quiet_hours": quiet}
    _ok(client.post("/v1/distributions", json=body))
    event = _ok(client.post("/v1/events", json=_code_assigned({"source_id": "gone-1"})))
    [delivery] = event["deliveries"]
    path = f"/v1/messages/{delivery['id']}"
    queued = client.get(path).json()
    assert queued["status"] == "queued"
    assert queued["content"]["profile"]["external_id"] == "gone-1"

    erased = client.delete(f"/v1/customers/{event['customer']['id']}")
    assert erased.status_code in (200, 204), erased.text

    message = client.get(path).json()
    assert (message["status"], message["recipient"]) == ("cancelled", None)
    assert message["last_error"] == "the customer was erased"
    assert not message["content"]
    assert api.requests == []


def test_a_profile_write_is_data_not_a_message(
    client: Client, braze_api: tuple[FakeBraze, str]
) -> None:
    """An email unsubscribe does not block the write, and the write does not use up the
    frequency cap of the message that goes with it."""
    api = _connected(client, braze_api, "braze-data", "braze_attributes", ())
    source = {
        "body_format": "html",
        "subject": "Your code",
        "body": '<p>{{ code.code }}</p><a href="{{ links.unsubscribe_url }}">Unsubscribe</a>',
    }
    template = published_template(client, source, "marketing")
    channels = [
        {"channel": "profile", "provider": "braze-data"},
        {"channel": "email", "template": template, "provider": "capture"},
    ]
    body = {"name": "both", "trigger": "code.assigned", "channels": channels}
    _ok(client.post("/v1/distributions", json={**body, "frequency_cap_hours": 24}))
    reader = {"source_id": "d-1", "email": "d1@example.com"}
    opted_out = _ok(
        client.post("/v1/customers", json={"source_id": "d-2", "email": "d2@example.com"})
    )
    consent = {"channel": "email", "status": "unsubscribed"}
    _ok(client.post(f"/v1/customers/{opted_out['id']}/consents", json=consent))

    first = _ok(client.post("/v1/events", json=_code_assigned(reader)))["deliveries"]
    second = _ok(client.post("/v1/events", json=_code_assigned({"source_id": "d-2"})))["deliveries"]

    assert [(d["channel"], d["status"]) for d in first] == [
        ("profile", "queued"),
        ("email", "queued"),
    ]
    assert [(d["channel"], d["status"]) for d in second] == [
        ("profile", "queued"),
        ("email", "suppressed"),
    ]
    wait_until(lambda: len(api.attributes) == 2, "the profile writes never arrived", limit=30)
    assert set(api.attributes) == {"d-1", "d-2"}


def test_braze_messages_go_to_the_user_the_identity_names(
    client: Client, braze_api: tuple[FakeBraze, str]
) -> None:
    """The Braze sender is identified the same way: never by our customer id."""
    api, url = braze_api
    api.reset()
    config = {"email_app_id": "app-email", "from_email": "rewards@example.com"}
    for name, identity in (("braze_mail", "source_id"), ("braze_crm_mail", "metadata.crm_id")):
        settings = CREDENTIALS["braze_attributes"] | config | {"base_url": url}
        provider = {"name": name, "kind": "braze", "config": settings | {"identity": identity}}
        _ok(client.post("/v1/providers", json=provider))
        template = published_template(
            client, {"body_format": "html", "subject": "Hi", "body": "<p>Hi</p>"}
        )
        channels = [{"channel": "email", "template": template, "provider": name}]
        body = {"name": name, "trigger": f"{name}.due", "channels": channels}
        _ok(client.post("/v1/distributions", json=body))
    customer = {"source_id": "brand-7", "email": "b7@example.com"}

    sent = _event(client, {"type": "braze_mail.due", "customer": customer})
    refused = _event(client, {"type": "braze_crm_mail.due", "customer": customer})

    assert sent["status"] == "sent"
    [call] = [r.json() for r in api.requests if r.path == "/messages/send"]
    assert call["external_user_ids"] == ["brand-7"]
    assert refused["status"] == "failed"
    assert refused["last_error"] == (
        "the customer has no metadata key 'crm_id' "
        "(provider 'braze_crm_mail' identifies users by it)"
    )
