"""Templates over the API: rename, duplicate, archive; a save based on an old version refused."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

Client = TestClient[Litestar]

SMS = "Hi {{ customer.first_name }}, your code is {{ code.code }}"


def _create(client: Client, name: str) -> dict[str, Any]:
    response = client.post(
        "/v1/templates",
        json={"name": name, "channel": "sms", "category": "transactional", "body": SMS},
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_rename_changes_the_name_and_refuses_a_taken_one(client: Client) -> None:
    first = _create(client, "Rename me")
    _create(client, "Taken name")
    renamed = client.patch(f"/v1/templates/{first['id']}", json={"name": "  Renamed  "})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Renamed"
    assert client.get(f"/v1/templates/{first['id']}").json()["name"] == "Renamed"
    taken = client.patch(f"/v1/templates/{first['id']}", json={"name": "Taken name"})
    assert taken.status_code == 409
    empty = client.patch(f"/v1/templates/{first['id']}", json={"name": " "})
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "name"


def test_duplicate_copies_every_variant_as_a_draft(client: Client) -> None:
    original = _create(client, "Original")
    french = client.post(
        f"/v1/templates/{original['id']}/versions",
        json={"locale": "fr", "body": "Salut {{ customer.first_name }}, code {{ code.code }}"},
    )
    assert french.status_code == 201, french.text
    copied = client.post(f"/v1/templates/{original['id']}/duplicate", json={"name": "The copy"})
    assert copied.status_code == 201, copied.text
    copy = copied.json()
    assert copy["id"] != original["id"]
    assert copy["name"] == "The copy"
    assert copy["status"] == "draft"
    bodies = {v["locale"]: v["latest_draft"]["body"] for v in copy["variants"]}
    assert bodies == {None: SMS, "fr": "Salut {{ customer.first_name }}, code {{ code.code }}"}
    assert all(v["live_version"] is None for v in copy["variants"])
    again = client.post(f"/v1/templates/{original['id']}/duplicate", json={"name": "The copy"})
    assert again.status_code == 409


def test_archive_takes_it_out_of_the_default_list(client: Client) -> None:
    gone = _create(client, "Archive me")
    assert client.delete(f"/v1/templates/{gone['id']}").status_code == 204
    listed = [t["id"] for t in client.get("/v1/templates?q=Archive me").json()["templates"]]
    assert gone["id"] not in listed
    archived = client.get("/v1/templates?q=Archive me&status=archived").json()["templates"]
    assert [t["id"] for t in archived] == [gone["id"]]
    assert client.patch(f"/v1/templates/{gone['id']}", json={"name": "x"}).status_code == 409


def test_a_save_based_on_an_old_version_is_a_409_with_the_newer_one(client: Client) -> None:
    template = _create(client, "Shared")
    base = template["variants"][0]["latest_draft"]["id"]
    url = f"/v1/templates/{template['id']}/versions"
    first = client.post(url, json={"body": "A's text {{ code.code }}", "base_version_id": base})
    assert first.status_code == 201, first.text
    stale = client.post(url, json={"body": "B's text", "base_version_id": base})
    assert stale.status_code == 409, stale.text
    problem = stale.json()
    assert problem["current_version"]["id"] == first.json()["version"]["id"]
    assert problem["current_version"]["body"] == "A's text {{ code.code }}"
    assert problem["base_version_id"] == base
    assert "+A's text {{ code.code }}" in problem["diffs"]["body"]
    versions = client.get(f"/v1/templates/{template['id']}").json()["versions"]
    assert len(versions) == 2  # B's save wrote nothing
    on_top = client.post(
        url, json={"body": "B's text", "base_version_id": problem["current_version"]["id"]}
    )
    assert on_top.status_code == 201, on_top.text
    # Without base_version_id the API behaves as before (last save wins).
    assert client.post(url, json={"body": "anyone"}).status_code == 201


def test_publishing_with_an_old_base_is_a_409_and_nothing_goes_live(client: Client) -> None:
    template = _create(client, "Publish race")
    first = template["variants"][0]["latest_draft"]["id"]
    newer = client.post(
        f"/v1/templates/{template['id']}/versions", json={"body": "newer {{ code.code }}"}
    ).json()["version"]["id"]
    url = f"/v1/templates/{template['id']}/publish"
    stale = client.post(url, json={"version_id": first, "base_version_id": first})
    assert stale.status_code == 409, stale.text
    assert stale.json()["current_version"]["id"] == newer
    assert client.get(f"/v1/templates/{template['id']}").json()["status"] == "draft"
    fresh = client.post(url, json={"version_id": newer, "base_version_id": newer})
    assert fresh.status_code == 200, fresh.text
