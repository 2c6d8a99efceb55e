"""`braze`: email and SMS through Braze `/messages/send` to existing users (external ids)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from providers.config import DESTINATION_URL, SECRET
from providers.errors import PermanentProviderError, ProviderError, response_excerpt
from providers.http_transport import (
    GuardedClient,
    HttpClientOwner,
    HttpResponse,
    json_object,
    raise_for_status_class,
    request,
)
from providers.identity import Identity, identity_field
from providers.kind import ProviderKind
from providers.list_unsubscribe import unsubscribe_headers
from providers.message import CHANNELS, Message, SendResult
from providers.protocol import ensure_channel

__all__ = [
    "KIND",
    "MAX_EXTERNAL_IDS",
    "BrazeConfig",
    "BrazeProvider",
    "accepted_result",
    "sender_address",
]

MAX_EXTERNAL_IDS = 50
# RFC 5322 specials: a display name holding one is quoted, as `formataddr` quotes it.
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
# At most this many of Braze's non-fatal errors are kept on a result, each cut to an excerpt.
_MAX_ERRORS = 10


def sender_address(name: str, address: str) -> str:
    """`Display Name <address>`, as Braze's email object wants `from`.

    Braze reads a JSON string, not a mail header: a non-ASCII name goes as it is. An RFC 2047
    encoded word (what `formataddr` makes of "Récompenses") would be shown to the recipient
    literally as `=?utf-8?q?R=C3=A9compenses?=`.
    """
    name = " ".join(name.split())  # no line breaks or runs of spaces
    if _SPECIALS.search(name):
        name = '"{}"'.format(name.replace("\\", "\\\\").replace('"', '\\"'))
    return f"{name} <{address}>"


def accepted_result(
    body: dict[str, Any], excerpt: str, secrets: Iterable[str], message_id: str | None = None
) -> SendResult:
    """A 2xx `success` (or maintenance-time `queued`) answer, with its non-fatal `errors`.

    Braze answers `{"message": "success", "errors": [...]}` when a call was accepted but
    something in it was not (braze.com/docs/api/errors, "Server responses": the messages the
    errors do not affect are still sent). The errors are kept, so the message is never
    recorded as plainly sent: the reason names them.
    """
    raw_errors = body.get("errors")
    items = raw_errors if isinstance(raw_errors, list) else [raw_errors] if raw_errors else []
    errors = tuple(
        response_excerpt(
            item if isinstance(item, str) else json.dumps(item, sort_keys=True), secrets=secrets
        )
        for item in items[:_MAX_ERRORS]
    )
    return SendResult(
        "queued",
        provider_message_id=message_id,
        reason=f"braze reported errors: {'; '.join(errors)}" if errors else None,
        raw=excerpt,
        provider_status=str(body.get("message")),
        errors=errors,
    )


@dataclass(frozen=True, slots=True)
class BrazeConfig:
    """Config of `braze`.

    Attributes:
        api_key: secret REST API key with the `messages.send` permission.
        base_url: the workspace's REST endpoint, e.g. https://rest.iad-01.braze.com.
        email_app_id, sms_app_id: the app identifiers for each channel (required to serve it).
        sms_subscription_group_id: required for SMS.
        from_email, from_name, reply_to: email sender (must be configured in Braze).
        campaign_id, email_variation_id, sms_variation_id: for campaign statistics.
        recipient_subscription_state: "subscribed" (default), "opted_in" or "all".
        identity: the customer value Braze knows the user by, sent in ``external_user_ids``:
            ``source_id`` (default), ``email`` or ``metadata.<key>``.
    """

    api_key: str = field(repr=False, metadata=SECRET)
    base_url: str = field(metadata=DESTINATION_URL)
    email_app_id: str | None = None
    sms_app_id: str | None = None
    sms_subscription_group_id: str | None = None
    from_email: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    campaign_id: str | None = None
    email_variation_id: str | None = None
    sms_variation_id: str | None = None
    recipient_subscription_state: Literal["subscribed", "opted_in", "all"] = "subscribed"
    identity: str = identity_field(default="source_id", fills="external_id")
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("api_key is required")
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError("base_url must be an http(s) URL")
        if self.email_app_id and not self.from_email:
            raise ValueError("from_email is required for email")
        if self.sms_app_id and not self.sms_subscription_group_id:
            raise ValueError("sms_subscription_group_id is required for SMS")
        if not (self.email_app_id or self.sms_app_id):
            raise ValueError("give email_app_id, sms_app_id or both")
        Identity(self.identity)

    @property
    def channels(self) -> frozenset[str]:
        """Channels with their app id configured."""
        served = set()
        if self.email_app_id:
            served.add("email")
        if self.sms_app_id:
            served.add("sms")
        return frozenset(served)


class BrazeProvider:
    """Sends to Braze users; identical content for many users goes in one call (50 ids each)."""

    kind = "braze"

    def __init__(
        self, name: str, config: BrazeConfig, *, http_client: GuardedClient | None = None
    ) -> None:
        self.name = name
        self.config = config
        self.channels = config.channels
        self._client = HttpClientOwner(http_client, timeout=config.timeout)
        self._url = config.base_url.rstrip("/") + "/messages/send"

    def _content(self, message: Message) -> dict[str, Any]:
        """The `messages` object for one message (recipient-independent)."""
        c = self.config
        if message.channel == "sms":
            sms: dict[str, Any] = {
                "app_id": c.sms_app_id,
                "subscription_group_id": c.sms_subscription_group_id,
                "body": message.body,
            }
            if c.sms_variation_id:
                sms["message_variation_id"] = c.sms_variation_id
            return {"sms": sms}
        sender = message.from_email or c.from_email or ""
        email: dict[str, Any] = {
            "app_id": c.email_app_id,
            "subject": message.subject or "",
            "from": sender_address(message.from_name or c.from_name or sender, sender),
            "body": message.html or message.text,
            "extras": {**message.metadata, "delivery_id": message.id},
        }
        if message.text:
            email["plaintext_body"] = message.text
        reply_to = message.reply_to or c.reply_to
        if reply_to:
            email["reply_to"] = reply_to
        headers = {**unsubscribe_headers(message), **message.headers}
        if headers:
            email["headers"] = headers
        if c.email_variation_id:
            email["message_variation_id"] = c.email_variation_id
        return {"email": email}

    def _payload(self, messages: Sequence[Message]) -> dict[str, Any]:
        """One `/messages/send` body for messages that share their content."""
        ids = [self._external_id(m) for m in messages]
        if not 1 <= len(ids) <= MAX_EXTERNAL_IDS:
            raise ValueError(f"a call takes 1 to {MAX_EXTERNAL_IDS} external ids")
        body: dict[str, Any] = {
            "external_user_ids": ids,
            "recipient_subscription_state": self.config.recipient_subscription_state,
            "messages": self._content(messages[0]),
        }
        if len(messages) > 1:
            # One body serves many deliveries: a single delivery id in extras would mislead.
            body["messages"].get("email", {}).get("extras", {}).pop("delivery_id", None)
        if self.config.campaign_id:
            body["campaign_id"] = self.config.campaign_id
        return body

    def _external_id(self, message: Message) -> str:
        if not message.external_user_id:
            raise PermanentProviderError(
                "braze sends to existing users: external_user_id is required", provider=self.name
            )
        return message.external_user_id

    def _result(self, response: HttpResponse) -> SendResult:
        """Braze's `success` means accepted for sending: the result is `queued`."""
        secrets = (self.config.api_key,)
        body = json_object(response)
        raise_for_status_class(
            response,
            provider=self.name,
            secrets=secrets,
        )
        excerpt = response_excerpt(response.text, secrets=secrets)
        if body.get("message") not in ("success", "queued"):
            raise PermanentProviderError("unexpected answer", provider=self.name, excerpt=excerpt)
        dispatch = body.get("dispatch_id")
        return accepted_result(body, excerpt, secrets, str(dispatch) if dispatch else None)

    async def _call(self, messages: Sequence[Message]) -> SendResult:
        response = await request(
            self._client.http,
            "POST",
            self._url,
            provider=self.name,
            json=self._payload(messages),
            headers={"Authorization": f"Bearer {self.config.api_key}"},
        )
        return self._result(response)

    async def send(self, message: Message) -> SendResult:
        """Send one message to one Braze user."""
        ensure_channel(self.name, self.channels, message)
        self._external_id(message)
        return await self._call([message])

    async def send_many(self, messages: Sequence[Message]) -> list[SendResult | ProviderError]:
        """Group messages with identical content, 50 users per call; one outcome per message.

        A failed call fails only its own messages: the others were already sent, so the caller
        must retry per message rather than the whole batch.
        """
        outcomes: list[SendResult | ProviderError | None] = [None] * len(messages)
        groups: dict[str, list[int]] = {}
        for index, message in enumerate(messages):
            try:
                ensure_channel(self.name, self.channels, message)
                self._external_id(message)
            except ProviderError as exc:
                outcomes[index] = exc
                continue
            key = json.dumps(self._content_key(message), sort_keys=True, default=str)
            groups.setdefault(key, []).append(index)
        for indexes in groups.values():
            for start in range(0, len(indexes), MAX_EXTERNAL_IDS):
                chunk = indexes[start : start + MAX_EXTERNAL_IDS]
                try:
                    outcome: SendResult | ProviderError = await self._call(
                        [messages[i] for i in chunk]
                    )
                except ProviderError as exc:
                    outcome = exc
                for i in chunk:
                    outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    def _content_key(self, message: Message) -> dict[str, Any]:
        content = self._content(message)
        # The delivery id differs per message but does not change what Braze renders.
        content.get("email", {}).get("extras", {}).pop("delivery_id", None)
        return content

    async def check(self) -> None:
        """Braze has no credential check for a send-only key; nothing is verified."""

    async def aclose(self) -> None:
        """Close the HTTP client if this provider created it."""
        await self._client.aclose()


KIND = ProviderKind(
    kind="braze",
    role="sender",
    channels=CHANNELS,
    config_type=BrazeConfig,
    description="Email and SMS through Braze /messages/send to existing users (external ids).",
    factory=lambda name, config, ctx: BrazeProvider(name, config, http_client=ctx.http_client),
    callbacks=None,
)
