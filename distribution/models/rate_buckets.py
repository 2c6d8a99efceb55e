"""Per-provider token buckets shared by every worker process (distributed mode)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, ForeignKey, String
from sqlmodel import Field, SQLModel

__all__ = ["ProviderRateBucket"]


class ProviderRateBucket(SQLModel, table=True):
    """The state of one provider's rate limit: tokens left when last refilled.

    ``last_grant`` is the size of the most recent grant: the one UPDATE that refills and takes
    can only return new values, and this is how its taker learns how many it got.
    """

    __tablename__ = "provider_rate_bucket"

    project_id: str = Field(
        sa_column=Column(
            String, ForeignKey("project.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    provider: str = Field(primary_key=True)
    tokens: float
    last_grant: int = 0
    refilled_at: datetime = Field(sa_type=DateTime)
