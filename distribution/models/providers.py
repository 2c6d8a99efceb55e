"""Provider configurations of a project. Secret fields are stored encrypted, never in clear."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from distribution.models.core import JSONVariant, project_fk, utcnow

__all__ = ["ProviderConfig", "UnsubscribePullCursor"]


class ProviderConfig(SQLModel, table=True):
    """A configured provider: its kind, public settings, and encrypted secret settings."""

    __tablename__ = "provider_config"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_provider_project_name"),)

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    name: str
    kind: str
    settings: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONVariant, nullable=False)
    )
    secrets_encrypted: str = Field(default="", sa_column=Column(Text, nullable=False))
    max_concurrency: int | None = None
    rate_per_second: float | None = None
    disabled_at: datetime | None = Field(default=None, sa_type=DateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)


class UnsubscribePullCursor(SQLModel, table=True):
    """How far a provider's list of email unsubscribes (Braze) has been pulled: the last day
    read in full is read again next time (the API filters by whole days; suppressing twice
    changes nothing)."""

    __tablename__ = "unsubscribe_pull_cursor"

    provider_config_id: str = Field(
        sa_column=Column(
            String, ForeignKey("provider_config.id", ondelete="CASCADE"), primary_key=True
        )
    )
    #: ``YYYY-MM-DD`` (UTC): the next pull starts on this day.
    start_date: str = Field(max_length=10)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
