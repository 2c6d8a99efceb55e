"""What a customer's profile page reads: consents per channel with their history, and the codes
the customer holds (``GET /v1/codes?customer=``)."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient
from sqlmodel import select

from distribution.models import Event
from distribution.storage.db import Database
from tests.conftest import make_project

Client = TestClient[Litestar]


def test_consents_show_status_and_history_per_channel(client: Client) -> None:
    created = client.post("/v1/customers", json={"source_id": "prof-1", "email": "p1@example.com"})
    customer = created.json()["id"]
    fresh = client.get(f"/v1/customers/{customer}/consents")
    assert fresh.status_code == 200, fresh.text
    assert [(c["channel"], c["status"], c["history"]) for c in fresh.json()] == [
        ("email", "subscribed", []),
        ("sms", "subscribed", []),
    ]
    client.post(
        f"/v1/customers/{customer}/consents", json={"channel": "email", "status": "unsubscribed"}
    )
    email = client.get("/v1/customers/prof-1/consents").json()[0]
    assert email["status"] == "unsubscribed"
    assert [(h["status"], h["reason"]) for h in email["history"]] == [("unsubscribed", "api")]
    client.post(
        f"/v1/customers/{customer}/consents", json={"channel": "email", "status": "subscribed"}
    )
    email = client.get(f"/v1/customers/{customer}/consents").json()[0]
    assert email["status"] == "subscribed"
    assert [h["status"] for h in email["history"]] == ["subscribed"]
    assert email["history"][0]["at"].endswith("Z")
    assert client.get("/v1/customers/nobody/consents").status_code == 404


def test_the_codes_a_customer_holds(client: Client) -> None:
    campaign = client.post(
        "/v1/campaigns",
        json={"name": "Held", "referral_url_template": "https://shop.example.com/r/{code}"},
    ).json()["id"]
    pool = client.post("/v1/code-pools", json={"campaign": campaign, "name": "main"}).json()["id"]
    client.post(
        f"/v1/code-pools/{pool}/codes/import",
        content=b"HELD-1\nHELD-2\n",
        headers={"Content-Type": "text/csv"},
    )
    client.post("/v1/customers", json={"source_id": "holder"})
    client.post("/v1/customers", json={"source_id": "other"})
    assert client.get("/v1/codes", params={"customer": "holder"}).json() == []
    client.post(f"/v1/code-pools/{pool}/assign", json={"customer": "holder"})
    client.post(f"/v1/code-pools/{pool}/assign", json={"customer": "other"})
    held = client.get("/v1/codes", params={"customer": "holder"})
    assert held.status_code == 200, held.text
    [code] = held.json()
    assert (code["code"], code["status"], code["campaign_id"]) == ("HELD-1", "assigned", campaign)
    assert code["referral_url"] == "https://shop.example.com/r/HELD-1"
    client.post("/v1/codes/HELD-1/revoke")
    [revoked] = client.get("/v1/codes", params={"customer": "holder"}).json()
    assert revoked["status"] == "revoked"
    assert client.get("/v1/codes", params={"customer": "nobody"}).status_code == 404


def test_the_events_about_a_customer_newest_first_and_what_erasure_leaves(
    client: Client, app_database: Database
) -> None:
    person = {"source_id": "evt-holder", "email": "holder@example.com"}
    first = client.post("/v1/events", json={"type": "signed.up", "customer": person})
    assert first.status_code == 202, first.text
    second = client.post(
        "/v1/events",
        json={
            "type": "redemption.succeeded",
            "customer": person,
            "campaign": {"id": "camp_spring"},
            "code": {"code": "SPRING-7"},
            "data": {"note": "private to the person"},
        },
    )
    client.post("/v1/events", json={"type": "signed.up", "customer": {"source_id": "someone"}})
    answer = client.get("/v1/customers/evt-holder/events")
    assert answer.status_code == 200, answer.text
    events = answer.json()
    assert [e["id"] for e in events] == [second.json()["id"], first.json()["id"]]
    assert (events[0]["type"], events[0]["source"]) == ("redemption.succeeded", "api")
    assert (events[0]["campaign_id"], events[0]["code"]) == ("camp_spring", "SPRING-7")
    assert events[0]["received_at"].endswith("Z")
    assert events[1]["deliveries"] == []
    assert len(client.get("/v1/customers/evt-holder/events", params={"limit": 1}).json()) == 1
    refused = client.get("/v1/customers/evt-holder/events", params={"limit": 0})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "limit"
    assert client.get("/v1/customers/nobody/events").status_code == 404

    # Another project does not see them.
    mine = dict(client.headers)
    client.headers.update(make_project(app_database).headers)
    assert client.get("/v1/customers/evt-holder/events").status_code == 404
    client.headers.update(mine)

    # Erased: the events stay (type and time) without what they said about the person.
    customer_id = client.get("/v1/customers/evt-holder").json()["id"]
    assert client.delete(f"/v1/customers/{customer_id}").status_code == 204
    assert client.get(f"/v1/customers/{customer_id}/events").status_code == 404
    with app_database.reader() as session:
        rows = session.exec(select(Event).where(Event.customer_id == customer_id)).all()
    assert sorted(row.type for row in rows) == ["redemption.succeeded", "signed.up"]
    assert [row.payload for row in rows] == [{}, {}]
    assert [row.result["customer"] for row in rows] == [{"id": customer_id, "source_id": None}] * 2
    assert "private to the person" not in str([row.result for row in rows])
