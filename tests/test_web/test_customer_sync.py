"""Customer sync over HTTP: customers' own changes, opt-outs and erasures written onto their
profiles in Braze, Mailchimp and ActiveCampaign (strict local fakes), one coalesced write per
customer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import update
from sqlmodel import col, select

from distribution.models import Delivery, Suppression, utcnow
from distribution.storage.db import Database
from providers.mailchimp_audience import subscriber_hash
from tests.conftest import ProjectCredentials
from tests.service_process import wait_until
from tests.test_providers.fakes import activecampaign, braze, mailchimp_marketing
from tests.test_providers.fakes.activecampaign import FakeActiveCampaign
from tests.test_providers.fakes.asgi import FakeApi
from tests.test_providers.fakes.braze import FakeBraze
from tests.test_providers.fakes.mailchimp_marketing import FakeMailchimpMarketing
from tests.test_providers.fakes.server import serve

Client = TestClient[Litestar]
Fake = TypeVar("Fake", bound=FakeApi)
#: A delay no test waits out: rows stay queued until the test makes them due.
HELD = 3600


@pytest.fixture(scope="module")
def braze_api() -> Iterator[tuple[FakeBraze, str]]:
    api = FakeBraze()
    with serve(api) as url:
        yield api, url


@pytest.fixture(scope="module")
def mailchimp_api() -> Iterator[tuple[FakeMailchimpMarketing, str]]:
    api = FakeMailchimpMarketing()
    with serve(api) as url:
        yield api, url


@pytest.fixture(scope="module")
def activecampaign_api() -> Iterator[tuple[FakeActiveCampaign, str]]:
    api = FakeActiveCampaign()
    with serve(api) as url:
        yield api, url


CREDENTIALS: dict[str, dict[str, Any]] = {
    "braze_attributes": {"api_key": braze.API_KEY},
    "mailchimp_audience": {
        "api_key": mailchimp_marketing.API_KEY,
        "list_id": mailchimp_marketing.LIST_ID,
    },
    "activecampaign": {
        "api_token": activecampaign.API_TOKEN,
        "fields": {"12": "code"},
        "list_id": "3",
    },
}


def _ok(answer: Any) -> Any:
    assert answer.status_code in (200, 201, 202, 204), answer.text
    return answer.json() if answer.content else None


def _synced(
    client: Client, served: tuple[Fake, str], name: str, kind: str, delay: float = HELD
) -> Fake:
    """The fake, emptied, behind provider ``name`` of ``kind`` with customer sync on."""
    api, url = served
    api.reset()
    config = CREDENTIALS[kind] | {
        "base_url": url,
        "customer_sync": True,
        "customer_sync_delay": delay,
    }
    _ok(client.post("/v1/providers", json={"name": name, "kind": kind, "config": config}))
    return api


def _rows(database: Database, provider: str) -> list[Delivery]:
    with database.session() as session:
        return list(
            session.exec(
                select(Delivery).where(Delivery.provider == provider).order_by(col(Delivery.id))
            )
        )


def _make_due(database: Database, provider: str) -> None:
    """The clock moves past the coalescing delay: the provider's queued rows are due now."""
    with database.session() as session:
        session.connection().execute(
            update(Delivery)
            .where(col(Delivery.provider) == provider, col(Delivery.status) == "queued")
            .values(next_attempt_at=utcnow())
        )
        session.commit()


def _settled(client: Client, database: Database, provider: str, count: int) -> list[Any]:
    """Wait until ``count`` rows of the provider are past sending; their messages (API)."""

    def state() -> str:
        return f"never settled: {[(r.status, r.last_error) for r in _rows(database, provider)]}"

    def settled() -> bool:
        return sum(r.status in ("sent", "failed") for r in _rows(database, provider)) >= count

    wait_until(settled, state, limit=60)
    return [client.get(f"/v1/messages/{r.id}").json() for r in _rows(database, provider)]


def test_the_setting_is_in_each_sync_kinds_config_schema(client: Client) -> None:
    kinds = {k["kind"]: k for k in _ok(client.get("/v1/providers/kinds"))}
    for kind in CREDENTIALS:
        properties = kinds[kind]["config_schema"]["properties"]
        assert properties["customer_sync"]["default"] is False
        assert "Customer sync" in properties["customer_sync"]["description"]
        assert properties["customer_sync_delay"]["minimum"] == 0


