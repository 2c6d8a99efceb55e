"""Outgoing webhooks: subscriptions and the outbox of calls to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlmodel import Field, SQLModel

from distribution.models.core import JSONVariant, project_fk, utcnow

__all__ = ["EventStream", "StreamEntry", "StreamSequence", "WebhookCall", "WebhookSubscription"]


class WebhookSubscription(SQLModel, table=True):
    """A URL that receives our events, signed with its own Standard Webhooks secret."""

    __tablename__ = "webhook_subscription"

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    url: str
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSONVariant))
    secret_encrypted: str = Field(sa_column=Column(Text, nullable=False))
    status: str = "active"  # "active" | "disabled"
    consecutive_failures: int = 0
    disabled_reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)


class WebhookCall(SQLModel, table=True):
    """One event for one subscription; its id is the ``webhook-id`` on every attempt."""

    __tablename__ = "webhook_call"
    __table_args__ = (Index("ix_webhook_call_due", "status", "next_attempt_at"),)

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    subscription_id: str = Field(
        sa_column=Column(
            String,
            ForeignKey("webhook_subscription.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    event_type: str
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONVariant))
    status: str = "pending"  # "pending" | "delivered" | "failed"
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=DateTime)


class EventStream(SQLModel, table=True):
    """A feed of our events that a program pages through (a BI job), instead of being called."""

    __tablename__ = "event_stream"

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    name: str
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSONVariant))
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)


class StreamEntry(SQLModel, table=True):
    """One event in a stream. ``position`` is given after the event's transaction committed
    (``webhooks.streams.sequence``), in the order they are found committed, so a reader that
    pages by position never misses an entry that commits late nor reads one twice."""

    __tablename__ = "stream_entry"
    __table_args__ = (
        Index("ix_stream_entry_position", "stream_id", "position"),
        Index(
            "ix_stream_entry_unplaced",
            "id",
            sqlite_where=text("position IS NULL"),
            postgresql_where=text("position IS NULL"),
        ),
        # The scheduler forgets entries past their retention by age.
        Index("ix_stream_entry_created_at", "created_at"),
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    stream_id: str = Field(
        sa_column=Column(String, ForeignKey("event_stream.id", ondelete="CASCADE"), nullable=False)
    )
    event_type: str
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONVariant))
    position: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)


class StreamSequence(SQLModel, table=True):
    """The last position given to a stream entry (one row): taking it for update serialises
    the sequencers, so positions only grow."""

    __tablename__ = "stream_sequence"

    id: int = Field(default=1, primary_key=True)
    last: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
