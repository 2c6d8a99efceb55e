"""One recipient's message on one channel: sent as prepared, or refused with a typed reason.

Triggered sends (``distribution.events.ingest``) and bulk sends (``distribution.bulk``) both call
``prepare_message``, so they decide in the same order and explain themselves in the same words:
the recipient's address (present and well formed), the user id a provider that addresses users
needs (its ``identity`` setting), the template's live variant for them, marketing consent, the
frequency cap, then a strict render. What a path looks up differs (one event reads the project
cache and the database, a bulk batch precomputed sets and caches), so each brings its
``Lookups``; nothing here queries the database for a recipient.

The ``profile`` channel is an integration channel: no message, but a write of the recipient's
code, links, campaign and reward onto their profile in a platform (a sync provider: Braze
attributes, Mailchimp merge fields, ActiveCampaign fields), whose own automation messages them.
It has no template; its row's content is the ``ProfileUpdate`` the sync sends. A profile write
is data about the customer, not a message to them: marketing consent and the frequency cap do
not apply (an email or SMS suppression does not block it), but an erased customer is never
written, and a customer the platform cannot identify is refused.
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
from distribution.models import PROFILE_CHANNEL, CustomerLike, DeliveryStatus, TemplateVersion
from providers import Identity, ProfileUpdate
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
    "PROFILE",
    "ChannelProvider",
    "ChannelSpec",
    "LinkSettings",
    "LiveChoice",
    "Lookups",
    "PreparedMessage",
    "Refusal",
    "RefusalKind",
    "address_refusal",
    "channel_errors",
    "identify",
    "message_content",
    "prepare_message",
    "profile_update",
    "profile_values",
    "role_error",
    "user_id",
]

#: What a channel's address is called in reasons ("the customer has no email address").
ADDRESS_NAMES = {"email": "email address", "sms": "phone number"}
#: The integration channel: a write onto the recipient's profile in a platform (a sync).
PROFILE = PROFILE_CHANNEL
#: The channels of a distribution or a bulk send: messages, and profile writes.
CHANNELS = (*ADDRESS_NAMES, PROFILE)
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
    """One channel of a distribution or a bulk send: a template sent through a provider, or
    (``profile``, no template) a profile write through a sync.

    Stored as the JSON object ``{"channel", "template", "provider"}`` (``template`` null for a
    profile write); parsed once, where the stored list is read.
    """

    channel: str
    template: str
    provider: str

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> ChannelSpec:
        return cls(
            str(value.get("channel")),
            str(value.get("template") or ""),
            str(value.get("provider") or ""),
        )

    @classmethod
    def from_stored(cls, rows: Sequence[Mapping[str, Any]]) -> tuple[ChannelSpec, ...]:
        """A stored ``channels`` list, parsed."""
        return tuple(cls.from_json(row) for row in rows)

    def to_json(self) -> dict[str, str | None]:
        return {
            "channel": self.channel,
            "template": self.template or None,
            "provider": self.provider,
        }


def channel_errors(channels: Sequence[ChannelSpec]) -> list[FieldError]:
    """What is wrong with the channels a client asked for, before anything is looked up."""
    errors: list[FieldError] = []
    if not channels:
        errors.append(FieldError("channels", "needs at least one channel"))
    for index, spec in enumerate(channels):
        where = f"channels[{index}]"
        if spec.channel not in CHANNELS:
            errors.append(FieldError(f"{where}.channel", "must be email, sms or profile"))
        if not spec.provider:
            errors.append(FieldError(f"{where}.provider", "is required"))
        if spec.channel == PROFILE and spec.template:
            errors.append(
                FieldError(f"{where}.template", "a profile write has no template: leave it out")
            )
        elif spec.channel != PROFILE and not spec.template:
            errors.append(FieldError(f"{where}.template", "is required"))
    return errors


def role_error(index: int, spec: ChannelSpec, role: str) -> FieldError | None:
    """Why a provider of ``role`` cannot serve the channel ``spec`` names, or None."""
    if spec.channel == PROFILE and role != "sync":
        return FieldError(
            f"channels[{index}].provider",
            f"is a {role}: a profile channel needs a sync (braze_attributes, "
            "mailchimp_audience, activecampaign)",
        )
    if spec.channel != PROFILE and role != "sender":
        hint = ": use the channel profile" if role == "sync" else ""
        return FieldError(f"channels[{index}].provider", f"is a {role}, not a sender{hint}")
    return None


@dataclass(frozen=True)
class ChannelProvider:
    """What preparation needs to know of a channel's provider: its role, how it identifies
    users (None when it does not: SMTP, Twilio, ...) and, for a sync, what it writes."""

    role: str
    identity: Identity | None = None
    #: The profile values a sync's mapping writes (None: not a sync).
    mapped: frozenset[str] | None = None


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
    NO_IDENTITY = "no_identity"
    NO_SYNC = "no_sync"
    ERASED = "erased"
    NOTHING_TO_WRITE = "nothing_to_write"

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
    RefusalKind.NO_IDENTITY: "the customer has no {detail}",
    RefusalKind.NO_SYNC: "{detail}",
    RefusalKind.ERASED: "the customer was erased",
    RefusalKind.NOTHING_TO_WRITE: "nothing to write: no code and no reward for this recipient",
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
    """A recipient's rendered message on one channel, ready for its ``queued`` delivery row.

    A profile write has no version and ``address`` is the user's id on the platform.
    """

    address: str
    version_id: str | None
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

    def provider(self, spec: _SpecIn) -> ChannelProvider | None:
        """The channel's provider (None when the project has none of that name)."""

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