def test_ten_updates_in_a_row_make_one_write(
    client: Client, app_database: Database, braze_api: tuple[FakeBraze, str]
) -> None:
    api = _synced(client, braze_api, "braze-sync", "braze_attributes")
    customer = _ok(
        client.post(
            "/v1/customers",
            json={"source_id": "cs-1", "name": "Ada Byron", "email": "ada@example.com"},
        )
    )
    for n in range(9):
        _ok(client.put(f"/v1/customers/{customer['id']}", json={"name": f"Ada Lovelace{n}"}))

    [row] = _rows(app_database, "braze-sync")
    assert (row.status, row.recipient, row.customer_id) == ("queued", "cs-1", customer["id"])
    message = client.get(f"/v1/messages/{row.id}").json()
    assert message["content"]["source"] == "customer_sync"
    assert message["content"]["profile"]["last_name"] == "Lovelace8"
    assert api.requests == []

    _make_due(app_database, "braze-sync")
    [sent] = _settled(client, app_database, "braze-sync", 1)

    assert sent["status"] == "sent"
    [track] = [r.json() for r in api.requests]
    assert track == {
        "attributes": [
            {
                "external_id": "cs-1",
                "first_name": "Ada",
                "last_name": "Lovelace8",
                "email": "ada@example.com",
            }
        ]
    }


def test_an_import_writes_each_customer_once(
    client: Client, app_database: Database, mailchimp_api: tuple[FakeMailchimpMarketing, str]
) -> None:
    api = _synced(client, mailchimp_api, "audience-sync", "mailchimp_audience")
    people = [{"source_id": f"imp-{i}", "email": f"imp{i}@example.com"} for i in range(5)]
    headers = {"content-type": "application/json"}
    first = client.post("/v1/customers/import", content=json.dumps(people), headers=headers)
    assert _ok(first)["created"] == 5
    named = [p | {"name": f"Person {i}"} for i, p in enumerate(people)]
    again = client.post("/v1/customers/import", content=json.dumps(named), headers=headers)
    assert _ok(again)["updated"] == 5

    rows = _rows(app_database, "audience-sync")
    assert len(rows) == 5
    _make_due(app_database, "audience-sync")
    _settled(client, app_database, "audience-sync", 5)

    # One write per customer: PUTs of their own, or operations of a /3.0/batches call.
    puts = [r.path for r in api.requests if r.method == "PUT"]
    for batch in (r for r in api.requests if r.path == "/3.0/batches" and r.method == "POST"):
        puts += ["/3.0" + op["path"] for op in batch.json()["operations"]]
    members = f"/3.0/lists/{mailchimp_marketing.LIST_ID}/members/"
    assert sorted(puts) == sorted(members + member for member in api.members)
    names = {m["email_address"]: m["merge_fields"] for m in api.members.values()}
    assert names == {f"imp{i}@example.com": {"FNAME": "Person", "LNAME": str(i)} for i in range(5)}


def test_an_opt_out_reaches_the_platform_and_an_opt_in_never_does(
    client: Client, app_database: Database, mailchimp_api: tuple[FakeMailchimpMarketing, str]
) -> None:
    api = _synced(client, mailchimp_api, "audience-consent", "mailchimp_audience")
    customer = _ok(
        client.post("/v1/customers", json={"source_id": "oo-1", "email": "oo1@example.com"})
    )
    consents = f"/v1/customers/{customer['id']}/consents"
    _ok(client.post(consents, json={"channel": "email", "status": "unsubscribed"}))

    [row] = _rows(app_database, "audience-consent")
    assert row.content["profile"]["subscribed"] is False
    _make_due(app_database, "audience-consent")
    _settled(client, app_database, "audience-consent", 1)
    [put] = [r.json() for r in api.requests]
    assert (put["status"], put["status_if_new"]) == ("unsubscribed", "unsubscribed")
    assert api.members[subscriber_hash("oo1@example.com")]["status"] == "unsubscribed"

    # They opt in again here: the platform's next write carries no status at all.
    _ok(client.post(consents, json={"channel": "email", "status": "subscribed"}))
    _make_due(app_database, "audience-consent")
    _settled(client, app_database, "audience-consent", 2)
    latest = api.requests[-1].json()
    assert "status" not in latest
    assert latest["status_if_new"] == "transactional"
    assert api.members[subscriber_hash("oo1@example.com")]["status"] == "unsubscribed"


