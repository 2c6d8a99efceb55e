"""The outbox: what becomes a delivery row, decided once for triggered and bulk sends."""

from distribution.outbox.prepare import (
    ADDRESS_NAMES,
    CHANNELS,
    ChannelSpec,
    LinkSettings,
    LiveChoice,
    Lookups,
    PreparedMessage,
    Refusal,
    RefusalKind,
    address_refusal,
    channel_errors,
    message_content,
    prepare_message,
)

__all__ = [
    "ADDRESS_NAMES",
    "CHANNELS",
    "ChannelSpec",
    "LinkSettings",
    "LiveChoice",
    "Lookups",
    "PreparedMessage",
    "Refusal",
    "RefusalKind",
    "address_refusal",
    "channel_errors",
    "message_content",
    "prepare_message",
]
