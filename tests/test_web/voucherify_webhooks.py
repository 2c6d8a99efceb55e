"""A Voucherify connection over the API, and webhooks posted to it as Voucherify posts them."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlsplit

import httpx
from litestar import Litestar
from litestar.testing import TestClient

from tests.test_providers.fakes import voucherify

Client = TestClient[Litestar]
WEBHOOK_SECRET = "vf-project-webhook-secret-8d2e"


def connect_voucherify(client: Client, api_url: str | None, **config: Any) -> str:
    """Create the project's `voucherify` connection; the path of its callback_url.

    With an ``api_url`` it has the fake's API credentials; without, no credentials at all.
    """
    credentials = (
        {"api_url": api_url, "app_id": voucherify.APP_ID, "app_token": voucherify.APP_TOKEN}
        if api_url
        else {}
    )
    created = client.post(
        "/v1/providers",
        json={
            "name": "voucherify",
            "kind": "voucherify",
            "config": {"webhook_secret": WEBHOOK_SECRET, **credentials, **config},
        },
    )
    assert created.status_code == 201, created.text
    return urlsplit(created.json()["callback_url"]).path


def signed_body(body: dict[str, Any], secret: str = WEBHOOK_SECRET) -> tuple[bytes, str]:
    """The body as Voucherify sends it (compact JSON) and its x-voucherify-signature."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    return raw, hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def post_webhook(client: Client, path: str, raw: bytes, signature: str | None) -> httpx.Response:
    """POST as Voucherify does: its signature header only, none of our API headers."""
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-voucherify-signature"] = signature
    request = client.build_request("POST", path, content=raw, headers=headers)
    for name in ("x-app-id", "x-app-token"):
        del request.headers[name]
    return client.send(request)
