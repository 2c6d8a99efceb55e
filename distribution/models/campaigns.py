"""Campaigns, their code pools and codes, and bulk send jobs.

A code is ``available``, ``assigned`` (to exactly one customer) or ``revoked``. The unique
(campaign, customer) pair is what makes "one code per customer per campaign" hold under any
concurrency, on SQLite and PostgreSQL alike (NULLs do not collide, so available codes are free).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from distribution.models.core import JSONVariant, project_fk, utcnow

__all__ = ["BulkJob", "Campaign", "Code", "CodePool"]


class Campaign(SQLModel, table=True):
    """A referral or promotion campaign."""

    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_campaign_name"),)

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    name: str
    type: str = "referral"  # "referral" | "promotion" | ...
    description: str | None = None
    meta: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column("metadata", JSONVariant, nullable=False)
    )
    # e.g. "https://shop.example.com/r/{code}"
    referral_url_template: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)


class CodePool(SQLModel, table=True):
    """A pool of unique codes for one campaign."""

    __tablename__ = "code_pool"

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    campaign_id: str = Field(
        sa_column=Column(
            String, ForeignKey("campaign.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    name: str
    low_stock_threshold: int | None = None
    low_stock_alerted_at: datetime | None = Field(default=None, sa_type=DateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)


class Code(SQLModel, table=True):
    """One code of a pool; an integer key keeps million-code pools compact."""

    __table_args__ = (
        UniqueConstraint("project_id", "code", name="uq_code_project_code"),
        UniqueConstraint("campaign_id", "customer_id", name="uq_code_campaign_customer"),
        Index("ix_code_pool_status", "pool_id", "status", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    project_id: str = project_fk()
    pool_id: str = Field(
        sa_column=Column(String, ForeignKey("code_pool.id", ondelete="CASCADE"), nullable=False)
    )
    campaign_id: str
    code: str
    status: str = "available"  # "available" | "assigned" | "revoked"
    customer_id: str | None = None
    revoked_customer_id: str | None = None
    assigned_at: datetime | None = Field(default=None, sa_type=DateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime)


class BulkJob(SQLModel, table=True):
    """A bulk send: an audience, channels, a schedule, progress, and the preflight report.

    ``cursor`` is the last customer id fully prepared, so a restarted job continues after it.
    """

    __tablename__ = "bulk_job"

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    campaign_id: str | None = None
    status: str = "scheduled"
    audience: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONVariant))
    channels: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONVariant))
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONVariant))
    preflight: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONVariant))
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONVariant))
    cursor: str | None = None
    scheduled_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    started_at: datetime | None = Field(default=None, sa_type=DateTime)
    finished_at: datetime | None = Field(default=None, sa_type=DateTime)
    error: str | None = None
    created_by: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
