"""Delivery rows written with plain SQL, and a campaign's figures read both ways: as the
statistics read them (counts and unfolded deltas) and counted from the rows here."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from distribution.models import Delivery
from distribution.outbox.conversions import Scope, scope_days, scope_stats
from distribution.storage.db import Database
from distribution.storage.driver_sql import insert_many
from distribution.storage.ids import new_id

_DELIVERIES = Delivery.__table__  # type: ignore[attr-defined]
STATUSES = ("queued", "sending", "sent", "delivered", "failed", "bounced", "cancelled", "unknown")


def delivery_row(
    project_id: str, campaign_id: str, created_at: datetime, **values: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": new_id("msg"),
        "project_id": project_id,
        "idempotency_key": new_id("k"),
        "campaign_id": campaign_id,
        "distribution_id": None,
        "template_id": None,
        "template_version_id": None,
        "channel": "email",
        "provider": "capture",
        "status": "queued",
        "test": False,
        "marketing": False,
        "priority": 0,
        "content": {},
        "attempts": 0,
        "next_attempt_at": created_at,
        "created_at": created_at,
        "updated_at": created_at,
        "sent_at": None,
        "converted_at": None,
    }
    row.update(values)
    return row


def insert_rows(connection: Connection, rows: list[dict[str, Any]]) -> None:
    names = tuple(rows[0])
    insert_many(connection, _DELIVERIES, names, ([row[n] for n in names] for row in rows))


def scanned_counts(database: Database, project_id: str, campaign_id: str) -> dict[str, Any]:
    """The campaign's figures counted from its rows, in total and per day."""
    with database.reader() as session:
        rows = session.connection().execute(
            text(
                "SELECT created_at, status, sent_at IS NOT NULL, converted_at IS NOT NULL "
                "FROM delivery WHERE project_id = :p AND campaign_id = :c AND NOT test"
            ),
            {"p": project_id, "c": campaign_id},
        )
        by_status: Counter[str] = Counter()
        days: dict[str, Counter[str]] = {}
        for created_at, status, sent, converted in rows:
            moment = created_at if isinstance(created_at, datetime) else None
            day = moment.date().isoformat() if moment else str(created_at)[:10]
            by_status[status] += 1
            tally = days.setdefault(day, Counter())
            tally["messages"] += 1
            tally["sent"] += int(bool(sent))
            tally["converted"] += int(bool(converted))
            tally["delivered"] += int(status == "delivered")
            tally["failed"] += int(status in ("failed", "bounced"))
            tally["bounced"] += int(status == "bounced")
            tally["queued"] += int(status in ("queued", "paused", "sending"))
    return {
        "total": dict(by_status),
        "days": {day: dict(+tally) for day, tally in sorted(days.items())},
    }


def read_counts(database: Database, project_id: str, campaign_id: str) -> dict[str, Any]:
    """The same figures as the statistics read them (counts and unfolded deltas)."""
    scope = Scope("campaign_id", campaign_id)
    with database.reader() as session:
        stats = scope_stats(session, project_id, scope)
        days = scope_days(session, project_id, scope)
    fields = ("messages", "queued", "sent", "converted", "delivered", "failed", "bounced")
    return {
        "total": stats["total"],
        "days": {
            d["day"]: {name: d[name] for name in fields if d[name]} for d in days if d["messages"]
        },
    }


def assert_counts_match(database: Database, project_id: str, campaign_id: str) -> None:
    assert read_counts(database, project_id, campaign_id) == scanned_counts(
        database, project_id, campaign_id
    )
