"""`smtp`: email through any SMTP submission server, over a pooled connection."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field, replace
from typing import Literal

import aiosmtplib

from providers import standard_webhooks
from providers.address_guard import AddressGuard, DestinationRefusedError
from providers.callbacks import CallbackRequest, StatusCallbacks
from providers.config import DESTINATION_HOST, secret_field
from providers.delivery_events import parse_bounce_webhook
from providers.errors import (
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    response_excerpt,
)
from providers.kind import ProviderKind
from providers.message import Message, SendResult
from providers.protocol import ensure_channel
from providers.signatures import verify_bounce_webhook
from providers.smtp_mime import build_mime, idna_address
from providers.smtp_pool import SmtpConnectionPool, SmtpServer

__all__ = ["KIND", "SmtpConfig", "SmtpProvider", "build_mime"]

SERVED_CHANNELS: frozenset[str] = frozenset({"email"})

Security = Literal["starttls", "tls", "none"]
DEFAULT_PORTS = {"tls": 465, "starttls": 587, "none": 25}
_CONNECTION_ERRORS = (
    aiosmtplib.SMTPException,
    ssl.SSLError,
    OSError,
    TimeoutError,
    DestinationRefusedError,
)


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Config of `smtp`.

    Attributes:
        host, port: the submission server; port defaults to 465 (tls), 587 (starttls), 25 (none).
        security: "starttls" (required upgrade), "tls" (implicit TLS) or "none" (local relays).
        username, password: AUTH credentials; `password` is secret.
        from_email, from_name, reply_to: default sender.
        pool_size: open connections kept and reused.
        timeout: seconds per SMTP command.
        validate_certs: verify the server certificate (leave on outside development).
        ca_cert_pem: extra trusted CA certificate(s) in PEM, for a private relay.
        message_id_domain: the right-hand side of Message-ID (default: the from domain).
        unsubscribe_mailto: address added to List-Unsubscribe after the URL.
        bounce_webhook_secret: secret (`whsec_…`) of the signed bounce webhook that reports
            this relay's bounces (docs/providers.md, inbound status callbacks).
    """

    host: str = field(metadata=DESTINATION_HOST)
    from_email: str
    port: int | None = None
    security: Security = "starttls"
    username: str | None = None
    password: str | None = secret_field(default=None)
    from_name: str | None = None
    reply_to: str | None = None
    pool_size: int = 4
    timeout: float = 30.0
    validate_certs: bool = True
    ca_cert_pem: str | None = None
    message_id_domain: str | None = None
    unsubscribe_mailto: str | None = None
    local_hostname: str | None = None
    bounce_webhook_secret: str | None = secret_field(default=None)

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("host is required")
        if "@" not in self.from_email:
            raise ValueError("from_email must be an email address")
        idna_address(self.from_email, "from_email")  # a domain SMTP cannot carry fails here
        if self.port is not None and not 0 < self.port < 65536:
            raise ValueError("port must be between 1 and 65535")
        if not 1 <= self.pool_size <= 100:
            raise ValueError("pool_size must be between 1 and 100")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if bool(self.username) != bool(self.password):
            raise ValueError("username and password go together")
        if self.bounce_webhook_secret is not None:
            try:
                standard_webhooks.decode_secret(self.bounce_webhook_secret)
            except ValueError:
                raise ValueError("bounce_webhook_secret must be whsec_ then base64") from None

    def server(self) -> SmtpServer:
        """Connection parameters for the pool."""
        context: ssl.SSLContext | None = None
        if self.security != "none":
            context = ssl.create_default_context(cadata=self.ca_cert_pem or None)
            if not self.validate_certs:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        return SmtpServer(
            host=self.host,
            port=self.port or DEFAULT_PORTS[self.security],
            security=self.security,
            username=self.username,
            password=self.password,
            timeout=self.timeout,
            tls_context=context,
            local_hostname=self.local_hostname,
        )