def test_activecampaign_opt_out_unsubscribes_the_contact_from_the_list(
    client: Client, app_database: Database, activecampaign_api: tuple[FakeActiveCampaign, str]
) -> None:
    api = _synced(client, activecampaign_api, "crm-consent", "activecampaign", delay=0)
    customer = _ok(
        client.post(
            "/v1/customers",
            json={"source_id": "ac-1", "email": "ac1@example.com", "name": "Grace Hopper"},
        )
    )
    _settled(client, app_database, "crm-consent", 1)
    contact = api.contacts["ac1@example.com"]
    assert (contact["firstName"], contact["lastName"]) == ("Grace", "Hopper")
    # A change the platform gets nothing of (the address) makes no write.
    _ok(client.put(f"/v1/customers/{customer['id']}", json={"address": {"city": "Arlington"}}))
    assert len(_rows(app_database, "crm-consent")) == 1

    consent = {"channel": "email", "status": "unsubscribed"}
    _ok(client.post(f"/v1/customers/{customer['id']}/consents", json=consent))
    _settled(client, app_database, "crm-consent", 2)
    assert api.list_status == {("3", contact["id"]): "2"}


@pytest.mark.parametrize(
    ("kind", "fake"),
    [
        ("braze_attributes", "braze_api"),
        ("mailchimp_audience", "mailchimp_api"),
        ("activecampaign", "activecampaign_api"),
    ],
)
def test_erasing_a_customer_deletes_them_on_the_platform_and_forgets_them_here(
    client: Client, app_database: Database, kind: str, fake: str, request: pytest.FixtureRequest
) -> None:
    name = f"erase-{kind}"
    api = _synced(client, request.getfixturevalue(fake), name, kind, delay=0)
    customer = _ok(
        client.post(
            "/v1/customers",
            json={"source_id": "er-1", "email": "er1@example.com", "name": "Eve Erased"},
        )
    )
    _settled(client, app_database, name, 1)

    _ok(client.delete(f"/v1/customers/{customer['id']}"))
    messages = _settled(client, app_database, name, 2)

    erased = messages[-1]
    assert erased["status"] == "sent", erased
    assert erased["recipient"] is None
    assert erased["content"] == {"source": "customer_sync", "erase": True}
    shown = json.dumps(messages)  # the earlier write too
    assert subscriber_hash("er1@example.com") not in shown
    for personal in ("er1@example.com", '"er-1"', "Eve", "Erased"):
        assert personal not in shown
    if isinstance(api, FakeBraze):
        assert api.deleted == ["er-1"]
    elif isinstance(api, FakeMailchimpMarketing):
        assert api.deleted == [subscriber_hash("er1@example.com")]
    else:
        assert api.deleted == ["er1@example.com"]


WEBHOOK_SECRET = "paste-me-into-the-platform-0123"


def _suppressed(database: Database, project_id: str) -> set[tuple[str, str | None, str]]:
    with database.session() as session:
        rows = session.exec(select(Suppression).where(Suppression.project_id == project_id))
        return {(s.address, s.customer_id, s.reason) for s in rows}


@pytest.mark.parametrize(
    ("kind", "fake", "form"),
    [
        (
            "mailchimp_audience",
            "mailchimp_api",
            {
                "type": "unsubscribe",
                "fired_at": "2026-12-07 10:00:00",
                "data[action]": "unsub",
                "data[reason]": "manual",
                "data[id]": "8a25ff1d98",
                "data[list_id]": mailchimp_marketing.LIST_ID,
                "data[email]": "Wh1@Example.com",
                "data[email_type]": "html",
            },
        ),
        (
            "activecampaign",
            "activecampaign_api",
            {
                "type": "unsubscribe",
                "date_time": "2026-12-07T10:00:00-06:00",
                "initiated_from": "admin",
                "list": "3",
                "contact[id]": "42",
                "contact[email]": "wh1@example.com",
            },
        ),
    ],
)
def test_a_platforms_unsubscribe_webhook_suppresses_the_address_here(
    client: Client,
    app_database: Database,
    api_project: ProjectCredentials,
    kind: str,
    fake: str,
    form: dict[str, str],
    request: pytest.FixtureRequest,
) -> None:
    name = f"hooks-{kind}"
    api, url = request.getfixturevalue(fake)
    api.reset()
    config = CREDENTIALS[kind] | {"base_url": url, "webhook_secret": WEBHOOK_SECRET}
    created = _ok(client.post("/v1/providers", json={"name": name, "kind": kind, "config": config}))
    assert "webhook_secret" not in created["config"]
    callback = created["callback_url"].removeprefix("http://127.0.0.1:8000")
    customer = _ok(
        client.post("/v1/customers", json={"source_id": "wh-1", "email": "wh1@example.com"})
    )
    project = api_project.project.id

    # Mailchimp checks the URL before it saves the webhook.
    assert client.get(f"{callback}?secret={WEBHOOK_SECRET}").status_code == 200
    for wrong in ("", "?secret=guessed-0123456789", f"?secret={WEBHOOK_SECRET[:-1]}"):
        refused = client.post(callback + wrong, data=form)
        assert refused.status_code == 401, refused.text
    assert _suppressed(app_database, project) == set()

    subscribe = client.post(
        f"{callback}?secret={WEBHOOK_SECRET}", data={**form, "type": "subscribe"}
    )
    assert (subscribe.status_code, _suppressed(app_database, project)) == (200, set())
    accepted = client.post(f"{callback}?secret={WEBHOOK_SECRET}", data=form)

    assert accepted.status_code == 200, accepted.text
    assert _suppressed(app_database, project) == {
        ("wh1@example.com", customer["id"], f"unsubscribed at {name}")
    }
    assert api.requests == []


