"""What the OpenAPI document promises about methods and bad bodies is what the API answers."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import ProjectCredentials

Client = TestClient[Litestar]
METHODS = ("get", "put", "post", "delete", "patch")


def document(client: Client) -> dict[str, Any]:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    found: dict[str, Any] = response.json()
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_options_lists_every_documented_method_of_the_path(
    raw_client: Client, api_project: ProjectCredentials
) -> None:
    paths = document(raw_client)["paths"]
    wrong = {}
    for path, item in paths.items():
        documented = {m.upper() for m in METHODS if m in item}
        response = raw_client.options(concrete(path), headers=api_project.headers)
        assert response.status_code == 204, (path, response.status_code)
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        if allowed - {"OPTIONS", "HEAD"} != documented:
            wrong[path] = (sorted(allowed), sorted(documented))
    assert wrong == {}


def test_an_unparseable_body_is_a_documented_400_problem(
    raw_client: Client, api_project: ProjectCredentials
) -> None:
    paths = document(raw_client)["paths"]
    checked = 0
    for path, item in paths.items():
        for method in METHODS:
            operation = item.get(method)
            body = (operation or {}).get("requestBody", {}).get("content", {})
            if "application/json" not in body:
                continue
            assert "400" in operation["responses"], f"{method.upper()} {path}"
            assert "application/problem+json" in operation["responses"]["400"]["content"]
            response = raw_client.request(
                method.upper(),
                concrete(path),
                content=b'{"truncated": ',
                headers={**api_project.headers, "Content-Type": "application/json"},
            )
            # An operation that looks its path up first may answer 404; never an undocumented
            # status, and always a problem document.
            assert str(response.status_code) in operation["responses"], (path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            checked += response.status_code == 400
    assert checked >= 10
