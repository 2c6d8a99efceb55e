"""What a customer's profile page reads: consents per channel with their history, and the codes
the customer holds (``GET /v1/codes?customer=``)."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

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
