"""`webhook`: POST the rendered message as JSON, signed with Standard Webhooks."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from providers.address_guard import AddressGuard, DestinationRefusedError
from providers.config import DESTINATION_URL, SECRET
from providers.errors import (
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    response_excerpt,
)
from providers.http_transport import (
    GuardedClient,
    HttpClientOwner,
    HttpResponse,
    json_object,
    raise_for_status_class,
    request,
)
from providers.kind import ProviderKind
from providers.message import CHANNELS, Message, SendResult
from providers.protocol import ensure_channel
from providers.standard_webhooks import decode_secret, sign

__all__ = ["KIND", "WebhookConfig", "WebhookProvider", "message_event"]

EVENT_TYPE = "message.send"


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """Config of `webhook`.

    Attributes:
        url: the receiver (http or https).
        secret: `whsec_…` signing secret (24-64 random bytes, base64).
        channels: which channels this webhook accepts.
        timeout: seconds per request (the spec suggests 15-30).
    """

    url: str = field(metadata=DESTINATION_URL)
    secret: str = field(repr=False, metadata=SECRET)
    channels: tuple[str, ...] = ("email", "sms")
    timeout: float = 15.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("https://", "http://")):
            raise ValueError("url must be an http(s) URL")
        if not self.secret.startswith("whsec_"):
            raise ValueError("secret must start with whsec_")
        try:
            key = decode_secret(self.secret)
        except ValueError:
            raise ValueError("secret must be whsec_ followed by base64") from None
        if not 24 <= len(key) <= 64:
            raise ValueError("secret must hold 24 to 64 bytes")
        if not self.channels or set(self.channels) - CHANNELS:
            raise ValueError(f"channels must be a non-empty subset of {sorted(CHANNELS)}")


def message_event(message: Message, *, now: datetime | None = None) -> dict[str, Any]:
    """The JSON payload: `{"type", "timestamp", "data": <the message>}`."""
    data = {f.name: getattr(message, f.name) for f in dataclasses.fields(message)}
    data["headers"] = dict(message.headers)
    data["metadata"] = dict(message.metadata)
    data["tags"] = list(message.tags)
    return {
        "type": EVENT_TYPE,
        "timestamp": (now or datetime.now(UTC)).isoformat(),
        "data": data,
    }


class WebhookProvider:
    """Delivers a message by POSTing it to the customer's own endpoint."""

    kind = "webhook"

    def __init__(
        self,
        name: str,
        config: WebhookConfig,
        *,
        http_client: GuardedClient | None = None,
        guard: AddressGuard | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.channels = frozenset(config.channels)
        self._client = HttpClientOwner(http_client, timeout=config.timeout)
        self._guard = guard or AddressGuard()

    def _payload(self, message: Message, *, timestamp: int) -> tuple[bytes, dict[str, str]]:
        """The exact body bytes and the signed headers (the delivery id is the webhook-id)."""
        body = json.dumps(
            message_event(message, now=datetime.fromtimestamp(timestamp, UTC)),
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        headers = {
            "content-type": "application/json",
            "webhook-id": message.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self.config.secret, message.id, timestamp, body),
        }
        return body, headers

    def _result(self, response: HttpResponse, message: Message) -> SendResult:
        """2xx is sent; 3xx and 410 are permanent; others by HTTP class."""
        excerpt = response_excerpt(response.text, secrets=(self.config.secret,))
        if 200 <= response.status_code < 300:
            receipt = json_object(response).get("id")
            return SendResult(
                "sent",
                provider_message_id=str(receipt) if receipt else message.id,
                raw=excerpt,
            )
        if 300 <= response.status_code < 400:
            raise PermanentProviderError(
                "redirects are not followed",
                provider=self.name,
                status_code=response.status_code,
                excerpt=excerpt,
            )
        raise_for_status_class(response, provider=self.name, secrets=(self.config.secret,))
        raise ProviderError("unexpected answer", provider=self.name)  # unreachable: 1xx

    async def send(self, message: Message) -> SendResult:
        """POST the signed message event (the client's transport guards the destination)."""
        ensure_channel(self.name, self.channels, message)
        body, headers = self._payload(message, timestamp=int(time.time()))
        response = await request(
            self._client.http,
            "POST",
            self.config.url,
            provider=self.name,
            content=body,
            headers=headers,
        )
        return self._result(response, message)

    async def check(self) -> None:
        """Only the destination check: POSTing a test event would trigger the receiver."""
        parts = urlsplit(self.config.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            await self._guard.resolve(parts.hostname or "", port)
        except DestinationRefusedError as exc:
            raise PermanentProviderError(str(exc), provider=self.name) from None
        except OSError:
            raise TransientProviderError(
                "destination does not resolve", provider=self.name
            ) from None

    async def aclose(self) -> None:
        """Close the HTTP client if this provider created it."""
        await self._client.aclose()


KIND = ProviderKind(
    kind="webhook",
    role="sender",
    channels=CHANNELS,
    config_type=WebhookConfig,
    description="POSTs the rendered message as JSON, signed with Standard Webhooks.",
    factory=lambda name, config, ctx: WebhookProvider(
        name, config, http_client=ctx.http_client, guard=ctx.guard
    ),
    callbacks=None,
)
