"""The messages log: deliveries with their status history, and per-distribution counts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, func
from sqlmodel import Session, col, select

from distribution.models import (
    BulkJob,
    Delivery,
    DeliveryStatus,
    DeliveryStatusChange,
    Distribution,
    MessageTemplate,
)
from distribution.outbox.conversions import Scope, conversion_figures, counts_by_day
from distribution.storage.ids import first_id_at
from distribution.storage.pages import IdPage, newest_first
from distribution.storage.project_rows import project_row

__all__ = [
    "DELIVERY_STATUSES",
    "MESSAGE_ID_PREFIX",
    "MessageLabels",
    "MessagePage",
    "changed_messages",
    "distribution_stats",
    "get_message",
    "labels_for",
    "list_bulk_jobs",
    "list_messages",
    "message_labels",
    "status_history",
]

MAX_PAGE = 100
#: Deliveries' ids start with this (see ``distribution.events.ingest`` and ``distribution.bulk``).
MESSAGE_ID_PREFIX = "msg"
#: Every status a delivery can have, in the order a message moves through them.
DELIVERY_STATUSES = tuple(status.value for status in DeliveryStatus)


MessagePage = IdPage[Delivery]


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
    bulk_job_id: str | None = None,
    test: bool | None = None,
) -> MessagePage:
    """Newest first, filtered; pass ``next_cursor`` as ``starting_after`` for older ones.

    ``test``: True for the editor's test sends only, False for real messages only."""
    limit = max(1, min(limit, MAX_PAGE))
    statement = select(Delivery).where(Delivery.project_id == project_id)
    filters: dict[str, Any] = {
        "customer_id": customer_id,
        "distribution_id": distribution_id,
        "campaign_id": campaign_id,
        "event_id": event_id,
        "status": status,
        "channel": channel,
        "bulk_job_id": bulk_job_id,
        "test": test,
    }
    for name, value in filters.items():
        if value is not None:
            statement = statement.where(getattr(Delivery, name) == value)
    if created_after:
        statement = statement.where(col(Delivery.created_at) >= created_after)
    if created_before:
        statement = statement.where(col(Delivery.created_at) < created_before)
    return newest_first(session, statement, Delivery.id, limit=limit, starting_after=starting_after)


def changed_messages(
    session: Session,
    project_id: str,
    *,
    since: datetime,
    from_id: str,
    created_since: datetime | None = None,
    limit: int = MAX_PAGE,
    channel: str | None = None,
    distribution_id: str | None = None,
    bulk_job_id: str | None = None,
) -> MessagePage:
    """Messages with an id at or after ``from_id`` created or changed at or after ``since``.

    Newest first. For a live feed: ``from_id`` is the oldest message on screen, so the scan
    walks the id index only from there; ``created_since`` bounds it further (ids begin with
    their creation time). Status is not a filter here: a message leaving a status is a change.
    """
    limit = max(1, min(limit, MAX_PAGE))
    if created_since is not None:
        from_id = max(from_id, first_id_at(MESSAGE_ID_PREFIX, created_since))
    statement = select(Delivery).where(
        Delivery.project_id == project_id,
        col(Delivery.id) >= from_id,
        col(Delivery.updated_at) >= since,
    )
    filters = {"channel": channel, "distribution_id": distribution_id, "bulk_job_id": bulk_job_id}
    for name, value in filters.items():
        if value is not None:
            statement = statement.where(getattr(Delivery, name) == value)
    rows = list(session.exec(statement.order_by(col(Delivery.id).desc()).limit(limit + 1)))
    return MessagePage(rows[:limit], len(rows) > limit, None)


def get_message(session: Session, project_id: str, message_id: str) -> Delivery:
    """One delivery of the project."""
    return project_row(session, Delivery, project_id, message_id, "message")


def status_history(session: Session, delivery_id: str) -> list[DeliveryStatusChange]:
    """A delivery's statuses, oldest first."""
    return list(
        session.exec(
            select(DeliveryStatusChange)
            .where(DeliveryStatusChange.delivery_id == delivery_id)
            .order_by(col(DeliveryStatusChange.at), col(DeliveryStatusChange.id))
        )
    )


def distribution_stats(
    session: Session, project_id: str, distribution_id: str, *, since: datetime | None = None
) -> dict[str, Any]:
    """Counts by status and channel, in total and per day of creation (UTC), and conversions.

    With ``since``, only deliveries created at or after it count.
    """
    scope = Scope("distribution_id", distribution_id)
    rows: list[Any]
    if since is None:
        rows = [(d.isoformat(), *rest) for d, *rest in counts_by_day(session, project_id, scope)]
    else:
        # A moment, finer than the counts' days: the messages since are counted from their rows.
        day = func.substr(func.cast(col(Delivery.created_at), Text()), 1, 10)
        statement = select(day, Delivery.channel, Delivery.status, func.count()).where(
            Delivery.project_id == project_id,
            Delivery.distribution_id == distribution_id,
            col(Delivery.created_at) >= since,
        )
        rows = list(
            session.exec(
                statement.group_by(day, Delivery.channel, Delivery.status).order_by(day)
            ).all()
        )
    totals: Counter[str] = Counter()
    by_channel: dict[str, Counter[str]] = {}
    by_day: dict[str, Counter[str]] = {}
    for day_value, channel, status, count in rows:
        totals[status] += int(count)
        by_channel.setdefault(channel, Counter())[status] += int(count)
        by_day.setdefault(str(day_value), Counter())[status] += int(count)
    return {
        "total": dict(totals),
        "by_channel": {k: dict(v) for k, v in by_channel.items()},
        "by_day": [{"day": k, "counts": dict(v)} for k, v in by_day.items()],
        **conversion_figures(session, project_id, scope, since=since),
    }


@dataclass(frozen=True)
class MessageLabels:
    """Names to show beside messages: their distributions' and templates'."""

    distributions: dict[str, str]
    templates: dict[str, str]


def message_labels(session: Session, project_id: str, messages: list[Delivery]) -> MessageLabels:
    """The names of the distributions and templates these messages came from."""
    return labels_for(
        session,
        project_id,
        distribution_ids={m.distribution_id for m in messages if m.distribution_id},
        template_ids={m.template_id for m in messages if m.template_id},
    )


def labels_for(
    session: Session,
    project_id: str,
    *,
    distribution_ids: set[str] | frozenset[str] = frozenset(),
    template_ids: set[str] | frozenset[str] = frozenset(),
) -> MessageLabels:
    """The names of these distributions and templates of the project (a query for each kind)."""
    distributions: dict[str, str] = {}
    templates: dict[str, str] = {}
    if distribution_ids:
        distributions = {
            str(i): str(n)
            for i, n in session.exec(
                select(Distribution.id, Distribution.name).where(
                    Distribution.project_id == project_id,
                    col(Distribution.id).in_(distribution_ids),
                )
            )
        }
    if template_ids:
        templates = {
            str(i): str(n)
            for i, n in session.exec(
                select(MessageTemplate.id, MessageTemplate.name).where(
                    MessageTemplate.project_id == project_id,
                    col(MessageTemplate.id).in_(template_ids),
                )
            )
        }
    return MessageLabels(distributions, templates)


def list_bulk_jobs(session: Session, project_id: str, *, limit: int = 50) -> list[BulkJob]:
    """The project's newest bulk sends first (ids sort by creation time)."""
    limit = max(1, min(limit, MAX_PAGE))
    return list(
        session.exec(
            select(BulkJob)
            .where(BulkJob.project_id == project_id)
            .order_by(col(BulkJob.id).desc())
            .limit(limit)
        )
    )
