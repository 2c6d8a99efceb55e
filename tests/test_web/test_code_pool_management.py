"""Managing pools over HTTP: listing a campaign's pools, changing the low-stock threshold, and
a generation's dry run (combinations and examples, nothing stored)."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import TestClient

Client = TestClient[Litestar]


def _campaign(client: Client, name: str) -> str:
    created = client.post("/v1/campaigns", json={"name": name})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _pool(client: Client, campaign: str, name: str, threshold: int | None = None) -> str:
    body = {"campaign": campaign, "name": name, "low_stock_threshold": threshold}
    created = client.post("/v1/code-pools", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_pools_are_listed_per_campaign_with_their_counts(client: Client) -> None:
    spring = _campaign(client, "Spring pools")
    autumn = _campaign(client, "Autumn pools")
    first = _pool(client, spring, "first")
    second = _pool(client, spring, "second")
    other = _pool(client, autumn, "other")
    client.post(f"/v1/code-pools/{first}/codes/generate", json={"count": 3, "length": 10})
    listed = client.get("/v1/code-pools", params={"campaign": spring})
    assert listed.status_code == 200, listed.text
    pools = listed.json()
    assert [p["id"] for p in pools] == [first, second]
    assert (pools[0]["total"], pools[0]["available"], pools[1]["total"]) == (3, 3, 0)
    everything = [p["id"] for p in client.get("/v1/code-pools").json()]
    assert {first, second, other} <= set(everything)
    assert client.get("/v1/code-pools", params={"campaign": "camp_nope"}).status_code == 404


def test_the_low_stock_threshold_changes_and_warns_again(client: Client) -> None:
    pool = _pool(client, _campaign(client, "Threshold"), "main", threshold=1)
    client.post(f"/v1/code-pools/{pool}/codes/generate", json={"count": 2, "length": 10})
    changed = client.patch(f"/v1/code-pools/{pool}", json={"low_stock_threshold": 5})
    assert changed.status_code == 200, changed.text
    assert changed.json()["low_stock_threshold"] == 5
    assert client.get(f"/v1/code-pools/{pool}").json()["low_stock_threshold"] == 5
    cleared = client.patch(f"/v1/code-pools/{pool}", json={"low_stock_threshold": None})
    assert cleared.json()["low_stock_threshold"] is None
    bad = client.patch(f"/v1/code-pools/{pool}", json={"low_stock_threshold": -1})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "low_stock_threshold"
    unknown = client.patch(f"/v1/code-pools/{pool}", json={"name": "renamed"})
    assert unknown.status_code == 422
    missing = client.patch("/v1/code-pools/pool_nope", json={"low_stock_threshold": 1})
    assert missing.status_code == 404


def test_a_dry_run_shows_combinations_and_examples_and_stores_nothing(client: Client) -> None:
    pool = _pool(client, _campaign(client, "Dry run"), "main")
    body = {"count": 10, "pattern": "REF-##-?", "dry_run": True}
    answer = client.post(f"/v1/code-pools/{pool}/codes/generate", json=body)
    assert answer.status_code == 200, answer.text
    preview = answer.json()
    assert preview["dry_run"] is True
    assert preview["combinations"] == 100 * 26
    assert len(preview["examples"]) == 5
    assert all(re.fullmatch(r"REF-\d\d-[A-Z]", code) for code in preview["examples"])
    assert (preview["added"], preview["pool"]["total"]) == (0, 0)
    assert client.get(f"/v1/code-pools/{pool}").json()["total"] == 0

    too_many = {"count": 3000, "pattern": "REF-##-?", "dry_run": True}
    refused = client.post(f"/v1/code-pools/{pool}/codes/generate", json=too_many)
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"field": "count", "reason": "the config can make only 2,600 distinct codes"}
    ]
    real = client.post(f"/v1/code-pools/{pool}/codes/generate", json={"count": 4, "length": 6})
    assert (real.json()["added"], real.json()["combinations"]) == (4, 36**6)
    assert real.json()["examples"] == []
