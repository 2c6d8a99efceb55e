"""The explicit registry of provider kinds, and `build_provider` to make one from its config.

Each kind is declared once, as `KIND` in its own module (channels, config, factory, status
callbacks); the registry lists them and does everything that differs per kind through them.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from providers import (
    activecampaign,
    braze,
    braze_attributes,
    capture,
    mailchimp_audience,
    mailchimp_transactional,
    smtp,
    twilio,
    voucherify,
    webhook,
)
from providers.address_guard import AddressGuard
from providers.callbacks import CallbackRequest, InboundEvents, StatusCallbacks
from providers.delivery_events import DeliveryEvent
from providers.errors import CallbackFormatError, CallbackSignatureError, ProviderConfigError
from providers.http_transport import GuardedClient
from providers.kind import BuildContext, ProviderKind
from providers.protocol import EventSource, Provider, Sync
from providers.smtp_pool import SmtpConnectionPool

__all__ = [
    "PROVIDER_KINDS",
    "BuildContext",
    "ProviderKind",
    "ProviderKinds",
    "build_provider",
    "build_sender",
    "build_sync",
]

# Callbacks to no provider are checked against this, so that they cost what a wrong signature
# to a real provider costs. Random per process: nobody can sign with it.
_DECOY_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class ProviderKinds(Mapping[str, ProviderKind]):
    """The kinds this process knows, by name."""

    def __init__(self, kinds: Iterable[ProviderKind]) -> None:
        self._kinds = {k.kind: k for k in kinds}

    def __getitem__(self, kind: str) -> ProviderKind:
        return self._kinds[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def __repr__(self) -> str:
        return f"ProviderKinds({', '.join(self._kinds)})"

    def _claimed(self, request: CallbackRequest) -> StatusCallbacks | InboundEvents | None:
        """The scheme whose signature header the request carries (else the first one)."""
        declared: list[StatusCallbacks | InboundEvents] = [
            scheme
            for k in self._kinds.values()
            for scheme in (k.callbacks, k.inbound)
            if scheme is not None
        ]
        claimed = (c for c in declared if request.header(c.signature_header))
        return next(claimed, declared[0] if declared else None)

    def _signed(
        self,
        scheme: StatusCallbacks | InboundEvents | None,
        secret_of: Callable[[str], str | None],
        request: CallbackRequest,
    ) -> bool:
        """Whether the request is signed for `scheme`; checked the same way when there is none."""
        secret = secret_of(scheme.signing_key_field) if scheme is not None else None
        checker = scheme or self._claimed(request)
        signed = checker is not None and checker.verify(request, secret or _DECOY_SECRET)
        return scheme is not None and bool(secret) and signed

    def read_status_callback(
        self,
        kind: str | None,
        secret_of: Callable[[str], str | None],
        request: CallbackRequest,
    ) -> list[DeliveryEvent]:
        """Verify a status callback to a provider of `kind` and return the events it carries.

        `kind` is None when the URL names no provider; `secret_of(field)` reads a field of that
        provider's config, and is called only when the kind has callbacks.

        Raises:
            CallbackSignatureError: unsigned, wrongly signed, no secret to check it with, no
                provider, or a kind without status callbacks: one answer for all, after the
                same signature check, so a caller without the secret learns nothing.
            CallbackFormatError: signed, but not in the kind's format.
        """
        spec = self._kinds.get(kind) if kind is not None else None
        callbacks = spec.callbacks if spec is not None else None
        signed = self._signed(callbacks, secret_of, request)  # always run: the same cost
        if spec is None or callbacks is None or not signed:
            raise CallbackSignatureError(
                "the callback's signature is missing or wrong", provider=kind or "unknown"
            )
        try:
            return callbacks.parse(request)
        except (ValueError, OverflowError, OSError, RecursionError):
            # Only a holder of the secret gets here: the signature matched, the content did not.
            message = f"is not a {spec.kind} status callback"
            raise CallbackFormatError(message, provider=spec.kind) from None

    def verify_inbound_events(
        self,
        kind: str | None,
        secret_of: Callable[[str], str | None],
        request: CallbackRequest,
    ) -> None:
        """Verify an event webhook posted to a source of `kind` (see `ProviderKind.inbound`).

        Raises:
            CallbackSignatureError: as `read_status_callback` does, with the same answer for a
                kind that is not a source.
        """
        spec = self._kinds.get(kind) if kind is not None else None
        inbound = spec.inbound if spec is not None else None
        if not self._signed(inbound, secret_of, request):
            raise CallbackSignatureError(
                "the callback's signature is missing or wrong", provider=kind or "unknown"
            )


PROVIDER_KINDS = ProviderKinds(
    [
        capture.KIND,
        smtp.KIND,
        twilio.KIND,
        mailchimp_transactional.KIND,
        braze.KIND,
        webhook.KIND,
        mailchimp_audience.KIND,
        braze_attributes.KIND,
        activecampaign.KIND,
        voucherify.KIND,
    ]
)


def build_provider(
    name: str,
    kind: str,
    config: Mapping[str, Any],
    *,
    http_client: GuardedClient | None = None,
    smtp_pool: SmtpConnectionPool | None = None,
    guard: AddressGuard | None = None,
) -> Provider | Sync | EventSource:
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
