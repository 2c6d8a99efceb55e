"""Async actions: bulk customer updates run after the request that asked for them (Voucherify's)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index
from sqlmodel import Field, SQLModel

from distribution.models.core import JSONVariant, project_fk, utcnow

__all__ = ["AsyncAction"]


class AsyncAction(SQLModel, table=True):
    """One asynchronous action: its input until it runs, then its result.

    ``status`` is Voucherify's: ``ENQUEUED``, ``IN_PROGRESS``, ``DONE`` or ``FAILED``. The
    payload is kept until the action is done, so an action a restart interrupted runs again
    (its updates are upserts: running twice writes the same values).
    """

    __tablename__ = "async_action"
    __table_args__ = (Index("ix_async_action_status", "status"),)

    id: str = Field(primary_key=True)
    project_id: str = project_fk()
    type: str
    status: str = "ENQUEUED"
    payload: Any = Field(default=None, sa_column=Column(JSONVariant, nullable=True))
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONVariant))
    processing_time: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime)
