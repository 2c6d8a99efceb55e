"""`voucherify` (source): Voucherify's project webhooks in, and its customers API when asked.

A Voucherify connection sends nothing. Voucherify posts its events to the connection's
`callback_url`, signed with the project's webhook secret key (`x-voucherify-signature`: hex
HMAC-SHA256 of the body); project webhooks cannot carry our API headers, so that signature is
their only authentication. With API credentials the connection can also read a customer from
Voucherify (`GET /v1/customers/{id}`), for events that name a customer by Voucherify's id alone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from providers.callbacks import CallbackRequest, InboundEvents
from providers.config import DESTINATION_URL, SECRET, secret_field
from providers.errors import PermanentProviderError
from providers.http_transport import (
    GuardedClient,
    HttpClientOwner,
    json_object,
    raise_for_status_class,
    request,
)
from providers.kind import ProviderKind

__all__ = [
    "KIND",
    "SIGNATURE_HEADER",
    "VoucherifyConfig",
    "VoucherifyConnection",
    "verify_voucherify_signature",
]

SIGNATURE_HEADER = "x-voucherify-signature"
DEFAULT_API_URL = "https://api.voucherify.io"


@dataclass(frozen=True, slots=True)
class VoucherifyConfig:
    """Config of `voucherify`.

    Attributes:
        webhook_secret: secret; the webhook secret key of the Voucherify project (Project
            settings > Webhooks), which signs every webhook.
        api_url: the project's API root (its cluster: api.voucherify.io, us1.api...).
        app_id: the Application ID, sent as `X-App-Id` (with `app_token`, or neither).
        app_token: secret; the Secret Key, sent as `X-App-Token`.
        currency: the Voucherify project's currency (ISO 4217), for amounts its webhooks
            carry without one (Voucherify sends minor units and no currency).
        timeout: seconds per request to Voucherify's API.
    """

    webhook_secret: str = field(repr=False, metadata=SECRET)
    api_url: str = field(default=DEFAULT_API_URL, metadata=DESTINATION_URL)
    app_id: str | None = None
    app_token: str | None = secret_field(default=None)
    currency: str | None = None
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.webhook_secret:
            raise ValueError("webhook_secret must not be empty")
        if not self.api_url.startswith(("https://", "http://")):
            raise ValueError("api_url must be an http(s) URL")
        if bool(self.app_id) != bool(self.app_token):
            raise ValueError("app_id and app_token go together: give both or neither")
        if self.currency is not None and not re.fullmatch(r"[A-Z]{3}", self.currency):
            raise ValueError("currency must be an ISO 4217 code such as EUR")
        if not 0 < self.timeout <= 60:
            raise ValueError("timeout must be above 0 and at most 60 seconds")


def _hex_hmac(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _compact(body: bytes) -> bytes | None:
    """The body re-serialised as JSON without whitespace, or None when it is not JSON."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode()


def verify_voucherify_signature(secret: str, body: bytes, signature: str) -> bool:
    """Whether `signature` is Voucherify's hex HMAC-SHA256 of the body with `secret`.

    The raw bytes are checked first. Voucherify signs its JSON without whitespace, and a relay
    may pretty-print the body on the way: the compact re-serialisation of the body is accepted
    too, and nothing else. Comparisons are constant-time.
    """
    given = signature.strip().lower()
    if not given or not secret:
        return False
    if hmac.compare_digest(_hex_hmac(secret, body), given):
        return True
    compact = _compact(body)
    return compact is not None and hmac.compare_digest(_hex_hmac(secret, compact), given)


def _verify(request: CallbackRequest, secret: str) -> bool:
    return verify_voucherify_signature(secret, request.body, request.header(SIGNATURE_HEADER))


class VoucherifyConnection:
    """Reads customers from Voucherify's API for events that name them by Voucherify's id."""

    kind = "voucherify"
    channels: frozenset[str] = frozenset()

    def __init__(
        self, name: str, config: VoucherifyConfig, *, http_client: GuardedClient | None = None
    ) -> None:
        self.name = name
        self.config = config
        self._client = HttpClientOwner(http_client, timeout=config.timeout)
        self._root = config.api_url.rstrip("/") + "/v1"

    def _headers(self) -> dict[str, str]:
        return {
            "X-App-Id": self.config.app_id or "",
            "X-App-Token": self.config.app_token or "",
            "Accept": "application/json",
        }

    async def _get(self, path: str) -> dict[str, Any]:
        response = await request(
            self._client.http,
            "GET",
            self._root + path,
            provider=self.name,
            headers=self._headers(),
            timeout=self.config.timeout,
        )
        raise_for_status_class(response, provider=self.name, secrets=(self.config.app_token,))
        return json_object(response)

    async def fetch_customer(self, customer_id: str) -> dict[str, Any] | None:
        """Voucherify's customer object, or None when the connection has no API credentials.

        Raises:
            ProviderError: the API refused or failed (transient or permanent, as for sends).
        """
        if not self.config.app_id:
            return None
        found = await self._get(f"/customers/{quote(customer_id, safe='')}")
        if found.get("object") != "customer":
            raise PermanentProviderError("the answer is not a customer object", provider=self.name)
        return found

    async def check(self) -> None:
        """GET /v1/customers?limit=1 with the API credentials (nothing to check without them)."""
        if self.config.app_id:
            await self._get("/customers?limit=1")

    async def aclose(self) -> None:
        """Close the HTTP client if this connection created it."""
        await self._client.aclose()


KIND = ProviderKind(
    kind="voucherify",
    role="source",
    channels=frozenset(),
    config_type=VoucherifyConfig,
    description=(
        "Receives a Voucherify project's webhooks at its callback_url (signed with the "
        "project's webhook secret key) and, with API credentials, reads their customers."
    ),
    factory=lambda name, config, ctx: VoucherifyConnection(
        name, config, http_client=ctx.http_client
    ),
    callbacks=None,
    inbound=InboundEvents(
        signing_key_field="webhook_secret", signature_header=SIGNATURE_HEADER, verify=_verify
    ),
)
