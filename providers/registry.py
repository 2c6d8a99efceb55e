"""The explicit registry of provider kinds, and `build_provider` to make one from its config."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from providers.activecampaign import ActiveCampaignConfig, ActiveCampaignSync
from providers.address_guard import AddressGuard
from providers.braze import BrazeConfig, BrazeProvider
from providers.braze_attributes import BrazeAttributesConfig, BrazeAttributesSync
from providers.capture import CaptureConfig, CaptureProvider
from providers.config import config_schema, destination_fields, parse_config, secret_fields
from providers.errors import ProviderConfigError
from providers.mailchimp_audience import MailchimpAudienceConfig, MailchimpAudienceSync
from providers.mailchimp_transactional import (
    MailchimpTransactionalConfig,
    MailchimpTransactionalProvider,
)
from providers.protocol import Provider, Sync
from providers.smtp import SmtpConfig, SmtpProvider
from providers.smtp_pool import SmtpConnectionPool
from providers.twilio import TwilioConfig, TwilioProvider
from providers.webhook import WebhookConfig, WebhookProvider

__all__ = [
    "PROVIDER_KINDS",
    "BuildContext",
    "ProviderKind",
    "build_provider",
    "build_sender",
    "build_sync",
]


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What the composition root hands every provider: shared clients, the address guard."""

    http_client: httpx.AsyncClient | None = None
    smtp_pool: SmtpConnectionPool | None = None
    guard: AddressGuard = field(default_factory=AddressGuard)


Factory = Callable[[str, Any, BuildContext], "Provider | Sync"]


@dataclass(frozen=True, slots=True)
class ProviderKind:
    """One kind: what it is, which channels it serves, its config type and secrets."""

    kind: str
    role: Literal["sender", "sync"]
    channels: frozenset[str]
    config_type: type[Any]
    description: str
    factory: Factory

    @property
    def secret_fields(self) -> frozenset[str]:
        """Config fields to encrypt at rest and never return."""
        return secret_fields(self.config_type)

    @property
    def destination_fields(self) -> dict[str, str]:
        """Config fields naming where the provider connects: "url" or "host" by field."""
        return destination_fields(self.config_type)

    @property
    def config_schema(self) -> dict[str, Any]:
        """JSON Schema of the config (secret fields are `writeOnly`)."""
        return config_schema(self.config_type)

    def parse_config(self, raw: Mapping[str, Any], *, name: str) -> Any:
        """Validate a raw config into the typed config."""
        return parse_config(self.config_type, raw, provider=name)


_KINDS: list[ProviderKind] = [
    ProviderKind(
        "capture",
        "sender",
        frozenset({"email", "sms"}),
        CaptureConfig,
        "Keeps messages in memory (and optionally a JSON-lines file) instead of sending.",
        lambda name, config, ctx: CaptureProvider(name, config),
    ),
    ProviderKind(
        "smtp",
        "sender",
        frozenset({"email"}),
        SmtpConfig,
        "Email through an SMTP submission server (STARTTLS or implicit TLS, pooled).",
        lambda name, config, ctx: SmtpProvider(name, config, pool=ctx.smtp_pool, guard=ctx.guard),
    ),
    ProviderKind(
        "twilio",
        "sender",
        frozenset({"sms"}),
        TwilioConfig,
        "SMS through Twilio Programmable Messaging or a Twilio-compatible API.",
        lambda name, config, ctx: TwilioProvider(name, config, http_client=ctx.http_client),
    ),
    ProviderKind(
        "mailchimp_transactional",
        "sender",
        frozenset({"email"}),
        MailchimpTransactionalConfig,
        "Email through Mailchimp Transactional (Mandrill) messages/send.",
        lambda name, config, ctx: MailchimpTransactionalProvider(
            name, config, http_client=ctx.http_client
        ),
    ),
    ProviderKind(
        "braze",
        "sender",
        frozenset({"email", "sms"}),
        BrazeConfig,
        "Email and SMS through Braze /messages/send to existing users (external ids).",
        lambda name, config, ctx: BrazeProvider(name, config, http_client=ctx.http_client),
    ),
    ProviderKind(
        "webhook",
        "sender",
        frozenset({"email", "sms"}),
        WebhookConfig,
        "POSTs the rendered message as JSON, signed with Standard Webhooks.",
        lambda name, config, ctx: WebhookProvider(
            name, config, http_client=ctx.http_client, guard=ctx.guard
        ),
    ),
    ProviderKind(
        "mailchimp_audience",
        "sync",
        frozenset(),
        MailchimpAudienceConfig,
        "Upserts the Mailchimp audience member and writes code/reward into merge fields.",
        lambda name, config, ctx: MailchimpAudienceSync(name, config, http_client=ctx.http_client),
    ),
    ProviderKind(
        "braze_attributes",
        "sync",
        frozenset(),
        BrazeAttributesConfig,
        "Writes code/reward as Braze custom attributes through /users/track.",
        lambda name, config, ctx: BrazeAttributesSync(name, config, http_client=ctx.http_client),
    ),
    ProviderKind(
        "activecampaign",
        "sync",
        frozenset(),
        ActiveCampaignConfig,
        "Syncs the ActiveCampaign contact and writes custom field values.",
        lambda name, config, ctx: ActiveCampaignSync(name, config, http_client=ctx.http_client),
    ),
]

PROVIDER_KINDS: Mapping[str, ProviderKind] = {k.kind: k for k in _KINDS}


def build_provider(
    name: str,
    kind: str,
    config: Mapping[str, Any],
    *,
    http_client: httpx.AsyncClient | None = None,
    smtp_pool: SmtpConnectionPool | None = None,
    guard: AddressGuard | None = None,
) -> Provider | Sync:
    """Validate `config` against the kind's typed config and build the provider.

    `http_client` should be a `guarded_client` of the same `guard` (the default guard allows
    public destinations only); a provider without one makes its own, strictly guarded.

    Raises:
        ProviderConfigError: unknown kind or invalid config (never quoting secret values).
    """
    spec = PROVIDER_KINDS.get(kind)
    if spec is None:
        raise ProviderConfigError(
            f"unknown kind {kind!r}; known: {', '.join(sorted(PROVIDER_KINDS))}", provider=name
        )
    typed = spec.parse_config(config, name=name)
    context = BuildContext(
        http_client=http_client, smtp_pool=smtp_pool, guard=guard or AddressGuard()
    )
    return spec.factory(name, typed, context)


def build_sender(name: str, kind: str, config: Mapping[str, Any], **context: Any) -> Provider:
    """`build_provider` for a kind that must be a sender."""
    built = build_provider(name, kind, config, **context)
    if PROVIDER_KINDS[kind].role != "sender" or not isinstance(built, Provider):
        raise ProviderConfigError(f"kind {kind!r} is not a sender", provider=name)
    return built


def build_sync(name: str, kind: str, config: Mapping[str, Any], **context: Any) -> Sync:
    """`build_provider` for a kind that must be a sync."""
    built = build_provider(name, kind, config, **context)
    if PROVIDER_KINDS[kind].role != "sync" or not isinstance(built, Sync):
        raise ProviderConfigError(f"kind {kind!r} is not a sync", provider=name)
    return built
