"""One recipient's message on one channel: sent as prepared, or refused with a typed reason.

Triggered sends (``distribution.events.ingest``) and bulk sends (``distribution.bulk``) both call
``prepare_message``, so they decide in the same order and explain themselves in the same words:
the recipient's address (present and well formed), the template's live variant for them,
marketing consent, the frequency cap, then a strict render. What a path looks up differs (one
event reads the project cache and the database, a bulk batch precomputed sets and caches), so
each brings its ``Lookups``; nothing here queries the database for a recipient.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from distribution.customers.consent import unsubscribe_token
from distribution.errors import DistributionError, FieldError
from distribution.models import CustomerLike, DeliveryStatus, TemplateVersion
from templates import (
    CompiledEmail,
    CompiledSms,
    MissingVariablesError,
    RenderedEmail,
    RenderedSms,
    TemplateError,
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

#: What a channel's address is called in reasons ("the customer has no email address").
ADDRESS_NAMES = {"email": "email address", "sms": "phone number"}
#: The channels a message can go out on.
CHANNELS = tuple(ADDRESS_NAMES)
_ADDRESS_FORMATS = {
    "email": re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    "sms": re.compile(r"^\+[1-9][0-9]{6,14}$"),
}


@dataclass(frozen=True)
class LinkSettings:
    """What links in messages need: the service's public URL and the signing secret."""

    public_url: str
    secret_key: str

    def unsubscribe_url(self, project_id: str, customer_id: str, channel: str) -> str:
        token = unsubscribe_token(self.secret_key, project_id, customer_id, channel)
        return f"{self.public_url}/u/{token}"

    def qr_url(self, code: str) -> str:
        """The URL of a QR code image of ``code`` (served by the service)."""
        return f"{self.public_url}/links/qr/{quote(str(code), safe='')}.png"


@dataclass(frozen=True)
class ChannelSpec:
    """One channel of a distribution or a bulk send: a template sent through a provider.

    Stored as the JSON object ``{"channel", "template", "provider"}``; parsed once, where the
    stored list is read.
    """

    channel: str
    template: str
    provider: str

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> ChannelSpec:
        return cls(
            str(value.get("channel")), str(value.get("template")), str(value.get("provider"))
        )

    @classmethod
    def from_stored(cls, rows: Sequence[Mapping[str, Any]]) -> tuple[ChannelSpec, ...]:
        """A stored ``channels`` list, parsed."""
        return tuple(cls.from_json(row) for row in rows)

    def to_json(self) -> dict[str, str]:
        return {"channel": self.channel, "template": self.template, "provider": self.provider}


def channel_errors(channels: Sequence[ChannelSpec]) -> list[FieldError]:
    """What is wrong with the channels a client asked for, before anything is looked up."""
    errors: list[FieldError] = []
    if not channels:
        errors.append(FieldError("channels", "needs at least one channel"))
    for index, spec in enumerate(channels):
        where = f"channels[{index}]"
        if spec.channel not in CHANNELS:
            errors.append(FieldError(f"{where}.channel", "must be email or sms"))
        for key, value in (("template", spec.template), ("provider", spec.provider)):
            if not value:
                errors.append(FieldError(f"{where}.{key}", "is required"))
    return errors


class RefusalKind(StrEnum):
    """Why a recipient gets no message on a channel."""

    NO_RECIPIENT = "no_recipient"
    NO_ADDRESS = "no_address"
    INVALID_ADDRESS = "invalid_address"
    NO_LIVE_TEMPLATE = "no_live_template"
    WRONG_CHANNEL = "wrong_channel"
    UNSUBSCRIBED = "unsubscribed"
    FREQUENCY_CAP = "frequency_cap"
    MISSING_VARIABLES = "missing_variables"
    TEMPLATE_ERROR = "template_error"
    NO_CODE = "no_code"

    @property
    def status(self) -> DeliveryStatus:
        """The status the delivery row is written with: the customer's choice is not a failure."""
        if self in (RefusalKind.UNSUBSCRIBED, RefusalKind.FREQUENCY_CAP):
            return DeliveryStatus.SUPPRESSED
        return DeliveryStatus.FAILED


# The one wording of each reason; ``{detail}`` is what the refusal knows of its case.
_REASONS = {
    RefusalKind.NO_RECIPIENT: "the event names no referrer to send to",
    RefusalKind.NO_ADDRESS: "the customer has no {detail}",
    RefusalKind.INVALID_ADDRESS: "invalid {detail}",
    RefusalKind.NO_LIVE_TEMPLATE: "{detail}",
    RefusalKind.WRONG_CHANNEL: "template {detail}",
    RefusalKind.UNSUBSCRIBED: "the customer unsubscribed from marketing on this channel",
    RefusalKind.FREQUENCY_CAP: "frequency cap: already sent within {detail} h",
    RefusalKind.MISSING_VARIABLES: "missing variables: {detail}",
    RefusalKind.TEMPLATE_ERROR: "template error: {detail}",
    RefusalKind.NO_CODE: "the code pool ran out of codes before this recipient",
}


@dataclass(frozen=True)
class Refusal:
    """No message for this recipient on this channel, and why (the row is still written)."""

    kind: RefusalKind
    detail: str = ""
    address: str | None = None
    #: Known once a variant was chosen and the template's category with it.
    version_id: str | None = None
    marketing: bool = False
    missing: tuple[str, ...] = ()

    @property
    def status(self) -> DeliveryStatus:
        return self.kind.status

    @property
    def reason(self) -> str:
        return _REASONS[self.kind].format(detail=self.detail)


