"""`twilio`: SMS through Twilio Programmable Messaging (or any Twilio-compatible API)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from providers.callbacks import CallbackRequest, StatusCallbacks
from providers.config import DESTINATION_URL, secret_field
from providers.delivery_events import DeliveryEvent, parse_twilio_status_callback
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
from providers.message import Message, RejectReason, SendResult
from providers.protocol import ensure_channel
from providers.signatures import verify_twilio_signature

__all__ = ["KIND", "TwilioConfig", "TwilioProvider"]

SERVED_CHANNELS: frozenset[str] = frozenset({"sms"})
SIGNATURE_HEADER = "X-Twilio-Signature"

# Only a small explicit table: Twilio keeps splitting codes, so unknown ones go by HTTP class.
REJECTED_CODES: dict[int, RejectReason] = {21211: "invalid", 21610: "unsubscribed"}
PERMANENT_CODES = {21614: "not a mobile number", 20003: "authentication failed"}
TRANSIENT_CODES = {20429: "too many requests"}
QUEUED_STATUSES = frozenset({"accepted", "queued", "scheduled"})
SENT_STATUSES = frozenset({"sending", "sent", "delivered", "read"})
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_API_KEY_SID = re.compile(r"^SK[0-9a-fA-F]{32}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")


def _code_phrase(code: object) -> str | None:
    """Our phrase for an error code we know (the answer's own text is never repeated)."""
    if not isinstance(code, int):
        return None
    return PERMANENT_CODES.get(code) or TRANSIENT_CODES.get(code)


@dataclass(frozen=True, slots=True)
class TwilioConfig:
    """Config of `twilio`.

    Attributes:
        account_sid: AC…, always in the URL.
        auth_token: secret; Basic auth with the account SID (or use an API key instead).
        api_key_sid, api_key_secret: SK… and its secret; preferred in production.
        from_number: sender (E.164 or alphanumeric ID) when no messaging service is used.
        messaging_service_sid: MG…; Twilio picks the sender from the service's pool.
        status_callback_url: default StatusCallback when the message gives none.
        base_url: change it for a Twilio-compatible API.
        timeout: seconds per request.
        smart_encoded: let Twilio replace Unicode look-alikes with GSM-7 characters.
    """

    account_sid: str
    auth_token: str | None = secret_field(default=None)
    api_key_sid: str | None = None
    api_key_secret: str | None = secret_field(default=None)
    from_number: str | None = None
    messaging_service_sid: str | None = None
    status_callback_url: str | None = None
    base_url: str = field(default="https://api.twilio.com", metadata=DESTINATION_URL)
    timeout: float = 30.0
    smart_encoded: bool | None = None

    def __post_init__(self) -> None:
        if not _ACCOUNT_SID.match(self.account_sid):
            raise ValueError("account_sid must look like AC followed by 32 hex digits")
        if self.api_key_sid is not None and not _API_KEY_SID.match(self.api_key_sid):
            raise ValueError("api_key_sid must look like SK followed by 32 hex digits")
        if bool(self.api_key_sid) != bool(self.api_key_secret):
            raise ValueError("api_key_sid and api_key_secret go together")
        if not (self.auth_token or self.api_key_sid):
            raise ValueError("give auth_token or api_key_sid and api_key_secret")
        if not (self.from_number or self.messaging_service_sid):
            raise ValueError("give from_number or messaging_service_sid")
        if self.messaging_service_sid and not _SERVICE_SID.match(self.messaging_service_sid):
            raise ValueError("messaging_service_sid must look like MG followed by 32 hex digits")
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError("base_url must be an http(s) URL")

    @property
    def credentials(self) -> tuple[str, str]:
        """The Basic auth pair: the API key if configured, else account SID and auth token."""
        if self.api_key_sid and self.api_key_secret:
            return self.api_key_sid, self.api_key_secret
        return self.account_sid, self.auth_token or ""


class TwilioProvider:
    """Creates one Message resource per SMS."""

    kind = "twilio"
    channels = SERVED_CHANNELS

    def __init__(
        self, name: str, config: TwilioConfig, *, http_client: GuardedClient | None = None
    ) -> None:
        self.name = name
        self.config = config
        self._client = HttpClientOwner(http_client, timeout=config.timeout)
        self._secrets = (config.auth_token, config.api_key_secret)
        base = config.base_url.rstrip("/")
        self._account_url = f"{base}/2010-04-01/Accounts/{config.account_sid}"

    def _payload(self, message: Message) -> list[tuple[str, str]]:
        """The form fields of the create-message call, in wire names."""
        fields = [("To", message.to), ("Body", message.body or "")]
        if self.config.messaging_service_sid:
            fields.append(("MessagingServiceSid", self.config.messaging_service_sid))
        if self.config.from_number and not self.config.messaging_service_sid:
            fields.append(("From", self.config.from_number))
        callback = message.status_callback_url or self.config.status_callback_url
        if callback:
            fields.append(("StatusCallback", callback))
        if self.config.smart_encoded is not None:
            fields.append(("SmartEncoded", "true" if self.config.smart_encoded else "false"))
        return fields

    def _result(self, response: HttpResponse) -> SendResult:
        """Turn Twilio's answer into a SendResult, or raise by error code and HTTP class."""
        excerpt = response_excerpt(response.text, secrets=self._secrets)
        body = json_object(response)
        if 200 <= response.status_code < 300:
            sid = body.get("sid")
            status = str(body.get("status") or "queued")
            error_code = body.get("error_code")
            if status in QUEUED_STATUSES:
                return SendResult(
                    "queued", provider_message_id=sid, raw=excerpt, provider_status=status
                )
            if status in SENT_STATUSES:
                return SendResult(
                    "sent", provider_message_id=sid, raw=excerpt, provider_status=status
                )
            reason = REJECTED_CODES.get(error_code) if isinstance(error_code, int) else None
            return SendResult(
                "rejected",
                provider_message_id=sid,
                reason=reason or str(error_code or status),
                raw=excerpt,
                reject_reason=reason or "other",
                provider_status=status,
            )
        code = body.get("code")
        message = _code_phrase(code) or f"HTTP {response.status_code}"
        if isinstance(code, int):
            if code in REJECTED_CODES:
                reason = REJECTED_CODES[code]
                return SendResult("rejected", reason=reason, raw=excerpt, reject_reason=reason)
            if code in PERMANENT_CODES:
                raise PermanentProviderError(
                    message,
                    provider=self.name,
                    status_code=response.status_code,
                    code=code,
                    excerpt=excerpt,
                )
            if code in TRANSIENT_CODES:
                raise TransientProviderError(
                    message,
                    provider=self.name,
                    status_code=response.status_code,
                    code=code,
                    excerpt=excerpt,
                    retry_after=retry_after_seconds(response.headers),
                )
        raise_for_status_class(
            response,
            provider=self.name,
            secrets=self._secrets,
            code=code if isinstance(code, int | str) else None,
            message=message,
        )
        raise PermanentProviderError(  # a 1xx/3xx answer: not something Twilio sends
            f"unexpected HTTP {response.status_code}", provider=self.name, excerpt=excerpt
        )

    async def send(self, message: Message) -> SendResult:
        """Create the message; 21211/21610 come back as rejected results."""
        ensure_channel(self.name, self.channels, message)
        response = await request(
            self._client.http,
            "POST",
            f"{self._account_url}/Messages.json",
            provider=self.name,
            data=dict(self._payload(message)),
            auth=self.config.credentials,
            headers={"Accept": "application/json"},
        )
        return self._result(response)

    async def check(self) -> None:
        """Fetch the account resource: proves the credentials and the account SID."""
        response = await request(
            self._client.http,
            "GET",
            f"{self._account_url}.json",
            provider=self.name,
            auth=self.config.credentials,
            headers={"Accept": "application/json"},
        )
        body = json_object(response)
        code = body.get("code")
        raise_for_status_class(
            response,
            provider=self.name,
            secrets=self._secrets,
            code=code if isinstance(code, int | str) else None,
            message=_code_phrase(code),
        )

    async def aclose(self) -> None:
        """Close the HTTP client if this provider created it."""
        await self._client.aclose()


def _verify_callback(request: CallbackRequest, auth_token: str) -> bool:
    signature = request.header(SIGNATURE_HEADER)
    return verify_twilio_signature(request.url, request.form(), signature, auth_token)


def _parse_callback(request: CallbackRequest) -> list[DeliveryEvent]:
    return [parse_twilio_status_callback({k: v[0] for k, v in request.form().items()})]


KIND = ProviderKind(
    kind="twilio",
    role="sender",
    channels=SERVED_CHANNELS,
    config_type=TwilioConfig,
    description="SMS through Twilio Programmable Messaging or a Twilio-compatible API.",
    factory=lambda name, config, ctx: TwilioProvider(name, config, http_client=ctx.http_client),
    callbacks=StatusCallbacks(
        signing_key_field="auth_token",
        signature_header=SIGNATURE_HEADER,
        verify=_verify_callback,
        parse=_parse_callback,
    ),
)
