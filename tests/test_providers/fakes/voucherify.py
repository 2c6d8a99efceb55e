"""Fake Voucherify customers API: ``GET /v1/customers/{id}`` and the list, with X-App-Id/Token.

Strict as the real API is: both headers must match (401 otherwise, with Voucherify's error
shape), only GET is served, an unknown customer is 404 ``resource_not_found``.
"""

from __future__ import annotations

from typing import Any

from .asgi import FakeApi, Recorded, Reply

APP_ID = "4b6a1d0e-5c1f-4f4e-9b2a-app-id"
APP_TOKEN = "0f1e2d3c-secret-key-voucherify"


def _error(code: int, key: str, message: str) -> dict[str, Any]:
    return {"code": code, "key": key, "message": message, "details": message, "request_id": "v-1"}


class FakeVoucherify(FakeApi):
    def __init__(self) -> None:
        super().__init__()
        self.customers: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        super().reset()
        self.customers.clear()

    def handle(self, request: Recorded) -> Reply:
        if (
            request.headers.get("x-app-id") != APP_ID
            or request.headers.get("x-app-token") != APP_TOKEN
        ):
            return Reply(401, _error(401, "unauthorized", "Unauthorized"))
        if request.method != "GET":
            return Reply(405, _error(405, "method_not_allowed", "Method Not Allowed"))
        if request.path == "/v1/customers":
            return Reply(200, {"object": "list", "customers": list(self.customers.values())})
        prefix = "/v1/customers/"
        if request.path.startswith(prefix):
            found = self.customers.get(request.path[len(prefix) :])
            if found is None:
                return Reply(404, _error(404, "resource_not_found", "Resource not found"))
            return Reply(200, found)
        return Reply(404, _error(404, "not_found", "Not Found"))
