"""Segments over the API: create, count, list members, rename, delete."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from distribution.customers.segments import get_segment, is_member
from distribution.customers.store import get_customer
from distribution.storage.db import Database
from tests.conftest import ProjectCredentials, make_project

Client = TestClient[Litestar]

GOLD_IN_GB = {
    "and": [
        {"field": "metadata.tier", "op": "eq", "value": "gold"},
        {"field": "address.country", "op": "eq", "value": "GB"},
    ]
}


def _customers(client: Client) -> None:
    rows = [
        {"source_id": "a", "address": {"country": "GB"}, "metadata": {"tier": "gold"}},
        {"source_id": "b", "address": {"country": "FR"}, "metadata": {"tier": "gold"}},
        {"source_id": "c", "address": {"country": "GB"}, "metadata": {"tier": "silver"}},
        {"source_id": "d", "address": {"country": "GB"}, "metadata": {"tier": "gold"}},
    ]
    assert client.post("/v1/customers/batch", json={"customers": rows}).json()["failed"] == 0


def test_segment_counts_and_lists_its_members(client: Client) -> None:
    _customers(client)
    created = client.post("/v1/segments", json={"name": "UK gold", "filter": GOLD_IN_GB})
    assert created.status_code == 201, created.text
    segment = created.json()
    assert segment["object"] == "segment"
    assert segment["customers_count"] == 2
    assert client.get(f"/v1/segments/{segment['id']}").json()["customers_count"] == 2
    members = client.get(f"/v1/segments/{segment['id']}/customers", params={"limit": 1}).json()
    assert members["has_more"] is True
    second = client.get(
        f"/v1/segments/{segment['id']}/customers",
        params={"starting_after": members["next_cursor"]},
    ).json()
    assert {c["source_id"] for c in members["customers"] + second["customers"]} == {"a", "d"}


def test_membership_follows_customer_changes(client: Client) -> None:
    _customers(client)
    segment = client.post("/v1/segments", json={"name": "UK gold", "filter": GOLD_IN_GB}).json()
    client.post("/v1/customers", json={"source_id": "c", "metadata": {"tier": "gold"}})
    assert client.get(f"/v1/segments/{segment['id']}").json()["customers_count"] == 3
    customer_id = client.get("/v1/customers/a").json()["id"]
    client.delete(f"/v1/customers/{customer_id}")
    assert client.get(f"/v1/segments/{segment['id']}").json()["customers_count"] == 2


def test_in_memory_check_agrees_with_the_listing(
    client: Client, app_database: Database, api_project: ProjectCredentials
) -> None:
    _customers(client)
    segment_id = client.post("/v1/segments", json={"name": "s", "filter": GOLD_IN_GB}).json()["id"]
    listed = {
        c["source_id"]
        for c in client.get(f"/v1/segments/{segment_id}/customers").json()["customers"]
    }
    with app_database.reader() as session:
        segment = get_segment(session, api_project.project.id, segment_id)
        in_memory = {
            source
            for source in "abcd"
            if is_member(segment, get_customer(session, api_project.project.id, source))
        }
    assert listed == in_memory == {"a", "d"}


def test_invalid_filter_names_the_node(client: Client) -> None:
    response = client.post(
        "/v1/segments",
        json={"name": "bad", "filter": {"and": [{"field": "shoe_size", "op": "eq", "value": 1}]}},
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert errors[0]["field"].startswith("filter.and[0]")


def test_rename_change_filter_and_delete(client: Client) -> None:
    _customers(client)
    segment = client.post("/v1/segments", json={"name": "UK gold", "filter": GOLD_IN_GB}).json()
    assert (
        client.post("/v1/segments", json={"name": "UK gold", "filter": GOLD_IN_GB}).status_code
        == 409
    )
    changed = client.patch(
        f"/v1/segments/{segment['id']}",
        json={"name": "Gold", "filter": {"field": "metadata.tier", "op": "eq", "value": "gold"}},
    ).json()
    assert (changed["name"], changed["customers_count"]) == ("Gold", 3)
    assert [s["name"] for s in client.get("/v1/segments").json()] == ["Gold"]
    assert client.delete(f"/v1/segments/{segment['id']}").status_code == 204
    assert client.get(f"/v1/segments/{segment['id']}").status_code == 404


def test_segments_are_private_to_their_project(client: Client, app_database: Database) -> None:
    segment = client.post("/v1/segments", json={"name": "mine", "filter": GOLD_IN_GB}).json()
    other = make_project(app_database)
    client.headers.update(other.headers)
    assert client.get(f"/v1/segments/{segment['id']}").status_code == 404
    assert client.get(f"/v1/segments/{segment['id']}/customers").status_code == 404
    assert client.get("/v1/segments").json() == []


def test_preview_counts_and_samples_an_unsaved_filter(client: Client) -> None:
    _customers(client)
    answer = client.post("/v1/segments/preview", json={"filter": GOLD_IN_GB, "limit": 1})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["object"] == "segment_preview"
    assert body["customers_count"] == 2
    assert [c["source_id"] for c in body["customers"]] == ["a"]
    assert client.get("/v1/segments").json() == []  # nothing was stored


def test_preview_names_the_bad_node_of_an_invalid_filter(client: Client) -> None:
    bad = {"or": [{"field": "name", "op": "gt", "value": 3}]}
    answer = client.post("/v1/segments/preview", json={"filter": bad})
    assert answer.status_code == 422
    fields = [e["field"] for e in answer.json()["errors"]]
    assert any(f.startswith("filter.or[0]") for f in fields), fields


def test_fields_lists_the_columns_and_the_metadata_keys_in_use(client: Client) -> None:
    rows = [
        {"source_id": "m1", "metadata": {"tier": "gold", "orders": 3, "vip": True}},
        {"source_id": "m2", "metadata": {"tier": "silver", "joined": "2024-05-01"}},
    ]
    assert client.post("/v1/customers/batch", json={"customers": rows}).json()["failed"] == 0
    body = client.get("/v1/segments/fields").json()
    fields = {f["field"]: f for f in body["fields"]}
    assert fields["email"]["type"] == "text"
    assert fields["created_at"]["type"] == "datetime"
    assert fields["metadata.tier"] == {
        "field": "metadata.tier",
        "type": "metadata",
        "types": ["text"],
        "customers": 2,
    }
    assert fields["metadata.orders"]["types"] == ["number"]
    assert fields["metadata.vip"]["types"] == ["boolean"]
    assert fields["metadata.joined"]["types"] == ["date"]
    assert body["fields"][0]["field"] == "id"  # columns first, then keys by use
