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
