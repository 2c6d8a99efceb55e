"""`ProviderKind`: what one provider module declares about itself, once, for the registry."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from providers.address_guard import AddressGuard
from providers.callbacks import InboundEvents, StatusCallbacks
from providers.config import (
    config_schema,
    destination_fields,
    mapped_values,
    parse_config,
    secret_fields,
)
from providers.http_transport import GuardedClient
from providers.identity import Identity, identity_of
from providers.protocol import EventSource, Provider, Sync
from providers.smtp_pool import SmtpConnectionPool

__all__ = ["BuildContext", "Factory", "ProviderKind"]


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What the composition root hands every provider: shared clients, the address guard."""

    http_client: GuardedClient | None = None
    smtp_pool: SmtpConnectionPool | None = None
    guard: AddressGuard = field(default_factory=AddressGuard)


Factory = Callable[[str, Any, BuildContext], "Provider | Sync | EventSource"]


@dataclass(frozen=True, slots=True)
class ProviderKind:
    """One kind: what it is, which channels it serves, its config type, secrets and callbacks.

    Three roles: a ``sender`` delivers what we render, a ``sync`` writes codes onto profiles in
    a platform that sends, and a ``source`` (Voucherify) sends nothing: it posts its events to
    its callback URL (``inbound``) and may be asked about its customers (`EventSource`).

    Attributes:
        channels: every channel the kind can serve (empty for a sync or a source); one
            configured provider may serve fewer (a Braze app with email only).
        callbacks: how its status callbacks are verified and read; None when it has none.
        inbound: how the events it posts are verified; None unless it is a source.
    """

    kind: str
    role: Literal["sender", "sync", "source"]
    channels: frozenset[str]
    config_type: type[Any]
    description: str
    factory: Factory
    callbacks: StatusCallbacks | None
    inbound: InboundEvents | None = None

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

    def identity_of(self, config: Mapping[str, Any]) -> Identity | None:
        """How a stored config of this kind identifies users; None when it does not need to."""
        return identity_of(self.config_type, config)

    def mapped_values(self, config: Mapping[str, Any]) -> frozenset[str] | None:
        """The profile values a stored config of this sync writes; None without a mapping."""
        return mapped_values(self.config_type, config)

    def customer_sync_delay(self, config: Mapping[str, Any]) -> float | None:
        """How long a stored config's customer sync writes wait to coalesce (seconds), or None
        when the config does not turn customer sync on (or the kind has no such setting)."""
        fields = {found.name: found for found in dataclasses.fields(self.config_type)}
        if "customer_sync" not in fields or config.get("customer_sync") is not True:
            return None
        delay = config.get("customer_sync_delay", fields["customer_sync_delay"].default)
        return float(delay) if isinstance(delay, int | float) else 0.0

    def parse_config(self, raw: Mapping[str, Any], *, name: str) -> Any:
        """Validate a raw config into the typed config."""
        return parse_config(self.config_type, raw, provider=name)
