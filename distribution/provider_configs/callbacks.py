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

from sqlmodel import Session

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

__all__ = ["CallbackRequest", "receive_status_callback"]


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
    return len(events)
