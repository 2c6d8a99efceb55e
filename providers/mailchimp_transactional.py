"""`mailchimp_transactional`: email through Mailchimp Transactional (Mandrill) `messages/send`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from providers.callbacks import CallbackRequest, StatusCallbacks
from providers.config import DESTINATION_URL, SECRET
from providers.delivery_events import DeliveryEvent, parse_mandrill_events
from providers.errors import (
    PermanentProviderError,
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
    retry_after_seconds,
)
from providers.kind import ProviderKind
from providers.list_unsubscribe import unsubscribe_headers
from providers.message import Message, RejectReason, SendResult
from providers.protocol import ensure_channel
from providers.signatures import verify_mandrill_signature

__all__ = ["KIND", "MailchimpTransactionalConfig", "MailchimpTransactionalProvider"]

SERVED_CHANNELS: frozenset[str] = frozenset({"email"})
SIGNATURE_HEADER = "X-Mandrill-Signature"

# Mandrill's HTTP status is not reliable across API versions (Invalid_Key is 401 or 500), so
# errors are classified by their `name`.
TRANSIENT_NAMES = frozenset({"GeneralError", "ServiceUnavailable", "RequestLimitExceeded"})
PERMANENT_NAMES = frozenset(
    {
        "Invalid_Key",
        "ValidationError",
        "PaymentRequired",
        "Unknown_Subaccount",
        "Unknown_Template",
        "Unknown_Message",
    }
)

# `reject_reason` values we can name; the others (invalid-sender, test-mode-limit, unsigned)
# are about our account, not the recipient: "other".
REJECT_REASONS: dict[str, RejectReason] = {
    "hard-bounce": "bounced",
    "soft-bounce": "bounced",
    "unsub": "unsubscribed",
    "invalid": "invalid",
    "spam": "blocked",
    "custom": "blocked",
    "rule": "blocked",
}


@dataclass(frozen=True, slots=True)
class MailchimpTransactionalConfig:
    """Config of `mailchimp_transactional`.

    Attributes:
        api_key: secret; sent inside the JSON body as `key`.
        from_email, from_name, reply_to: default sender.
        base_url: API root; the method path and `.json` are appended.
        subaccount: send through this subaccount (it must exist).
        track_opens, track_clicks: Mandrill tracking switches (None: account default).
        unsubscribe_mailto: address added to List-Unsubscribe after the URL.
        webhook_key: secret; the key Mandrill shows for our status webhook (signs its events).
    """

    api_key: str = field(repr=False, metadata=SECRET)
    from_email: str
    from_name: str | None = None
    reply_to: str | None = None
    base_url: str = field(default="https://mandrillapp.com/api/1.3", metadata=DESTINATION_URL)
    subaccount: str | None = None
    track_opens: bool | None = None
    track_clicks: bool | None = None
    unsubscribe_mailto: str | None = None
    timeout: float = 30.0
    webhook_key: str | None = field(default=None, repr=False, metadata=SECRET)

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("api_key is required")
        if "@" not in self.from_email:
            raise ValueError("from_email must be an email address")
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError("base_url must be an http(s) URL")


class MailchimpTransactionalProvider:
    """One `messages/send` call per message, one recipient per call."""

    kind = "mailchimp_transactional"
    channels = SERVED_CHANNELS

    def __init__(
        self,
        name: str,
        config: MailchimpTransactionalConfig,
        *,
        http_client: GuardedClient | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._client = HttpClientOwner(http_client, timeout=config.timeout)
        self._secrets = (config.api_key,)
        self._base = config.base_url.rstrip("/")

    def _payload(self, message: Message) -> dict[str, Any]:
        """The JSON body of `messages/send` (with the key, as the API wants it)."""
        headers = dict(unsubscribe_headers(message, mailto=self.config.unsubscribe_mailto))
        headers.update(message.headers)
        reply_to = message.reply_to or self.config.reply_to
        if reply_to:
            headers["Reply-To"] = reply_to
        to: dict[str, str] = {"email": message.to, "type": "to"}
        if message.to_name:
            to["name"] = message.to_name
        body: dict[str, Any] = {
            "from_email": message.from_email or self.config.from_email,
            "to": [to],
            "subject": message.subject or "",
            "headers": headers,
            "tags": list(message.tags),
            # Our delivery id travels with the message so webhook events can be matched to it.
            "metadata": {**message.metadata, "delivery_id": message.id},
            "preserve_recipients": False,
        }
        from_name = message.from_name or self.config.from_name
        if from_name:
            body["from_name"] = from_name
        if message.html:
            body["html"] = message.html
        if message.text:
            body["text"] = message.text
        if self.config.subaccount:
            body["subaccount"] = self.config.subaccount
        if self.config.track_opens is not None:
            body["track_opens"] = self.config.track_opens
        if self.config.track_clicks is not None:
            body["track_clicks"] = self.config.track_clicks
        return {"key": self.config.api_key, "message": body, "async": False}

    def _raise_error(self, response: HttpResponse) -> None:
        excerpt = response_excerpt(response.text, secrets=self._secrets)
        error = json_object(response)
        name = error.get("name")
        message = f"HTTP {response.status_code}"
        status = response.status_code
        if name in TRANSIENT_NAMES or (name is None and status == 429):
            raise TransientProviderError(
                message,
                provider=self.name,
                status_code=status,
                code=name or None,
                excerpt=excerpt,
                retry_after=retry_after_seconds(response.headers),
            )
        if name in PERMANENT_NAMES or "invalid api key" in response.text.lower():
            raise PermanentProviderError(
                message, provider=self.name, status_code=status, code=name, excerpt=excerpt
            )
        raise_for_status_class(
            response,
            provider=self.name,
            secrets=self._secrets,
            code=str(name) if name else None,
            message=message,
        )
        # A 2xx error object with an unknown name: refuse to guess that it went out.
        raise PermanentProviderError(
            message, provider=self.name, status_code=status, code=name, excerpt=excerpt
        )

    def _result(self, response: HttpResponse) -> SendResult:
        """The recipient's status as a SendResult; error objects raise by their `name`."""
        try:
            data = response.json()
        except ValueError:
            data = None
        if not 200 <= response.status_code < 300 or not isinstance(data, list):
            self._raise_error(response)
        assert isinstance(data, list)
        excerpt = response_excerpt(response.text, secrets=self._secrets)
        if not data or not isinstance(data[0], dict):
            raise PermanentProviderError(
                "empty recipient list in answer", provider=self.name, excerpt=excerpt
            )
        entry: dict[str, Any] = data[0]
        status = entry.get("status")
        message_id = entry.get("_id")
        if status == "sent":
            return SendResult(
                "sent", provider_message_id=message_id, raw=excerpt, provider_status=status
            )
        if status in ("queued", "scheduled"):
            return SendResult(
                "queued",
                provider_message_id=message_id,
                reason=entry.get("queued_reason") or status,
                raw=excerpt,
                provider_status=status,
            )
        if status == "invalid":
            return SendResult(
                "rejected",
                provider_message_id=message_id,
                reason="invalid",
                reject_reason="invalid",
                provider_status=status,
            )
        if status == "rejected":
            reason = entry.get("reject_reason")
            return SendResult(
                "rejected",
                provider_message_id=message_id,
                reason=reason or "rejected",
                raw=excerpt,
                reject_reason=REJECT_REASONS.get(str(reason), "other"),
                provider_status=status,
            )
        raise PermanentProviderError(
            f"unknown recipient status {status!r}", provider=self.name, excerpt=excerpt
        )

    async def send(self, message: Message) -> SendResult:
        """Send one email; rejected and invalid recipients come back as rejected results."""
        ensure_channel(self.name, self.channels, message)
        response = await request(
            self._client.http,
            "POST",
            f"{self._base}/messages/send.json",
            provider=self.name,
            json=self._payload(message),
        )
        return self._result(response)

    async def check(self) -> None:
        """`users/ping`: answers "PONG!" for a valid key."""
        response = await request(
            self._client.http,
            "POST",
            f"{self._base}/users/ping.json",
            provider=self.name,
            json={"key": self.config.api_key},
        )
        if not 200 <= response.status_code < 300 or json_object(response).get("status"):
            self._raise_error(response)

    async def aclose(self) -> None:
        """Close the HTTP client if this provider created it."""
        await self._client.aclose()


def _verify_callback(request: CallbackRequest, webhook_key: str) -> bool:
    signature = request.header(SIGNATURE_HEADER)
    return verify_mandrill_signature(request.url, request.form(), signature, webhook_key)


def _parse_callback(request: CallbackRequest) -> list[DeliveryEvent]:
    return parse_mandrill_events(request.form().get("mandrill_events", [""])[0])


KIND = ProviderKind(
    kind="mailchimp_transactional",
    role="sender",
    channels=SERVED_CHANNELS,
    config_type=MailchimpTransactionalConfig,
    description="Email through Mailchimp Transactional (Mandrill) messages/send.",
    factory=lambda name, config, ctx: MailchimpTransactionalProvider(
        name, config, http_client=ctx.http_client
    ),
    callbacks=StatusCallbacks(
        signing_key_field="webhook_key",
        signature_header=SIGNATURE_HEADER,
        verify=_verify_callback,
        parse=_parse_callback,
    ),
)
