"""Redemptions of codes and the messages they are credited to (attribution).

A redemption is stored once per project and dedupe key (Voucherify's redemption id, else the
event's own key), whether or not a message of ours carried the code: an unattributed one is a
row without attributions.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from distribution.models.core import project_fk, utcnow

__all__ = ["Redemption", "RedemptionAttribution"]


class Redemption(SQLModel, table=True):
    """A code redeemed: the order it paid for (when told) and where the news came from."""

    __table_args__ = (
        UniqueConstraint("project_id", "dedupe_key", name="uq_redemption_dedupe"),
        # The project's redemptions newest first, for the list.
        Index("ix_redemption_project_redeemed", "project_id", "redeemed_at"),
    )

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    dedupe_key: str
    code: str
    # Minor units (cents), as Voucherify sends order amounts; None when the event had no order.
    order_id: str | None = None
    amount: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    currency: str | None = None
    customer_id: str | None = Field(default=None, index=True)
    event_id: str | None = None
    #: How many messages the redemption was credited to (0: unattributed).
    attributed: int = 0
    redeemed_at: datetime = Field(sa_type=DateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)


class RedemptionAttribution(SQLModel, table=True):
    """One message credited with one redemption."""

    __tablename__ = "redemption_attribution"

    redemption_id: str = Field(
        sa_column=Column(String, ForeignKey("redemption.id", ondelete="CASCADE"), primary_key=True)
    )
    delivery_id: str = Field(
        sa_column=Column(
            String, ForeignKey("delivery.id", ondelete="CASCADE"), primary_key=True, index=True
        )
    )
