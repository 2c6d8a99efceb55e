"""Campaigns, pools, codes and QR images over HTTP."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

Client = TestClient[Litestar]


def _pool(client: Client) -> str:
    campaign = client.post(
        "/v1/campaigns",
        json={"name": "Spring", "referral_url_template": "https://shop.example.com/r/{code}"},
    )
    assert campaign.status_code == 201, campaign.text
    pool = client.post("/v1/code-pools", json={"campaign": campaign.json()["id"], "name": "main"})
    assert pool.status_code == 201, pool.text
    return str(pool.json()["id"])


def test_import_generate_assign_revoke(client: Client) -> None:
    pool_id = _pool(client)
    imported = client.post(
        f"/v1/code-pools/{pool_id}/codes/import",
        content=b"code\nAAA\nBBB\nAAA\n",
        headers={"Content-Type": "text/csv"},
    )
    assert imported.status_code == 200, imported.text
    body = imported.json()
    assert body["added"] == 2
    assert body["rejected_rows"] == [{"row": 4, "code": "AAA", "reason": "already in this pool"}]
    generated = client.post(
        f"/v1/code-pools/{pool_id}/codes/generate", json={"count": 3, "pattern": "R-##??"}
    )
    assert generated.json()["pool"]["total"] == 5
    client.post("/v1/customers", json={"source_id": "shop-1", "email": "a@example.com"})
    first = client.post(f"/v1/code-pools/{pool_id}/assign", json={"customer": "shop-1"}).json()
    again = client.post(f"/v1/code-pools/{pool_id}/assign", json={"customer": "shop-1"}).json()
    assert first["code"] == again["code"] == "AAA"
    assert first["created"]
    assert not again["created"]
    assert first["referral_url"] == "https://shop.example.com/r/AAA"
    counts = client.get(f"/v1/code-pools/{pool_id}").json()
    assert (counts["total"], counts["assigned"], counts["available"]) == (5, 1, 4)
    assert client.post("/v1/codes/AAA/revoke").json()["status"] == "revoked"
    assert client.post("/v1/codes/NOPE/revoke").status_code == 404


def test_bad_input_is_a_422_naming_the_field(client: Client) -> None:
    pool_id = _pool(client)
    bad = client.post(f"/v1/code-pools/{pool_id}/codes/generate", json={"count": 0, "length": 8})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "count"
    unknown = client.post(f"/v1/code-pools/{pool_id}/assign", json={"customer": "nobody"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "customer"
    bad_file = client.post(
        f"/v1/code-pools/{pool_id}/codes/import",
        content=b"\xff\xfe\x00",
        headers={"Content-Type": "text/csv"},
    )
    assert bad_file.status_code == 422


def test_qr_images_draw_the_code_without_credentials(client: Client) -> None:
    client.headers.clear()
    png = client.get("/links/qr/REF-1234.png")
    assert png.status_code == 200
    assert png.content.startswith(b"\x89PNG")
    svg = client.get("/links/qr/REF-1234.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content
    assert client.get("/links/qr/REF-1234.gif").status_code == 422
