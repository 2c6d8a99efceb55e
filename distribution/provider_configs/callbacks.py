"""Inbound status callbacks: find the provider, let its kind verify and parse, record the events.

The signature is the only authentication: the caller (Twilio, Mandrill, a relay's bounce
reporter) has no API key, so the project id is part of the URL we ask the operator to configure:
`<public_url>/v1/provider-webhooks/<project_id>/<provider_name>`. Which kinds have callbacks, how
they are signed and what they carry is declared by each kind (`ProviderKind.callbacks`).

A missing or wrong signature, no secret to check it with, or a URL naming no provider with status
callbacks is the same `AuthenticationError`, after the same signature check, and nothing is
recorded.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from distribution.customers.platform_opt_outs import suppress_reported_opt_outs
from distribution.errors import AuthenticationError, FieldError, InvalidInputError
from distribution.outbox.delivery_events import record_delivery_events
from distribution.provider_configs.store import find_provider, full_config
from distribution.storage.secrets import SecretBox
from providers import (
    PROVIDER_KINDS,
    CallbackFormatError,
    CallbackRequest,
    CallbackSignatureError,
)

__all__ = ["CallbackRequest", "is_event_source", "receive_status_callback", "verify_source_webhook"]


def receive_status_callback(
    session: Session, box: SecretBox, project_id: str, provider_name: str, request: CallbackRequest
) -> int:
    """Verify and record one callback; returns how many events it carried.

    Raises:
        AuthenticationError: unsigned, wrongly signed, no secret configured to verify with, no
            such project or provider, or a provider kind without status callbacks: one answer
            for all, so the URL tells a caller without the secret nothing about what exists.
        InvalidInputError: correctly signed but not in the provider's format.
    """
    row = find_provider(session, project_id, provider_name)

    def secret_of(field: str) -> str | None:
        value = full_config(row, box).get(field) if row is not None else None
        return value if isinstance(value, str) else None

    kind = row.kind if row is not None else None
    try:
        events = PROVIDER_KINDS.read_status_callback(kind, secret_of, request)
    except CallbackSignatureError:
        raise AuthenticationError("the callback's signature is missing or wrong") from None
    except CallbackFormatError as exc:
        raise InvalidInputError([FieldError("body", exc.message)]) from None
    record_delivery_events(session, project_id, provider_name, events)
    # A sync platform's unsubscribe names an address, not a message of ours.
    opted_out = [
        e.recipient
        for e in events
        if e.type == "unsubscribed" and e.provider_message_id is None and e.recipient
    ]
    suppress_reported_opt_outs(session, project_id, provider_name, opted_out)
    return len(events)


def is_event_source(session: Session, project_id: str, provider_name: str) -> bool:
    """Whether the URL names an enabled event source (its callbacks carry events, not statuses)."""
    row = find_provider(session, project_id, provider_name)
    if row is None or row.disabled_at is not None:
        return False
    spec = PROVIDER_KINDS.get(row.kind)
    return spec is not None and spec.inbound is not None


def verify_source_webhook(
    session: Session, box: SecretBox, project_id: str, provider_name: str, request: CallbackRequest
) -> dict[str, Any]:
    """Verify an event webhook posted to a source (Voucherify); its full config when signed.

    Raises:
        AuthenticationError: as for `receive_status_callback`, with the same answer; a disabled
            source is no source.
    """
    row = find_provider(session, project_id, provider_name)
    if row is not None and row.disabled_at is not None:
        row = None
    config = full_config(row, box) if row is not None else {}

    def secret_of(field: str) -> str | None:
        value = config.get(field)
        return value if isinstance(value, str) else None

    try:
        PROVIDER_KINDS.verify_inbound_events(row.kind if row else None, secret_of, request)
    except CallbackSignatureError:
        raise AuthenticationError("the callback's signature is missing or wrong") from None
    return config
