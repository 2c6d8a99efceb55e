"""Distributions (trigger rules), inbound events, deliveries (the outbox) and suppressions.

The delivery row is the truth: every message exists first as a committed ``queued`` row with its
rendered snapshot; a worker only ever moves rows on.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from distribution.models.core import JSONVariant, project_fk, utcnow

__all__ = [
    "OUTGOING_STATUSES",
    "PENDING_STATUSES",
    "PROFILE_CHANNEL",
    "UNSENT_STATUSES",
    "Delivery",
    "DeliveryStatus",
    "DeliveryStatusChange",
    "Distribution",
    "Event",
    "FollowUp",
    "Resubscription",
    "Suppression",
]

_UNENQUEUED = "status = 'queued' AND enqueued_until IS NULL"


class DeliveryStatus(StrEnum):
    """Where a delivery is, in the order a message moves through them.

    ``Delivery.status`` stores the plain string, which a member compares equal to.
    """

    QUEUED = "queued"
    PAUSED = "paused"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    BOUNCED = "bounced"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        """How far a provider's reports have moved the message (they never move it back)."""
        return _REPORTED_RANK.get(self, 0)


#: The channel of a delivery that writes onto a profile in a platform instead of messaging.
PROFILE_CHANNEL = "profile"

#: The message went, or is going, out: it counts against a frequency cap.
OUTGOING_STATUSES = frozenset(
    {
        DeliveryStatus.QUEUED,
        DeliveryStatus.SENDING,
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.UNKNOWN,
    }
)
#: Not handed to a provider yet, and never will be unless someone acts.
UNSENT_STATUSES = frozenset({DeliveryStatus.QUEUED, DeliveryStatus.PAUSED})
#: Waiting or in flight: a bulk job whose messages are all past these is complete.
PENDING_STATUSES = frozenset({DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.PAUSED})
_REPORTED_RANK = {
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.BOUNCED: 3,
    DeliveryStatus.FAILED: 3,
}


class Distribution(SQLModel, table=True):
    """When an event of type ``trigger`` matches ``filters``, send through ``channels``."""

    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_distribution_name"),)

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    name: str
    trigger: str = Field(sa_column=Column(String, nullable=False, index=True))
    filters: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONVariant, nullable=False)
    )
    recipient: str = "customer"  # "customer" | "referrer"
    channels: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSONVariant, nullable=False)
    )
    frequency_cap_hours: int | None = None
    quiet_hours: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSONVariant, nullable=True)
    )
    # A date trigger (``trigger == "customer.date"``): which date, the offset, the local hour.
    schedule: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSONVariant, nullable=True)
    )
    # A follow-up: wait this long after the trigger, then check ``recheck`` before sending.
    delay_seconds: int | None = None
    recheck: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSONVariant, nullable=True)
    )
    status: str = "active"  # "active" | "paused"
    created_by: str | None = None
    updated_by: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)


