"""Message templates: a template has variants (campaign, segment, locale); a variant has versions.

Versions are immutable once written. A variant's live version is the one sends use; newer
versions are drafts until published.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from distribution.models.core import JSONVariant, project_fk, utcnow

__all__ = ["MessageTemplate", "TemplateVariant", "TemplateVersion"]


class MessageTemplate(SQLModel, table=True):
    """A named message for one channel, transactional or marketing."""

    __tablename__ = "message_template"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_template_project_name"),)

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    name: str
    channel: str  # "email" | "sms"
    category: str = "transactional"  # "transactional" | "marketing"
    description: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    archived_at: datetime | None = Field(default=None, sa_type=DateTime)


class TemplateVariant(SQLModel, table=True):
    """One variant of a template; ``None`` keys mean "any" (the default variant has all three)."""

    __tablename__ = "template_variant"
    # NULLs are distinct in unique constraints, so uniqueness is on a key built from all three.
    __table_args__ = (UniqueConstraint("template_id", "variant_key", name="uq_variant_key"),)

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    template_id: str = Field(
        sa_column=Column(
            String,
            ForeignKey("message_template.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    campaign_id: str | None = None
    segment_id: str | None = Field(
        default=None,
        sa_column=Column(String, ForeignKey("segment.id", ondelete="SET NULL"), nullable=True),
    )
    locale: str | None = None
    variant_key: str
    live_version_id: str | None = None
    # An A/B test: while set, sends split between these versions by weight, each customer
    # always getting the same one ([{"version_id": ..., "weight": ...}], see
    # `template_store.ab_tests`); None when the live version alone is sent.
    ab_arms: list[dict[str, Any]] | None = Field(
        default=None, sa_column=Column(JSONVariant, nullable=True)
    )
    ab_started_at: datetime | None = Field(default=None, sa_type=DateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)


class TemplateVersion(SQLModel, table=True):
    """An immutable source of one variant. ``number`` counts up per variant."""

    __tablename__ = "template_version"
    __table_args__ = (
        UniqueConstraint("variant_id", "number", name="uq_version_number"),
        Index("ix_template_version_template", "template_id", "created_at"),
    )

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    template_id: str = Field(
        sa_column=Column(
            String, ForeignKey("message_template.id", ondelete="CASCADE"), nullable=False
        )
    )
    variant_id: str = Field(
        sa_column=Column(
            String, ForeignKey("template_variant.id", ondelete="CASCADE"), nullable=False
        )
    )
    number: int
    subject: str | None = None
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    body_format: str = "mjml"  # "mjml" | "html" | "text" (SMS)
    text_body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    gsm_safe: bool = False
    note: str | None = None
    created_by: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    published_at: datetime | None = Field(default=None, sa_type=DateTime)
    published_by: str | None = None
