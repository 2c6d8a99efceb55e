"""Inbound status callbacks: verify the provider's signature, then parse and record the events.

The signature is the only authentication: the caller (Twilio, Mandrill, a relay's bounce
reporter) has no API key, so the project id is part of the URL we ask the operator to configure:
`<public_url>/v1/provider-webhooks/<project_id>/<provider_name>`.

- `twilio`: `X-Twilio-Signature` over the public URL and the form fields, key `auth_token`;
- `mailchimp_transactional`: `X-Mandrill-Signature` over the public URL and the form fields,
  key `webhook_key` (the webhook's key in Mandrill, not the API key);
- `smtp`: Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`),
  secret `bounce_webhook_secret`.

A missing or wrong signature, no secret to check it with, or a URL naming no provider with status
callbacks is the same `AuthenticationError`, after the same signature check, and nothing is
recorded.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

from sqlmodel import Session

from distribution.delivery_events import record_delivery_events
from distribution.errors import AuthenticationError, FieldError, InvalidInputError
from distribution.provider_store import SecretBox, find_provider, full_config
from providers import (
    DeliveryEvent,
    parse_bounce_webhook,
    parse_mandrill_events,
    parse_twilio_status_callback,
    verify_bounce_webhook,
    verify_mandrill_signature,
    verify_twilio_signature,
)

__all__ = ["CALLBACK_KINDS", "CallbackRequest", "receive_status_callback"]

CALLBACK_KINDS = frozenset({"twilio", "mailchimp_transactional", "smtp"})


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


def _refuse() -> AuthenticationError:
    return AuthenticationError("the callback's signature is missing or wrong")


# Signatures of callbacks to no provider are checked against this, so that they cost what a
# wrong signature to a real provider costs. Random per process: nobody can sign with it.
_DECOY_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _claimed_kind(request: CallbackRequest) -> str:
    """The kind whose signature header the request carries (Standard Webhooks otherwise)."""
    if request.header("X-Twilio-Signature"):
        return "twilio"
    if request.header("X-Mandrill-Signature"):
        return "mailchimp_transactional"
    return "smtp"


def _signed(kind: str, secret: str, request: CallbackRequest) -> bool:
    if kind == "smtp":
        return verify_bounce_webhook(secret, request.headers, request.body)
    if kind == "twilio":
        signature = request.header("X-Twilio-Signature")
        return verify_twilio_signature(request.url, request.form(), signature, secret)
    signature = request.header("X-Mandrill-Signature")
    return verify_mandrill_signature(request.url, request.form(), signature, secret)


def _events(kind: str, request: CallbackRequest) -> list[DeliveryEvent]:
    if kind == "smtp":
        return parse_bounce_webhook(request.body)
    form = request.form()
    if kind == "twilio":
        return [parse_twilio_status_callback({k: v[0] for k, v in form.items()})]
    return parse_mandrill_events(form.get("mandrill_events", [""])[0])


_SECRET_FIELD = {
    "twilio": "auth_token",
    "mailchimp_transactional": "webhook_key",
    "smtp": "bounce_webhook_secret",
}


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
    kind = row.kind if row is not None and row.kind in CALLBACK_KINDS else None
    secret = full_config(row, box).get(_SECRET_FIELD[kind]) if row and kind else None
    signed = _signed(kind or _claimed_kind(request), secret or _DECOY_SECRET, request)
    if kind is None or not secret or not signed:
        raise _refuse()
    try:
        events = _events(kind, request)
    except (ValueError, OverflowError, OSError, RecursionError):
        # Only a holder of the secret gets here: the signature matched, the content did not.
        raise InvalidInputError([FieldError("body", f"is not a {kind} status callback")]) from None
    record_delivery_events(session, project_id, provider_name, events)
    return len(events)
