"""The values that cross the providers boundary: messages, results and profile updates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "CHANNELS",
    "PROFILE_SOURCE_FIELDS",
    "Channel",
    "Message",
    "ProfileRequest",
    "ProfileUpdate",
    "RejectReason",
    "SendResult",
    "SendStatus",
]

Channel = Literal["email", "sms"]
CHANNELS: frozenset[str] = frozenset({"email", "sms"})
SendStatus = Literal["sent", "queued", "rejected"]
# Why a provider refused a recipient, in one vocabulary for all providers (as anymail's
# `reject_reason`); each provider maps its own codes onto it.
RejectReason = Literal["invalid", "unsubscribed", "bounced", "blocked", "other"]


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    # A private copy (typed read-only): the caller's dict can change without touching the
    # message, and the message still pickles and deep-copies (a mappingproxy would not).
    return dict(value)


@dataclass(frozen=True, slots=True)
class Message:
    """One rendered message for one recipient on one channel.

    Attributes:
        id: our delivery id; providers that accept an idempotency key receive it.
        channel: "email" or "sms".
        to: the email address or the E.164 phone number.
        to_name: display name of the recipient (email only).
        subject, html, text: the email content (at least one of html and text).
        body: the SMS content.
        from_email, from_name, reply_to: override the provider's configured sender.
        headers: extra email headers.
        marketing: True for promotional mail; adds one-click unsubscribe headers.
        unsubscribe_url: the HTTPS one-click unsubscribe URL for this recipient.
        tags, metadata: passed to providers that store them (Mandrill, Braze extras).
        external_user_id: the recipient's id in the messaging platform (Braze).
        status_callback_url: where the provider should report delivery status (Twilio).
    """

    id: str
    channel: Channel
    to: str
    to_name: str | None = None
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    body: str | None = None
    from_email: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    marketing: bool = False
    unsubscribe_url: str | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    external_user_id: str | None = None
    status_callback_url: str | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("message id is required")
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")
        if self.channel == "email" and not (self.html or self.text):
            raise ValueError("an email needs html or text content")
        if self.channel == "sms" and not self.body:
            raise ValueError("an SMS needs a body")
        object.__setattr__(self, "headers", _frozen_mapping(self.headers))
        object.__setattr__(self, "metadata", _frozen_mapping(self.metadata))
        object.__setattr__(self, "tags", tuple(self.tags))


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the provider said about one message.

    Attributes:
        status: "sent" (handed over), "queued" (accepted for later) or "rejected" (refused).
        provider_message_id: the provider's id, used to match status callbacks.
        reason: why it was rejected or queued, in the provider's words (e.g. "unsub").
        raw: a short excerpt of the provider's answer, for support.
        reject_reason: why it was rejected, normalised ("other" when the provider's code is
            not one we know); None unless rejected.
        provider_status: the provider's own word for the message's state in its answer
            (Twilio `accepted`/`queued`/`sending`, Mandrill `sent`/`queued`/`scheduled`, Braze
            `success`); None when the provider has none (SMTP's 250 only says "taken").
            `status` folds it into our three; this keeps "accepted" apart from "sent".
        errors: non-fatal errors the provider reported while accepting the message (Braze's
            `errors` array): some recipients of the call may not get it.
    """

    status: SendStatus
    provider_message_id: str | None = None
    reason: str | None = None
    raw: str = ""
    reject_reason: RejectReason | None = None
    provider_status: str | None = None
    errors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.status != "rejected" and self.reject_reason is not None:
            raise ValueError("only a rejected result has a reject_reason")
        if self.status == "rejected" and self.reject_reason is None:
            object.__setattr__(self, "reject_reason", "other")
        object.__setattr__(self, "errors", tuple(self.errors))

    @property
    def accepted(self) -> bool:
        """True when the provider took the message (sent or queued)."""
        return self.status != "rejected"


@dataclass(frozen=True, slots=True)
class ProfileUpdate:
    """Values to write onto a customer's profile in a messaging platform (syncs).

    Attributes:
        id: our delivery id.
        external_id: the user's id on the platform (Braze), as the sync's ``identity`` picks it.
        email: the member's address (Mailchimp, ActiveCampaign identify members by it).
        code, referral_link, qr_url: the customer's code and its links.
        campaign: the campaign's name (its id when it has none).
        reward, reward_amount, reward_expires_at: the reward, as text.
        extra: further named values a mapping may name.
        contact: a customer sync write: also write the contact's own details (names, email,
            phone) into the platform's standard profile fields.
        subscribed: False writes an email opt-out onto the profile; None leaves it. Never
            True: an opt-in must come from the person, on the platform (see docs/providers.md).
        erase: delete the user from the platform (a customer's erasure); nothing else is written.
    """

    id: str
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    code: str | None = None
    referral_link: str | None = None
    qr_url: str | None = None
    campaign: str | None = None
    reward: str | None = None
    reward_amount: str | None = None
    reward_expires_at: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    contact: bool = False
    subscribed: Literal[False] | None = None
    erase: bool = False

    def __post_init__(self) -> None:
        if not (self.email or self.phone or self.external_id):
            raise ValueError("a profile update needs an email, a phone or an external id")
        if self.subscribed is not None and self.subscribed is not False:
            raise ValueError("a profile update never subscribes anyone (opt-ins are the person's)")
        object.__setattr__(self, "extra", _frozen_mapping(self.extra))

    def value_of(self, source: str) -> str | None:
        """The value of one named source field: an attribute, or a key of `extra`."""
        if source in PROFILE_SOURCE_FIELDS:
            value: str | None = getattr(self, source)
            return value
        return self.extra.get(source)


PROFILE_SOURCE_FIELDS: frozenset[str] = frozenset(
    {
        "email",
        "phone",
        "external_id",
        "first_name",
        "last_name",
        "code",
        "referral_link",
        "qr_url",
        "campaign",
        "reward",
        "reward_amount",
        "reward_expires_at",
    }
)


@dataclass(frozen=True, slots=True)
class ProfileRequest:
    """One call a sync makes for an update: what a preview shows and what the sync sends.

    ``path`` is relative to the provider's API root (which the preview leaves out, as it may be
    derived from a secret); no headers, so no credential, ever appear in it.
    """

    method: str
    path: str
    body: Mapping[str, object]
