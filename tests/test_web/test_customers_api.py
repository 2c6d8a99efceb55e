"""The customers API as a Voucherify sync script would use it."""

from __future__ import annotations

import csv
import io
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from distribution.storage.db import Database
from tests.conftest import make_project

Client = TestClient[Litestar]

VOUCHERIFY_CUSTOMER = {
    "source_id": "shop-42",
    "name": "Ada Lovelace",
    "email": "Ada.Lovelace@Example.COM",
    "phone": "(415) 555-2671",
    "address": {
        "city": "London",
        "state": None,
        "line_1": "12 St James's Square",
        "line_2": None,
        "country": "United Kingdom",
        "postal_code": "SW1Y 4JH",
    },
    "description": "Early adopter",
    "metadata": {"tier": "gold", "orders": 7},
}


def test_create_returns_the_customer_in_voucherify_shape(client: Client) -> None:
    response = client.post("/v1/customers", json=VOUCHERIFY_CUSTOMER)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "customer"
    assert body["id"].startswith("cust_")
    assert body["email"] == "Ada.Lovelace@example.com"
    assert body["phone"] == "+14155552671"
    assert body["address"]["country"] == "GB"
    assert body["address"]["city"] == "London"
    assert body["metadata"] == {"tier": "gold", "orders": 7}
    assert body["created_at"].endswith("Z")
    assert body["updated_at"].endswith("Z")


def test_upsert_by_source_id_merges_fields_and_metadata(client: Client) -> None:
    first = client.post("/v1/customers", json=VOUCHERIFY_CUSTOMER).json()
    second = client.post(
        "/v1/customers",
        json={
            "source_id": "shop-42",
            "name": "Ada King",
            "description": None,
            "address": {"city": "Marylebone"},
            "metadata": {"orders": 8, "tier": None, "vip": True},
            "locale": "en-gb",
            "timezone": "Europe/London",
        },
    ).json()
    assert second["id"] == first["id"]
    assert second["name"] == "Ada King"
    assert second["email"] == first["email"]  # absent: unchanged
    assert second["description"] is None  # null: cleared
    assert second["address"]["city"] == "Marylebone"
    assert second["address"]["postal_code"] == "SW1Y 4JH"
    assert second["metadata"] == {"orders": 8, "vip": True}
    assert second["locale"] == "en-GB"
    assert second["created_at"] == first["created_at"]
    assert second["updated_at"] >= first["updated_at"]


def test_metadata_null_removes_all_keys(client: Client) -> None:
    client.post("/v1/customers", json=VOUCHERIFY_CUSTOMER)
    body = client.post("/v1/customers", json={"source_id": "shop-42", "metadata": None}).json()
    assert body["metadata"] == {}


def test_get_by_id_and_by_source_id(client: Client) -> None:
    created = client.post("/v1/customers", json=VOUCHERIFY_CUSTOMER).json()
    assert client.get(f"/v1/customers/{created['id']}").json()["id"] == created["id"]
    assert client.get("/v1/customers/shop-42").json()["id"] == created["id"]
    missing = client.get("/v1/customers/nobody")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_bad_fields_are_all_named_in_one_422(client: Client) -> None:
    response = client.post(
        "/v1/customers",
        json={
            "email": "not-an-email",
            "phone": "12",
            "address": {"country": "Atlantis"},
            "locale": "xx-nope",
            "timezone": "Mars/Olympus",
        },
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422
    assert problem["title"] == "Invalid input"
    fields = {e["field"] for e in problem["errors"]}
    assert fields == {"email", "phone", "address.country", "locale", "timezone"}
    assert all(e["reason"] for e in problem["errors"])


def test_unknown_top_level_field_is_refused(client: Client) -> None:
    response = client.post("/v1/customers", json={"name": "X", "favourite_colour": "blue"})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "favourite_colour", "reason": "is not a known field"}
    ]


def test_wrong_type_names_the_field(client: Client) -> None:
    response = client.post("/v1/customers", json={"email": 42})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "email"


def test_phone_without_plus_uses_the_project_region(client: Client) -> None:
    body = client.post("/v1/customers", json={"phone": "020 7946 0018"}).json()
    # The default region is US, where this is not a valid number.
    assert body["status"] == 422
    body = client.post("/v1/customers", json={"phone": "+44 20 7946 0018"}).json()
    assert body["phone"] == "+442079460018"