class SmtpProvider:
    """Sends email over SMTP through a bounded, reused connection pool."""

    kind = "smtp"
    channels = SERVED_CHANNELS

    def __init__(
        self,
        name: str,
        config: SmtpConfig,
        *,
        pool: SmtpConnectionPool | None = None,
        guard: AddressGuard | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._owns_pool = pool is None
        self.pool = pool or SmtpConnectionPool(config.server(), size=config.pool_size, guard=guard)
        self._domain = config.message_id_domain or idna_address(config.from_email).split("@")[-1]

    def _error(self, exc: Exception) -> ProviderError:
        """Map an aiosmtplib/ssl/OS exception onto the error tree."""
        secrets = (self.config.password,)
        if isinstance(exc, DestinationRefusedError):
            return PermanentProviderError(str(exc), provider=self.name)
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            text = response_excerpt(exc.message, secrets=secrets)
            kind = type(exc).__name__
            if 400 <= exc.code < 500 or exc.code < 200:
                return TransientProviderError(
                    kind, provider=self.name, status_code=exc.code, excerpt=text
                )
            return PermanentProviderError(
                kind, provider=self.name, status_code=exc.code, excerpt=text
            )
        if isinstance(exc, ssl.SSLCertVerificationError):
            return PermanentProviderError("TLS certificate not trusted", provider=self.name)
        if isinstance(exc, aiosmtplib.SMTPNotSupported):
            return PermanentProviderError(
                "server lacks a required extension",
                provider=self.name,
                excerpt=response_excerpt(str(exc), secrets=secrets),
            )
        if isinstance(
            exc,
            aiosmtplib.SMTPServerDisconnected
            | aiosmtplib.SMTPConnectError
            | aiosmtplib.SMTPTimeoutError
            | OSError
            | TimeoutError,
        ):
            return TransientProviderError(
                f"connection failed ({type(exc).__name__})", provider=self.name
            )
        # e.g. "The SMTP AUTH extension is not supported by this server": a config problem.
        return PermanentProviderError(
            type(exc).__name__,
            provider=self.name,
            excerpt=response_excerpt(str(exc), secrets=secrets),
        )

    async def send(self, message: Message) -> SendResult:
        """Send one email; 4xx replies raise transient, 5xx permanent errors.

        An internationalised domain goes as IDNA A-labels; a non-ASCII local part needs the
        server's SMTPUTF8 (RFC 6531) and fails permanently, saying so, without it.
        """
        ensure_channel(self.name, self.channels, message)
        try:
            to = idna_address(message.to, "recipient")
            sender = idna_address(message.from_email or self.config.from_email, "sender")
            utf8 = not (to.isascii() and sender.isascii())
            if to != message.to or sender != (message.from_email or self.config.from_email):
                # The headers name the addresses as the envelope does: domains as A-labels.
                message = replace(message, to=to, from_email=sender)
            built = build_mime(
                message,
                from_email=sender,
                from_name=self.config.from_name,
                reply_to=self.config.reply_to,
                message_id_domain=self._domain,
                unsubscribe_mailto=self.config.unsubscribe_mailto,
                utf8=utf8,
            )
        except (ValueError, TypeError) as exc:
            raise PermanentProviderError(f"invalid message: {exc}", provider=self.name) from None
        refused: aiosmtplib.SMTPRecipientRefused | None = None
        no_smtputf8 = False
        try:
            async with self.pool.connection() as client:
                try:
                    _errors, reply = await client.sendmail(
                        sender, [to], built.data, mail_options=["SMTPUTF8"] if utf8 else None
                    )
                except aiosmtplib.SMTPRecipientsRefused as exc:
                    # aiosmtplib has already sent RSET: the connection stays usable, unless 421.
                    refused = exc.recipients[0]
                    if refused.code == 421:
                        self.pool.drop(client)
                except aiosmtplib.SMTPNotSupported:
                    # Raised before MAIL FROM went out: the connection stays usable.
                    no_smtputf8 = True
        except _CONNECTION_ERRORS as exc:
            raise self._error(exc) from None
        if no_smtputf8:
            raise PermanentProviderError(
                "the address has a non-ASCII local part, which needs SMTPUTF8, "
                "and the SMTP server does not offer it",
                provider=self.name,
            )
        if refused is not None:
            raise self._error(refused)
        return SendResult(
            status="sent",
            provider_message_id=built.message_id,
            raw=response_excerpt(reply),
        )

    async def check(self) -> None:
        """Connect, upgrade to TLS and log in (the pool does both), then NOOP."""
        try:
            async with self.pool.connection() as client:
                await client.noop()
        except _CONNECTION_ERRORS as exc:
            raise self._error(exc) from None

    async def aclose(self) -> None:
        """Close the pool if this provider created it."""
        if self._owns_pool:
            await self.pool.aclose()


def _verify_bounce_report(request: CallbackRequest, secret: str) -> bool:
    return verify_bounce_webhook(secret, request.headers, request.body)


KIND = ProviderKind(
    kind="smtp",
    role="sender",
    channels=SERVED_CHANNELS,
    config_type=SmtpConfig,
    description="Email through an SMTP submission server (STARTTLS or implicit TLS, pooled).",
    factory=lambda name, config, ctx: SmtpProvider(
        name, config, pool=ctx.smtp_pool, guard=ctx.guard
    ),
    # A relay reports its bounces through the signed bounce webhook (docs/providers.md).
    callbacks=StatusCallbacks(
        signing_key_field="bounce_webhook_secret",
        signature_header="webhook-signature",
        verify=_verify_bounce_report,
        parse=lambda request: parse_bounce_webhook(request.body),
    ),
)
