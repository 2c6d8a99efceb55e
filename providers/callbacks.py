"""Inbound status callbacks: the request as received, and what a provider kind declares about them.

A kind with status callbacks (delivered, bounced, STOP) declares one `StatusCallbacks` in its own
module: which config field holds the key that signs them, which header carries the signature,
how to verify it and how to read the events. `ProviderKinds.read_status_callback` is the one path
that uses them.

A kind that is an event source (Voucherify) declares `InboundEvents` instead: the upstream posts
its own events to the same callback URL, signed with a key of the config; what they carry is read
by the application (`distribution.events.event_input`), which maps them to its events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

from providers.delivery_events import DeliveryEvent

__all__ = ["CallbackRequest", "InboundEvents", "StatusCallbacks"]


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """An inbound callback as received.

    Attributes:
        url: the public URL the provider called (public base + path + query), as it signed it.
        headers: request headers, names in any case.
        body: the raw body.
    """

    url: str
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str:
        """A header's value, or ""."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), "")

    def form(self) -> dict[str, list[str]]:
        """The body as form fields (undecodable bytes replaced: the signature then fails)."""
        return parse_qs(self.body.decode("utf-8", errors="replace"), keep_blank_values=True)


@dataclass(frozen=True, slots=True)
class StatusCallbacks:
    """How one kind's status callbacks are signed and read.

    Attributes:
        signing_key_field: the config field holding the key the provider signs callbacks with.
        signature_header: the header carrying the signature; a callback to no provider is
            checked with the scheme whose header it carries, so that it costs the same.
        verify: True when the request is signed with the secret (constant-time).
        parse: the events the request carries; raises ValueError (or OverflowError, OSError,
            RecursionError) when the body is not in the provider's format.
    """

    signing_key_field: str
    signature_header: str
    verify: Callable[[CallbackRequest, str], bool]
    parse: Callable[[CallbackRequest], list[DeliveryEvent]]


@dataclass(frozen=True, slots=True)
class InboundEvents:
    """How one kind's inbound event webhooks are signed (a source such as Voucherify).

    Attributes:
        signing_key_field: the config field holding the key the upstream signs its webhooks with.
        signature_header: the header carrying the signature.
        verify: True when the request is signed with the secret (constant-time).
    """

    signing_key_field: str
    signature_header: str
    verify: Callable[[CallbackRequest, str], bool]