def test_braze_unsubscribes_are_pulled_and_suppressed_here(
    app: Litestar,
    client: Client,
    app_database: Database,
    api_project: ProjectCredentials,
    braze_api: tuple[FakeBraze, str],
) -> None:
    api = _synced(client, braze_api, "braze-pull", "braze_attributes")
    customer = _ok(
        client.post("/v1/customers", json={"source_id": "bp-1", "email": "bp1@example.com"})
    )
    today = utcnow().date()
    api.unsubscribes += [
        {"email": "BP1@example.com", "unsubscribed_at": f"{today} 09:30:00 +0000"},
        {"email": "nobody@example.com", "unsubscribed_at": f"{today} 09:31:00 +0000"},
        # Before the provider was configured: not asked for.
        {"email": "old@example.com", "unsubscribed_at": "2020-01-01 10:00:00 +0000"},
    ]
    project = api_project.project.id

    app.state.unsubscribe_pull.wake()
    wait_until(lambda: len(_suppressed(app_database, project)) == 2, "nothing was suppressed")

    assert _suppressed(app_database, project) == {
        ("bp1@example.com", customer["id"], "unsubscribed at braze-pull"),
        ("nobody@example.com", None, "unsubscribed at braze-pull"),
    }
    # (The providers of earlier tests' projects pull from this fake too, with the same query.)
    pulled = {r.query for r in api.requests if r.path == "/email/unsubscribes"}
    assert [dict(parse_qsl(query)) for query in pulled] == [
        {
            "start_date": str(today),
            "end_date": str(today),
            "limit": "500",
            "offset": "0",
        }
    ]
    # The opt-out goes on to the synced profile (here the same platform).
    [row] = [r for r in _rows(app_database, "braze-pull") if r.status == "queued"]
    assert row.content["profile"]["subscribed"] is False


def test_an_unsubscribe_pull_refused_by_the_platform_suppresses_nothing(
    app: Litestar,
    client: Client,
    app_database: Database,
    api_project: ProjectCredentials,
    braze_api: tuple[FakeBraze, str],
) -> None:
    api, url = braze_api
    api.reset()
    config = {"api_key": "another-key", "base_url": url, "customer_sync": True}
    _ok(
        client.post(
            "/v1/providers", json={"name": "b", "kind": "braze_attributes", "config": config}
        )
    )
    api.unsubscribes.append(
        {"email": "x@example.com", "unsubscribed_at": f"{utcnow().date()} 09:00:00 +0000"}
    )

    app.state.unsubscribe_pull.wake()
    wait_until(lambda: any(r.path == "/email/unsubscribes" for r in api.requests), "never pulled")

    assert _suppressed(app_database, api_project.project.id) == set()


def test_customers_from_events_and_the_voucherify_api_are_synced_too(
    client: Client, app_database: Database, braze_api: tuple[FakeBraze, str]
) -> None:
    _synced(client, braze_api, "braze-paths", "braze_attributes")
    event = {
        "type": "order.paid",
        "customer": {"source_id": "ev-1", "email": "ev1@example.com", "name": "Evan Event"},
    }
    _ok(client.post("/v1/events", json=event))
    [from_event] = _rows(app_database, "braze-paths")
    assert from_event.content["profile"]["first_name"] == "Evan"

    changes = [
        {"source_id": "ev-1", "name": "Evan Voucherify"},
        {"source_id": "vf-2", "email": "vf2@example.com", "metadata": {"tier": "gold"}},
    ]
    _ok(client.post("/v1/customers/bulk/async", json=changes))

    def both() -> bool:
        return len(_rows(app_database, "braze-paths")) == 2

    wait_until(both, lambda: f"rows: {[r.content for r in _rows(app_database, 'braze-paths')]}")
    first, second = _rows(app_database, "braze-paths")
    assert first.id == from_event.id  # still queued: replaced, not added
    assert first.content["profile"]["last_name"] == "Voucherify"
    assert second.content["profile"] == {
        "external_id": "vf-2",
        "email": "vf2@example.com",
        "contact": True,
    }
