"""The `Provider` (sender) and `Sync` protocols every adapter implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from providers.errors import PermanentProviderError, ProviderError
from providers.message import Message, ProfileRequest, ProfileUpdate, SendResult

__all__ = ["BatchProvider", "BatchSync", "EventSource", "Provider", "Sync", "ensure_channel"]


@runtime_checkable
class Provider(Protocol):
    """A sender: we render the message, the provider delivers it."""

    name: str
    kind: str
    channels: frozenset[str]

    async def send(self, message: Message) -> SendResult:
        """Hand one message to the provider; raise Transient/PermanentProviderError on failure."""
        ...

    async def check(self) -> None:
        """Verify the credentials where the API allows it; raise ProviderError if they fail."""
        ...

    async def aclose(self) -> None:
        """Release connections this provider owns (never the ones it was given)."""
        ...


@runtime_checkable
class BatchProvider(Provider, Protocol):
    """A sender whose API takes several recipients per call (Braze)."""

    async def send_many(self, messages: Sequence[Message]) -> list[SendResult | ProviderError]:
        """Send messages in as few calls as the API allows; one outcome per message, in order."""
        ...


@runtime_checkable
class Sync(Protocol):
    """A sync: we write code and reward onto a profile; the platform's automation sends."""

    name: str
    kind: str

    async def sync(self, update: ProfileUpdate) -> SendResult:
        """Write the update onto the profile; raise Transient/PermanentProviderError on failure."""
        ...

    def requests(self, update: ProfileUpdate) -> list[ProfileRequest]:
        """The calls ``sync`` makes for the update, without sending them (previews)."""
        ...

    async def check(self) -> None:
        """Verify the credentials where the API allows it."""
        ...

    async def aclose(self) -> None:
        """Release connections this sync owns."""
        ...


@runtime_checkable
class BatchSync(Sync, Protocol):
    """A sync whose platform takes many profiles per call (Braze ``/users/track`` with 75
    attribute objects, Mailchimp batches, ActiveCampaign's bulk import).

    The delivery engine hands it every claimed row of one provider at once; the sync cuts them
    into the platform's batch size and answers per profile, from the platform's per-object
    answers where it gives them. It is never given an erasure or an opt-out: the engine writes
    those through ``sync`` one by one.
    """

    async def sync_many(self, updates: Sequence[ProfileUpdate]) -> list[SendResult | ProviderError]:
        """Write the updates in as few calls as the platform allows; one outcome per update,
        in order (an error for a whole call is that error for each of its updates)."""
        ...


@runtime_checkable
class EventSource(Protocol):
    """A source: an upstream system that posts its events to us and can be asked about them."""

    name: str
    kind: str

    async def fetch_customer(self, customer_id: str) -> dict[str, Any] | None:
        """The upstream's customer record by its own id; None when not configured to ask."""
        ...

    async def check(self) -> None:
        """Verify the credentials where the API allows it."""
        ...

    async def aclose(self) -> None:
        """Release connections this source owns."""
        ...


def ensure_channel(provider: str, channels: frozenset[str], message: Message) -> None:
    """Refuse a message for a channel the provider does not serve (a wiring bug: permanent)."""
    if message.channel not in channels:
        raise PermanentProviderError(
            f"does not serve channel {message.channel!r} (serves {sorted(channels)})",
            provider=provider,
        )