def user_id(recipient: CustomerLike, identity: Identity) -> str | None:
    """The recipient's id on a platform that knows users by ``identity``."""
    return identity.value_of(
        source_id=recipient.source_id, email=recipient.email, metadata=recipient.meta or {}
    )


def identify(
    recipient: CustomerLike, spec: ChannelSpec, identity: Identity, address: str | None = None
) -> str | Refusal:
    """The recipient's user id for the channel's provider, or why there is none."""
    found = user_id(recipient, identity)
    if found is None:
        detail = f"{identity.label} (provider {spec.provider!r} identifies users by it)"
        return Refusal(RefusalKind.NO_IDENTITY, detail, address)
    if identity.fills == "email":
        refused = address_refusal("email", found)
        if refused is not None:
            return refused
    return found


def prepare_message(
    recipient: CustomerLike | None, spec: Spec, lookups: Lookups[Spec]
) -> PreparedMessage | Refusal:
    """Decide and render one recipient's message on one channel (or their profile write)."""
    if recipient is None:
        return Refusal(RefusalKind.NO_RECIPIENT)
    if spec.channel == PROFILE:
        return _prepare_profile(recipient, spec, lookups)
    address = recipient.email if spec.channel == "email" else recipient.phone
    refused = address_refusal(spec.channel, address)
    if refused is not None:
        return refused
    assert address is not None  # address_refusal refuses a missing one
    provider = lookups.provider(spec)
    platform_user: str | None = None
    if provider is not None and provider.identity is not None:
        identified = identify(recipient, spec, provider.identity, address)
        if isinstance(identified, Refusal):
            return identified
        platform_user = identified
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
    if platform_user is not None:
        content["external_user_id"] = platform_user
    segments = rendered.info.segments if isinstance(rendered, RenderedSms) else 0
    return PreparedMessage(address, version_id, marketing, content, segments)


def _prepare_profile(
    recipient: CustomerLike, spec: Spec, lookups: Lookups[Spec]
) -> PreparedMessage | Refusal:
    """The recipient's profile write: who they are on the platform, and the values to write."""
    if recipient.erased_at is not None:
        return Refusal(RefusalKind.ERASED)
    provider = lookups.provider(spec)
    if provider is None or provider.role != "sync" or provider.identity is None:
        detail = (
            f"no provider named {spec.provider!r}"
            if provider is None
            else f"provider {spec.provider!r} is a {provider.role}, not a sync"
        )
        return Refusal(RefusalKind.NO_SYNC, detail)
    identified = identify(recipient, spec, provider.identity)
    if isinstance(identified, Refusal):
        return identified
    values = profile_values(lookups.context(recipient, ""))
    if values.get("code") is None and values.get("reward") is None:
        return Refusal(RefusalKind.NOTHING_TO_WRITE, address=identified)
    if provider.mapped is not None:
        # The row keeps only what the mapping writes: no personal data it would not send.
        values = {k: v for k, v in values.items() if k in provider.mapped}
    values[provider.identity.fills] = identified
    content = {"profile": values}
    return PreparedMessage(identified, None, False, content)


def profile_values(context: Mapping[str, Any]) -> dict[str, str]:
    """What a profile write can carry, from a recipient's template context: the values a
    mapping names (``ProfileUpdate``'s fields), those absent left out."""
    code = _mapping(context.get("code"))
    reward = _mapping(context.get("reward"))
    campaign = _mapping(context.get("campaign"))
    customer = _mapping(context.get("customer"))
    amount = reward.get("amount")
    currency = reward.get("currency")
    reward_text = reward.get("description") or (
        f"{amount} {currency}" if amount is not None and currency else amount
    )
    values = {
        "email": customer.get("email"),
        "first_name": customer.get("first_name"),
        "code": code.get("code"),
        "referral_link": code.get("referral_link"),
        "qr_url": code.get("qr_url"),
        "campaign": campaign.get("name") or campaign.get("id"),
        "reward": reward_text,
        "reward_amount": amount,
        "reward_expires_at": reward.get("expires_at"),
    }
    return {k: str(v) for k, v in values.items() if v is not None and v != ""}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def profile_update(delivery_id: str, content: Mapping[str, Any]) -> ProfileUpdate:
    """The ``ProfileUpdate`` a profile row's content holds (what ``deliver`` sends).

    Raises:
        ValueError: the content identifies no user (a row not written by ``prepare_message``).
    """
    values = _mapping(content.get("profile"))

    def text(name: str) -> str | None:
        value = values.get(name)
        return None if value is None else str(value)

    return ProfileUpdate(
        id=delivery_id,
        email=text("email"),
        phone=text("phone"),
        external_id=text("external_id"),
        first_name=text("first_name"),
        last_name=text("last_name"),
        code=text("code"),
        referral_link=text("referral_link"),
        qr_url=text("qr_url"),
        campaign=text("campaign"),
        reward=text("reward"),
        reward_amount=text("reward_amount"),
        reward_expires_at=text("reward_expires_at"),
        # Customer sync rows (distribution.customer_sync): flags, never an opt-in.
        contact=values.get("contact") is True,
        subscribed=False if values.get("subscribed") is False else None,
        erase=values.get("erase") is True,
    )


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
