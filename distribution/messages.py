"""The messages log: deliveries with their status history, and per-distribution counts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, func
from sqlmodel import Session, col, select

from distribution.errors import NotFoundError
from distribution.models import Delivery, DeliveryStatusChange

__all__ = ["MessagePage", "distribution_stats", "get_message", "list_messages", "status_history"]

MAX_PAGE = 100


@dataclass(frozen=True)
class MessagePage:
    messages: list[Delivery]
    has_more: bool
    next_cursor: str | None


def list_messages(
    session: Session,
    project_id: str,
    *,
    limit: int = 50,
    starting_after: str | None = None,
    customer_id: str | None = None,
    distribution_id: str | None = None,
    campaign_id: str | None = None,
    event_id: str | None = None,
    status: str | None = None,
    channel: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> MessagePage:
    """Newest first, filtered; pass ``next_cursor`` as ``starting_after`` for older ones."""
    limit = max(1, min(limit, MAX_PAGE))
    statement = select(Delivery).where(Delivery.project_id == project_id)
    filters: dict[str, Any] = {
        "customer_id": customer_id,
        "distribution_id": distribution_id,
        "campaign_id": campaign_id,
        "event_id": event_id,
        "status": status,
        "channel": channel,
    }
    for name, value in filters.items():
        if value is not None:
            statement = statement.where(getattr(Delivery, name) == value)
    if starting_after:
        statement = statement.where(col(Delivery.id) < starting_after)
    if created_after:
        statement = statement.where(col(Delivery.created_at) >= created_after)
    if created_before:
        statement = statement.where(col(Delivery.created_at) < created_before)
    rows = list(session.exec(statement.order_by(col(Delivery.id).desc()).limit(limit + 1)))
    has_more = len(rows) > limit
    rows = rows[:limit]
    return MessagePage(rows, has_more, rows[-1].id if has_more and rows else None)


def get_message(session: Session, project_id: str, message_id: str) -> Delivery:
    """One delivery of the project."""
    found = session.exec(
        select(Delivery).where(Delivery.project_id == project_id, Delivery.id == message_id)
    ).first()
    if found is None:
        raise NotFoundError("message", message_id)
    return found


def status_history(session: Session, delivery_id: str) -> list[DeliveryStatusChange]:
    """A delivery's statuses, oldest first."""
    return list(
        session.exec(
            select(DeliveryStatusChange)
            .where(DeliveryStatusChange.delivery_id == delivery_id)
            .order_by(col(DeliveryStatusChange.at), col(DeliveryStatusChange.id))
        )
    )


def distribution_stats(session: Session, project_id: str, distribution_id: str) -> dict[str, Any]:
    """Counts by status and channel, in total and per day of creation (UTC)."""
    day = func.substr(func.cast(col(Delivery.created_at), Text()), 1, 10)
    rows = session.exec(
        select(day, Delivery.channel, Delivery.status, func.count())
        .where(Delivery.project_id == project_id, Delivery.distribution_id == distribution_id)
        .group_by(day, Delivery.channel, Delivery.status)
        .order_by(day)
    ).all()
    totals: Counter[str] = Counter()
    by_channel: dict[str, Counter[str]] = {}
    by_day: dict[str, Counter[str]] = {}
    for day_value, channel, status, count in rows:
        totals[status] += count
        by_channel.setdefault(channel, Counter())[status] += count
        by_day.setdefault(str(day_value), Counter())[status] += count
    return {
        "total": dict(totals),
        "by_channel": {k: dict(v) for k, v in by_channel.items()},
        "by_day": [{"day": k, "counts": dict(v)} for k, v in by_day.items()],
    }