@dataclass(frozen=True)
class PreparedMessage:
    """A recipient's rendered message on one channel, ready for its ``queued`` delivery row."""

    address: str
    version_id: str
    marketing: bool
    content: dict[str, Any]
    segments: int = 0


@dataclass(frozen=True)
class LiveChoice:
    """The live version a recipient gets, with what its template says about every send."""

    template_id: str
    channel: str
    marketing: bool
    version: TemplateVersion


Spec = TypeVar("Spec", bound=ChannelSpec)
_SpecIn = TypeVar("_SpecIn", bound=ChannelSpec, contravariant=True)


class Lookups(Protocol[_SpecIn]):
    """What a send path knows, or has precomputed, about its recipients.

    A path may pass its own kind of ``ChannelSpec`` (a bulk job's carries what it checked):
    ``prepare_message`` hands it back to the lookups as it was given.
    """

    def live_choice(self, recipient: CustomerLike, spec: _SpecIn) -> LiveChoice:
        """The template's live variant for this recipient.

        Raises:
            DistributionError: No such template, or no live variant fits the recipient.
        """

    def suppressed(self, recipient: CustomerLike, spec: _SpecIn, address: str) -> bool:
        """Whether marketing on the channel to this recipient or address is suppressed."""

    def capped_hours(self, recipient: CustomerLike) -> int | None:
        """The frequency cap the recipient has reached (in hours), or None."""

    def unsubscribe_url(self, recipient: CustomerLike, spec: _SpecIn, choice: LiveChoice) -> str:
        """The signed link, or "" when the message neither carries nor can read it."""

    def context(self, recipient: CustomerLike, unsubscribe_url: str) -> dict[str, Any]:
        """The template variables of this recipient's render."""

    def compiled(self, version: TemplateVersion) -> CompiledEmail | CompiledSms:
        """The compiled version (raises TemplateError when it does not compile)."""


def address_refusal(channel: str, address: str | None) -> Refusal | None:
    """Why ``address`` cannot be sent to on ``channel``, or None."""
    if not address:
        return Refusal(RefusalKind.NO_ADDRESS, ADDRESS_NAMES[channel])
    if not _ADDRESS_FORMATS[channel].match(address):
        return Refusal(
            RefusalKind.INVALID_ADDRESS, f"{ADDRESS_NAMES[channel]}: {address[:100]!r}", address
        )
    return None


def prepare_message(
    recipient: CustomerLike | None, spec: Spec, lookups: Lookups[Spec]
) -> PreparedMessage | Refusal:
    """Decide and render one recipient's message on one channel."""
    if recipient is None:
        return Refusal(RefusalKind.NO_RECIPIENT)
    address = recipient.email if spec.channel == "email" else recipient.phone
    refused = address_refusal(spec.channel, address)
    if refused is not None:
        return refused
    assert address is not None  # address_refusal refuses a missing one
    try:
        choice = lookups.live_choice(recipient, spec)
    except DistributionError as error:
        return Refusal(RefusalKind.NO_LIVE_TEMPLATE, str(error), address)
    if choice.channel != spec.channel:
        detail = f"{choice.template_id} is for {choice.channel}, not {spec.channel}"
        return Refusal(RefusalKind.WRONG_CHANNEL, detail, address)
    version_id, marketing = choice.version.id, choice.marketing
    if marketing and lookups.suppressed(recipient, spec, address):
        return Refusal(RefusalKind.UNSUBSCRIBED, "", address, version_id, marketing)
    hours = lookups.capped_hours(recipient)
    if hours is not None:
        return Refusal(RefusalKind.FREQUENCY_CAP, str(hours), address, version_id, marketing)
    unsubscribe_url = lookups.unsubscribe_url(recipient, spec, choice)
    try:
        compiled = lookups.compiled(choice.version)
        rendered = compiled.render(lookups.context(recipient, unsubscribe_url), mode="send")
    except MissingVariablesError as error:
        missing = tuple(error.missing)
        return Refusal(
            RefusalKind.MISSING_VARIABLES,
            ", ".join(missing),
            address,
            version_id,
            marketing,
            missing,
        )
    except TemplateError as error:
        return Refusal(RefusalKind.TEMPLATE_ERROR, str(error), address, version_id, marketing)
    content = message_content(rendered, recipient.name, unsubscribe_url if marketing else None)
    segments = rendered.info.segments if isinstance(rendered, RenderedSms) else 0
    return PreparedMessage(address, version_id, marketing, content, segments)


def message_content(
    rendered: RenderedEmail | RenderedSms, to_name: str | None, unsubscribe_url: str | None
) -> dict[str, Any]:
    """The snapshot a delivery row keeps of one rendered message (what ``deliver`` sends)."""
    content: dict[str, Any] = {"to_name": to_name}
    if isinstance(rendered, RenderedEmail):
        content.update(subject=rendered.subject, html=rendered.html, text=rendered.text)
    else:
        content.update(body=rendered.body, segments=rendered.info.segments)
    if unsubscribe_url is not None:
        content["unsubscribe_url"] = unsubscribe_url
    return content
