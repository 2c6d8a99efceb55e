"""NUL characters in query strings and paths: a 422 naming the parameter, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

Client = TestClient[Litestar]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/customers?email=a%00b", "email"),
        ("/v1/customers?q=%00", "q"),
        ("/v1/messages?status=sent%00", "status"),
        ("/v1/customers/cus_%00x", "customer_id"),
    ],
)
def test_nul_in_a_query_or_path_is_a_clear_problem(client: Client, path: str, field: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 422, answer.text
    body: dict[str, Any] = answer.json()
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert {"field": field, "reason": "must not contain NUL characters"} in [
        {"field": e["field"], "reason": e["reason"]} for e in body["errors"]
    ]


def test_ordinary_filters_still_work(client: Client) -> None:
    assert client.get("/v1/customers?email=nobody%40example.com").status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/code-pools", {"campaign": "\x00", "name": "p"}, "campaign"),
        (
            "/v1/customers",
            {"source_id": "a", "metadata": {"tier": ["x", "\x00"]}},
            "metadata.tier[1]",
        ),
        ("/v1/segments", {"name": "s", "filter": {"field\x00": 1}}, "filter.field\\0"),
    ],
)
def test_nul_in_a_json_body_is_a_clear_problem(
    client: Client, path: str, body: dict[str, Any], field: str
) -> None:
    answer = client.post(path, json=body)
    assert answer.status_code == 422, answer.text
    assert field in [e["field"] for e in answer.json()["errors"]]


def test_an_upload_still_reports_a_nul_row_by_row(client: Client) -> None:
    answer = client.post(
        "/v1/customers/import",
        content=b"source_id,email\nok-1,ok@example.com\nbad,\x00@example.com\n",
        headers={"Content-Type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["created"] == 1
    assert [e["row"] for e in report["errors"]] == [3]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", "/v1/messages?created_after=0001-01-01T00:00:00%2B05:00", None, "created_after"),
        ("GET", "/v1/customers?created_before=9999-12-31T23:00:00-05:00", None, "created_before"),
        (
            "POST",
            "/v1/bulk-sends/preflight",
            {
                "campaign": "camp_x",
                "audience": {"segment": "seg_x"},
                "channels": [],
                "scheduled_at": "0001-01-01T00:30:00+01:00",
            },
            "scheduled_at",
        ),
    ],
)
def test_a_time_utc_cannot_hold_is_a_clear_problem(
    client: Client, method: str, path: str, body: dict[str, Any] | None, field: str
) -> None:
    """A zone's offset can push year 1 or 9999 past what UTC can hold: refused, never a 500."""
    answer = client.request(method, path, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in answer.json()["errors"]] == [field]


def _nested(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/customers", f'{{"source_id":"d","metadata":{{"k":{_nested(1000)}}}}}', "metadata"),
        ("/v1/customers/batch", f'{{"customers":[{{"metadata":{_nested(1000)}}}]}}', "customers"),
        ("/v1/events", f'{{"type":"x","data":{_nested(1000)}}}', "data"),
        ("/v1/events", "[" * 100_000 + "]" * 100_000, "body"),
        ("/v1/segments", f'{{"name":"s","filter":{_nested(1000)}}}', "filter"),
    ],
)
def test_json_nested_a_thousand_levels_is_a_clear_problem(
    client: Client, path: str, body: str, field: str
) -> None:
    answer = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == [
        {"field": field, "reason": "nests arrays and objects deeper than 64 levels"}
    ]


def test_deep_json_holding_a_nul_is_a_clear_problem(client: Client) -> None:
    body = '{"source_id":"\\u0000","metadata":' + _nested(1000) + "}"
    answer = client.post(
        "/v1/customers", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "metadata"