class Event(SQLModel, table=True):
    """An inbound event, stored once per dedupe key with the answer it got."""

    __table_args__ = (
        UniqueConstraint("project_id", "dedupe_key", name="uq_event_dedupe"),
        # A customer's events, newest first, for their profile.
        Index(
            "ix_event_customer",
            "project_id",
            "customer_id",
            "received_at",
            postgresql_where=text("customer_id IS NOT NULL"),
            sqlite_where=text("customer_id IS NOT NULL"),
        ),
        # The few events whose distributions are still to be matched (segment changes).
        Index(
            "ix_event_pending",
            "received_at",
            postgresql_where=text("pending"),
            sqlite_where=text("pending"),
        ),
    )

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    dedupe_key: str
    type: str
    source: str = "api"  # "api" | "voucherify"
    customer_id: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONVariant))
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONVariant))
    received_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    #: Stored by a customer write, its distributions not matched yet (a segment entered or
    #: left: ``distribution.events.segment_events`` prepares them just after the write).
    pending: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class FollowUp(SQLModel, table=True):
    """A delayed distribution's wait for one event: due at ``due_at``, then re-checked.

    The row is the truth while it waits, as a delivery row is while it is queued: a restart
    finds it again. ``status`` moves once, from ``waiting`` to ``sent`` or ``skipped`` (with
    the reason), in the transaction that writes the deliveries.
    """

    __tablename__ = "follow_up"
    __table_args__ = (
        UniqueConstraint("event_id", "distribution_id", name="uq_follow_up_event_distribution"),
        Index("ix_follow_up_due", "status", "due_at"),
    )

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    event_id: str
    distribution_id: str
    customer_id: str | None = None
    referrer_id: str | None = None
    status: str = "waiting"  # "waiting" | "sent" | "skipped"
    reason: str | None = None
    due_at: datetime = Field(sa_type=DateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    done_at: datetime | None = Field(default=None, sa_type=DateTime)


def _present(name: str, *columns: str) -> Index:
    """An index of the rows whose last column is not NULL."""
    where = text(f"{columns[-1]} IS NOT NULL")
    return Index(name, *columns, postgresql_where=where, sqlite_where=where)


class Delivery(SQLModel, table=True):
    """One message to one recipient on one channel, with everything needed to send it."""

    __table_args__ = (
        UniqueConstraint("project_id", "idempotency_key", name="uq_delivery_idempotency"),
        Index("ix_delivery_due", "status", "priority", "next_attempt_at"),
        Index("ix_delivery_project_created", "project_id", "id"),
        # Partial where a column is often empty: a bulk message has no event or distribution,
        # a triggered one no bulk job, and no row has a provider's id until it is sent. Every
        # status change rewrites a row's entries in every index, so an index of NULLs cost
        # three writes per message for nothing; lookups by value (``= ?``) still use them.
        _present("ix_delivery_provider_message", "provider", "provider_message_id"),
        _present("ix_delivery_event_id", "event_id"),
        _present("ix_delivery_distribution_id", "distribution_id"),
        _present("ix_delivery_bulk_job_id", "bulk_job_id"),
        # A redemption finds the messages that carried its code (attribution).
        _present("ix_delivery_code", "project_id", "code"),
        # A scope's conversions and time to conversion read its few converted messages.
        _present("ix_delivery_converted", "project_id", "converted_at"),
        # Distributed mode: the queued rows no job carries yet (fresh bulk rows).
        Index(
            "ix_delivery_unenqueued",
            "next_attempt_at",
            postgresql_where=text(_UNENQUEUED),
            sqlite_where=text(_UNENQUEUED),
        ),
    )

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    idempotency_key: str
    event_id: str | None = None
    distribution_id: str | None = None
    bulk_job_id: str | None = None
    customer_id: str | None = Field(default=None, index=True)
    campaign_id: str | None = None
    channel: str
    provider: str
    template_id: str | None = None
    template_version_id: str | None = None
    marketing: bool = False
    # A test send from the editor: recorded so it can be seen and found like any message, and
    # left out of campaign statistics (it has no distribution, bulk job or customer).
    test: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    recipient: str | None = None
    status: str = "queued"
    # Lower goes first: triggered messages (0) are never starved by a bulk job (10).
    priority: int = 0
    content: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONVariant))
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    lease_until: datetime | None = Field(default=None, sa_type=DateTime)
    # Distributed mode: until when a queued job is believed to carry this row. The sweeper
    # enqueues due rows whose mark is missing or past, so a lost enqueue loses nothing.
    enqueued_until: datetime | None = Field(default=None, sa_type=DateTime)
    provider_message_id: str | None = None
    # The provider's own word when it took (or refused) the message: Twilio `queued`/`accepted`,
    # Mandrill `queued`/`scheduled`, Braze `success`. `status` says `sent` for all of them, as
    # frequency caps and statistics count it; this keeps "accepted for later" visible.
    provider_status: str | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    sent_at: datetime | None = Field(default=None, sa_type=DateTime)
    # The code the message carried (a triggering event's, or the one a bulk send assigned).
    code: str | None = None
    # Credited with a redemption of ``code``: when first, and the orders' amounts (minor units).
    converted_at: datetime | None = Field(default=None, sa_type=DateTime)
    conversion_amount: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    conversion_currency: str | None = None


class DeliveryStatusChange(SQLModel, table=True):
    """The history of a delivery's statuses, oldest first."""

    __tablename__ = "delivery_status_change"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(
        sa_column=Column(
            String, ForeignKey("delivery.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    status: str
    detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime = Field(default_factory=utcnow, sa_type=DateTime)


class Suppression(SQLModel, table=True):
    """A customer or address that gets no marketing on a channel (unsubscribed, complained)."""

    __table_args__ = (
        UniqueConstraint("project_id", "channel", "address", name="uq_suppression_address"),
        # A scope's ``unsubscribed``: the few unsubscribes that came through a message's link.
        _present("ix_suppression_delivery", "project_id", "delivery_id"),
    )

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    channel: str
    address: str
    customer_id: str | None = Field(default=None, index=True)
    reason: str
    # The message whose unsubscribe link added it (its scope's statistics count it).
    delivery_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)


class Resubscription(SQLModel, table=True):
    """When a customer last opted in again on a channel after being suppressed there.

    Unsubscribe links issued before that moment no longer apply: an old message must not undo a
    later opt-in.
    """

    customer_id: str = Field(primary_key=True)
    channel: str = Field(primary_key=True)
    project_id: str = project_fk()
    at: datetime = Field(sa_type=DateTime)
