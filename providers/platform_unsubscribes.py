"""Unsubscribes a sync platform reports: Mailchimp list webhooks and ActiveCampaign webhooks.

Neither platform signs its webhooks, so the operator chooses a ``webhook_secret`` for the
provider and pastes the callback URL with it as ``?secret=...`` into the platform; the secret in
the URL is what authenticates the call (compared in constant time). Both post a form:

- Mailchimp (audience webhooks): ``type=unsubscribe``, ``data[email]``, ``data[list_id]``,
  ``data[reason]``; it checks the URL with a GET first (the application answers it).
- ActiveCampaign: ``type=unsubscribe``, ``contact[email]``, ``list``.

Every other type (subscribe, profile updates, ...) carries nothing for us: an opt-in must come
from the person here, not from a platform.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qs, urlsplit

from providers.callbacks import CallbackRequest, StatusCallbacks
from providers.delivery_events import DeliveryEvent

__all__ = [
    "SECRET_PARAMETER",
    "URL_SECRET_FIELD",
    "UnsubscribeFeed",
    "activecampaign_callbacks",
    "check_webhook_secret",
    "mailchimp_callbacks",
    "verify_url_secret",
]

#: The query parameter of the callback URL holding the provider's ``webhook_secret``.
SECRET_PARAMETER = "secret"  # noqa: S105 (a parameter name)
#: The config field holding it.
URL_SECRET_FIELD = "webhook_secret"  # noqa: S105 (a field name)
#: The shortest secret a config accepts: it is the only thing standing for a signature.
MIN_SECRET_LENGTH = 16


@runtime_checkable
class UnsubscribeFeed(Protocol):
    """A sync whose platform lists the addresses that unsubscribed (Braze), to be pulled."""

    async def email_unsubscribes(self, start: date, end: date) -> list[str]:
        """The addresses that unsubscribed from email from ``start`` to ``end`` (whole UTC
        days, both included); raise Transient/PermanentProviderError on failure."""
        ...


def check_webhook_secret(secret: str | None) -> None:
    """Refuse a secret too short to authenticate anything (None: no webhooks)."""
    if secret is not None and len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"webhook_secret must be at least {MIN_SECRET_LENGTH} characters")


def verify_url_secret(request: CallbackRequest, secret: str) -> bool:
    """Whether the callback URL carries the secret (constant time)."""
    given = parse_qs(urlsplit(request.url).query).get(SECRET_PARAMETER, [""])[-1]
    return hmac.compare_digest(given.encode(), secret.encode())


def _first(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0].strip() if values and values[0].strip() else None


def _unsubscribes(
    email_field: str, reason_field: str | None
) -> Callable[[CallbackRequest], list[DeliveryEvent]]:
    def parse(request: CallbackRequest) -> list[DeliveryEvent]:
        form = request.form()
        kind = _first(form, "type")
        if kind is None:
            raise ValueError("no type")
        email = _first(form, email_field)
        if kind != "unsubscribe" or email is None:
            return []
        reason = _first(form, reason_field) if reason_field else None
        raw = {"type": kind, "list": _first(form, "data[list_id]") or _first(form, "list")}
        return [
            DeliveryEvent(
                provider_message_id=None,
                type="unsubscribed",
                timestamp=datetime.now(UTC),
                recipient=email,
                reason=reason,
                raw=raw,
            )
        ]

    return parse


def _callbacks(parse: Callable[[CallbackRequest], list[DeliveryEvent]]) -> StatusCallbacks:
    # No header carries a signature: the secret is in the URL.
    return StatusCallbacks(URL_SECRET_FIELD, "", verify_url_secret, parse)


mailchimp_callbacks = _callbacks(_unsubscribes("data[email]", "data[reason]"))
activecampaign_callbacks = _callbacks(_unsubscribes("contact[email]", None))
