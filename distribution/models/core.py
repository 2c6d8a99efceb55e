"""Core tables: projects, API keys, customers and segments.

Times are stored as naive UTC (SQLite keeps no zone); the web layer adds the ``Z``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

__all__ = [
    "CUSTOMER_COLUMNS",
    "ApiKey",
    "Customer",
    "CustomerLike",
    "CustomerRecord",
    "JSONVariant",
    "Project",
    "Segment",
    "given_names",
    "project_fk",
    "utcnow",
]

# JSONB on PostgreSQL so segment filters can use its operators; plain JSON text on SQLite.
JSONVariant = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """The current time as naive UTC, the form stored in the database."""
    return datetime.now(UTC).replace(tzinfo=None)


def project_fk() -> Any:
    """A non-null, indexed foreign key to the owning project, deleted with it."""
    return Field(
        sa_column=Column(
            String, ForeignKey("project.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )


class Project(SQLModel, table=True):
    """A tenant: all data belongs to exactly one project."""

    id: str = Field(primary_key=True)
    name: str = Field(sa_column=Column(String, nullable=False, unique=True))
    default_region: str = Field(default="US", max_length=2)
    postal_address: str | None = None
    # Standard Webhooks secret that inbound calls to /v1/events may be signed with (encrypted).
    inbound_webhook_secret_encrypted: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)


class ApiKey(SQLModel, table=True):
    """An API credential: the public ``app_id`` and the SHA-256 of its secret token."""

    __tablename__ = "api_key"

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    name: str = "default"
    app_id: str = Field(sa_column=Column(String, nullable=False, unique=True))
    token_hash: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=DateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime)


class Customer(SQLModel, table=True):
    """A customer, shaped like Voucherify's customer object (address flattened into columns)."""

    __table_args__ = (
        UniqueConstraint("project_id", "source_id", name="uq_customer_project_source_id"),
        Index("ix_customer_project_email", "project_id", "email"),
        Index("ix_customer_project_phone", "project_id", "phone"),
        # Bulk jobs page through a project's customers in id order (migration 0007).
        Index("ix_customer_project_id_order", "project_id", "id"),
    )

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    source_id: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    description: str | None = None
    address_city: str | None = None
    address_state: str | None = None
    address_line_1: str | None = None
    address_line_2: str | None = None
    address_country: str | None = None
    address_postal_code: str | None = None
    locale: str | None = None
    timezone: str | None = None
    # ISO ``YYYY-MM-DD`` text (Voucherify's ``birthdate``): it sorts and compares as a date on
    # both dialects and passes the driver-level bulk writes unconverted.
    birthdate: str | None = Field(default=None, max_length=10)
    meta: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column("metadata", JSONVariant, nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    erased_at: datetime | None = Field(default=None, sa_type=DateTime)


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """A customer row read for rendering only: what ``Customer`` holds, without the ORM.

    Bulk jobs read customers by the hundred thousand, and building a SQLModel object per row
    cost more than the query and the render together. The fields are the table's columns in
    their order (``meta`` is the ``metadata`` column), so ``CustomerRecord(*row)`` builds one
    from a Core row of ``select(*CUSTOMER_COLUMNS)``.
    """

    id: str
    project_id: str
    source_id: str | None
    name: str | None
    email: str | None
    phone: str | None
    description: str | None
    address_city: str | None
    address_state: str | None
    address_line_1: str | None
    address_line_2: str | None
    address_country: str | None
    address_postal_code: str | None
    locale: str | None
    timezone: str | None
    birthdate: str | None
    meta: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None


def given_names(name: str | None, meta: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """A customer's first and last name: ``metadata.first_name``/``last_name`` when set, else
    the first word of ``name`` and the rest (templates and customer sync read them so)."""
    words = (name or "").split(maxsplit=1)
    found: list[str | None] = [words[0] if words else None, words[1] if len(words) > 1 else None]
    for index, key in enumerate(("first_name", "last_name")):
        given = (meta or {}).get(key)
        if isinstance(given, str) and given.strip():
            found[index] = given.strip()
    return found[0], found[1]


#: A customer as the renderer and the segment filter read it: either form will do.
CustomerLike: TypeAlias = Customer | CustomerRecord


class Segment(SQLModel, table=True):
    """A named filter over customers; membership is computed, never stored."""

    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_segment_project_name"),)

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    name: str
    filter: dict[str, Any] = Field(sa_column=Column(JSONVariant, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)


#: The customer table's columns in ``CustomerRecord``'s field order.
CUSTOMER_COLUMNS = tuple(Customer.__table__.columns)  # type: ignore[attr-defined]
assert [c.name for c in CUSTOMER_COLUMNS] == [
    "metadata" if f == "meta" else f for f in CustomerRecord.__dataclass_fields__
], "CustomerRecord's fields must follow the customer table's columns"