def test_list_paginates_with_a_cursor_and_filters(client: Client) -> None:
    ids = [
        client.post(
            "/v1/customers", json={"source_id": f"c{i}", "email": f"user{i}@example.com"}
        ).json()["id"]
        for i in range(5)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["starting_after"] = cursor
        page = client.get("/v1/customers", params=params).json()
        assert page["object"] == "list"
        seen += [c["id"] for c in page["customers"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert seen == ids
    found = client.get("/v1/customers", params={"email": "USER3@example.com"}).json()
    assert [c["id"] for c in found["customers"]] == [ids[3]]
    searched = client.get("/v1/customers", params={"q": "user4"}).json()
    assert [c["id"] for c in searched["customers"]] == [ids[4]]
    newest_first = client.get("/v1/customers", params={"order": "desc", "limit": 1}).json()
    assert newest_first["customers"][0]["id"] == ids[-1]


def test_delete_erases_personal_data(client: Client, app_database: Database) -> None:
    created = client.post("/v1/customers", json=VOUCHERIFY_CUSTOMER).json()
    assert client.delete(f"/v1/customers/{created['id']}").status_code == 204
    assert client.get(f"/v1/customers/{created['id']}").status_code == 404
    assert client.get("/v1/customers/shop-42").status_code == 404
    from distribution.models import Customer

    with app_database.reader() as session:
        row = session.get(Customer, created["id"])
    assert row is not None
    assert row.erased_at is not None
    assert (row.name, row.email, row.phone, row.address_city, row.meta) == (
        None,
        None,
        None,
        None,
        {},
    )
    # The source_id is free again: a new sign-up creates a new customer.
    again = client.post("/v1/customers", json={"source_id": "shop-42"}).json()
    assert again["id"] != created["id"]


def test_batch_keeps_valid_rows_and_reports_invalid_ones(client: Client) -> None:
    response = client.post(
        "/v1/customers/batch",
        json={
            "customers": [
                {"source_id": "b1", "email": "b1@example.com"},
                {"source_id": "b2", "email": "nope"},
                {"source_id": "b3", "shoe_size": 44},
                {"source_id": "b1", "name": "Bee One"},
            ]
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["updated"], body["failed"]) == (1, 1, 2)
    results = body["results"]
    assert results[0]["created"] is True
    assert results[1]["errors"][0]["field"] == "email"
    assert results[2]["errors"] == [{"field": "shoe_size", "reason": "is not a known field"}]
    assert results[3]["id"] == results[0]["id"]
    stored = client.get("/v1/customers/b1").json()
    assert (stored["name"], stored["email"]) == ("Bee One", "b1@example.com")


def test_batch_over_the_limit_is_refused_whole(client: Client) -> None:
    rows = [{"source_id": f"x{i}"} for i in range(1001)]
    response = client.post("/v1/customers/batch", json={"customers": rows})
    assert response.status_code == 413
    assert client.get("/v1/customers/x0").status_code == 404


def test_csv_import_reports_every_invalid_row_and_keeps_the_rest(client: Client) -> None:
    csv_text = (
        "source_id,name,email,phone,address.city,address_country,metadata.tier,metadata.zip\n"
        "r1,Ann,ann@example.com,+14155552671,Paris,FR,gold,02134\n"
        "r2,Bob,not-an-email,,Lyon,France,3,\n"
        '"r3","Cy, Jr.",cy@example.com,12,,,,\n'
        "r4,Dee,dee@example.com,,,,,\n"
    )
    response = client.post(
        "/v1/customers/import", content=csv_text, headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["total_rows"], report["created"], report["failed"]) == (4, 2, 2)
    assert {(e["row"], e["field"]) for e in report["errors"]} == {(3, "email"), (4, "phone")}
    ann = client.get("/v1/customers/r1").json()
    assert ann["address"] == {
        "city": "Paris",
        "state": None,
        "line_1": None,
        "line_2": None,
        "country": "FR",
        "postal_code": None,
    }
    assert ann["metadata"] == {"tier": "gold", "zip": "02134"}
    assert client.get("/v1/customers/r2").status_code == 404


def test_csv_with_an_unknown_column_is_refused_before_importing(client: Client) -> None:
    response = client.post(
        "/v1/customers/import",
        content="source_id,shoe_size\nq1,44\n",
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "columns.shoe_size"
    assert client.get("/v1/customers/q1").status_code == 404


def test_json_import(client: Client) -> None:
    response = client.post(
        "/v1/customers/import",
        json=[{"source_id": "j1", "email": "j1@example.com"}, {"email": 5}, "junk"],
    )
    report = response.json()
    assert (report["created"], report["failed"]) == (1, 2)
    assert [e["row"] for e in report["errors"]] == [2, 3]


def test_export_round_trips_through_import(client: Client, app_database: Database) -> None:
    client.post("/v1/customers", json=VOUCHERIFY_CUSTOMER)
    client.post("/v1/customers", json={"source_id": "s2", "metadata": {"nested": {"a": 1}}})
    response = client.get("/v1/customers/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.splitlines()
    assert lines[0].startswith("id,source_id,name,email,phone,description,address.city")
    assert "metadata.orders" in lines[0]
    assert "metadata.tier" in lines[0]
    assert len(lines) == 3

    other = make_project(app_database)
    client.headers.update(other.headers)
    report = client.post(
        "/v1/customers/import", content=response.text, headers={"Content-Type": "text/csv"}
    ).json()
    assert (report["created"], report["failed"]) == (2, 0), report
    copy = client.get("/v1/customers/shop-42").json()
    assert copy["metadata"] == {"tier": "gold", "orders": 7}
    assert copy["phone"] == "+14155552671"


def _nested(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def test_metadata_nested_too_deeply_names_the_metadata(client: Client) -> None:
    json_type = {"Content-Type": "application/json"}
    for levels, field in ((11, "metadata.k"), (1000, "metadata")):
        body = f'{{"source_id":"deep","metadata":{{"k":{_nested(levels)}}}}}'
        response = client.post("/v1/customers", content=body, headers=json_type)
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == [field]
    ten = f'{{"source_id":"deep","metadata":{{"k":{_nested(10)}}}}}'
    assert client.post("/v1/customers", content=ten, headers=json_type).status_code == 200


def test_json_import_reports_nested_arrays_as_a_row_and_keeps_the_rest(client: Client) -> None:
    deep = "[" * 1000 + "]" * 1000
    body = f'[{{"source_id":"n1"}}, {deep}, {{"source_id":"n2"}}, {{"bad json": }}]'
    response = client.post(
        "/v1/customers/import", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["total_rows"], report["created"], report["failed"]) == (4, 2, 2)
    assert [(e["row"], e["field"]) for e in report["errors"]] == [(2, "row"), (4, "row")]
    assert report["errors"][0]["reason"] == "is nested deeper than 64 levels"
    assert client.get("/v1/customers/n2").status_code == 200


def test_json_import_refuses_a_row_over_64_kib_and_keeps_the_rest(client: Client) -> None:
    rows = [
        {"source_id": "big", "description": "x" * (64 * 1024)},
        {"source_id": "small", "email": "small@example.com"},
    ]
    response = client.post("/v1/customers/import", json=rows)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["errors"] == [{"row": 1, "field": "row", "reason": "is larger than 65,536 bytes"}]
    assert client.get("/v1/customers/small").status_code == 200
    assert client.get("/v1/customers/big").status_code == 404


def test_json_import_of_something_else_than_an_array_is_refused_whole(client: Client) -> None:
    for body, reason in (
        ('{"source_id": "o1"}', "must be a JSON array"),
        ('[{"source_id": "o1"}', "is not valid JSON (the array is not closed)"),
        ('[{"source_id": "o1"},]', "is not valid JSON (an empty item between commas)"),
        ('[{"source_id": "o1"}] []', "is not valid JSON (content after the array)"),
    ):
        response = client.post(
            "/v1/customers/import", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"] == [{"field": "file", "reason": reason}]
    assert client.get("/v1/customers/o1").status_code == 404


def test_a_csv_cell_of_5_mb_is_a_row_error_naming_its_column(client: Client) -> None:
    csv_text = f"source_id,description,name\nc1,first,Ann\nc2,{'x' * 5_000_000},Bob\nc3,third,Cy\n"
    response = client.post(
        "/v1/customers/import", content=csv_text, headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["total_rows"], report["created"], report["failed"]) == (3, 2, 1)
    assert report["errors"] == [
        {"row": 3, "field": "description", "reason": "is longer than 131,072 characters"}
    ]
    assert client.get("/v1/customers/c3").json()["name"] == "Cy"


FORMULAS = {
    "f1": '=HYPERLINK("https://evil.example","click")',
    "f2": "+1",
    "f3": "-2",
    "f4": "@SUM(A1:A9)",
    "f5": "'=already quoted",
}


def test_export_neutralises_formulas_and_import_restores_them(
    client: Client, app_database: Database
) -> None:
    for source_id, name in FORMULAS.items():
        client.post("/v1/customers", json={"source_id": source_id, "name": name})
    client.post(
        "/v1/customers",
        json={"source_id": "f6", "metadata": {"tab": "\t=1+1", "cr": "\r=1+1", "minus": -3}},
    )
    exported = client.get("/v1/customers/export").text
    rows = {row[1]: row for row in csv.reader(io.StringIO(exported)) if row[1] != "source_id"}
    assert [rows[s][2] for s in FORMULAS] == [
        '\'=HYPERLINK("https://evil.example","click")',
        "'+1",
        "'-2",
        "'@SUM(A1:A9)",
        "''=already quoted",
    ]
    header = next(csv.reader(io.StringIO(exported)))
    f6 = dict(zip(header, rows["f6"], strict=True))
    assert (f6["metadata.tab"], f6["metadata.cr"], f6["metadata.minus"]) == (
        "'\t=1+1",
        "'\r=1+1",
        "'-3",
    )

    client.headers.update(make_project(app_database).headers)
    report = client.post(
        "/v1/customers/import", content=exported, headers={"Content-Type": "text/csv"}
    ).json()
    assert (report["created"], report["failed"]) == (6, 0), report
    for source_id, name in FORMULAS.items():
        assert client.get(f"/v1/customers/{source_id}").json()["name"] == name
    assert client.get("/v1/customers/f6").json()["metadata"] == {
        "tab": "\t=1+1",
        "cr": "\r=1+1",
        "minus": -3,
    }


def test_a_page_past_the_bound_is_refused_not_a_500(client: Client) -> None:
    """Found by schemathesis: a huge `page` overflowed SQLite's OFFSET (a 500)."""
    answer = client.get("/v1/customers", params={"page": "118605749947265302528"})
    assert answer.status_code == 422, answer.text
    assert "page" in answer.text
    assert client.get("/v1/customers", params={"page": "10000"}).status_code == 200
