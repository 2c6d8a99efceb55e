"""Date triggers: the periodic scan that turns customers' dates into ``customer.date`` events.

Every active distribution with a ``schedule`` is scanned on each tick (every minute in the
embedded scheduler, a procrastinate periodic task in distributed mode). SQL narrows the customers
to those whose date falls on one of the few days an occurrence can be due now (by month and day
for a yearly date, by the whole date for a one-off); each candidate's send time is then worked
out in their own zone (``schedule_rules``) and an event is ingested for every occurrence whose
time has come within the catch-up window.

Exactly once: the event's dedupe key is ``date:<distribution>:<customer>:<local send day>``, and
the event table's unique key on it refuses a second copy, whichever scheduler or worker races.
Keys already stored are looked up first, so a scan over the catch-up window costs one query, not
one ingest per customer per tick.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, func
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from distribution.customers.segment_filter import filter_clause, parse_filter
from distribution.events.event_input import CustomerRef, IncomingEvent
from distribution.events.ingest import IngestResult, receive_events
from distribution.events.schedule_rules import (
    CATCH_UP,
    DATE_TRIGGER,
    DateSchedule,
    customer_zone,
    local_to_utc,
    parse_schedule,
)
from distribution.models import Customer, Distribution, Event
from distribution.outbox import LinkSettings
from distribution.storage.db import Database

__all__ = ["DateOccurrence", "due_occurrences", "fire_date_triggers"]

log = logging.getLogger("distribution.date_triggers")

# The zones of the world run from UTC-12 to UTC+14.
_WEST = timedelta(hours=12)
_EAST = timedelta(hours=14)
_BATCH = 200


@dataclass(frozen=True, slots=True)
class DateOccurrence:
    """One customer's occurrence of a distribution's date that is due: its event's dedupe key
    (``date:<distribution>:<customer>:<local send day>``) and data."""

    customer_id: str
    dedupe_key: str
    data: dict[str, Any]


def fire_date_triggers(database: Database, links: LinkSettings, now: datetime) -> list[str]:
    """Ingest the due occurrences of every date distribution at ``now`` (naive UTC).

    Returns the ids of the ``queued`` deliveries made, for the caller to wake a worker.
    """
    with database.reader() as session:
        rules = session.exec(
            select(Distribution)
            .where(Distribution.trigger == DATE_TRIGGER, Distribution.status == "active")
            .order_by(col(Distribution.id))
        ).all()
        session.expunge_all()
    queued: list[str] = []
    for distribution in rules:
        if not distribution.schedule:
            continue
        with database.reader() as session:
            due = due_occurrences(session, distribution, now)
        for start in range(0, len(due), _BATCH):
            batch = due[start : start + _BATCH]
            items = [(distribution.project_id, _event(occurrence)) for occurrence in batch]
            for outcome in receive_events(database, items, links):
                if isinstance(outcome, IngestResult):
                    if not outcome.duplicate:
                        queued += [d.id for d in outcome.deliveries if d.status == "queued"]
                else:
                    log.warning(
                        "a date trigger's event failed: %s",
                        outcome,
                        extra={"distribution_id": distribution.id},
                    )
    return queued


def _event(occurrence: DateOccurrence) -> IncomingEvent:
    return IncomingEvent(
        type=DATE_TRIGGER,
        customer=CustomerRef(id=occurrence.customer_id),
        upstream_id=occurrence.dedupe_key,
        source="schedule",
        data=occurrence.data,
    )


def due_occurrences(
    session: Session, distribution: Distribution, now: datetime
) -> list[DateOccurrence]:
    """The occurrences of ``distribution`` due at ``now`` and not ingested yet."""
    assert distribution.schedule is not None
    schedule = parse_schedule(distribution.schedule)
    days = _send_days(now)
    occurrence_days = [day - timedelta(days=schedule.offset_days) for day in days]
    value_column, narrowing = _narrowing(session, schedule, occurrence_days)
    rows = session.exec(
        select(Customer.id, Customer.timezone, value_column)
        .where(
            Customer.project_id == distribution.project_id,
            col(Customer.erased_at).is_(None),
            narrowing,
        )
        .order_by(col(Customer.id))
    ).all()
    found: list[DateOccurrence] = []
    for customer_id, timezone, raw in rows:
        value = _date_of(raw, schedule)
        if value is None:
            continue
        for send_day, occurrence in _due(schedule, value, timezone, days, now):
            if send_day < distribution.created_at.date():
                # No catch-up of days before the distribution existed; its first day's
                # occurrences still go out, even those whose hour had passed when it was made.
                continue
            data = {
                "distribution_id": distribution.id,
                "field": schedule.field,
                "date": value.isoformat(),
                "occurrence": occurrence.isoformat(),
                "send_date": send_day.isoformat(),
            }
            key = f"date:{distribution.id}:{customer_id}:{send_day.isoformat()}"
            found.append(DateOccurrence(customer_id, key, data))
    return _not_stored(session, distribution.project_id, found)


def _send_days(now: datetime) -> list[date]:
    """Every local day on which an occurrence can be due at ``now``, in some zone."""
    first = (now - CATCH_UP - _WEST).date()
    last = (now + _EAST).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _due(
    schedule: DateSchedule,
    value: date,
    timezone: str | None,
    days: Sequence[date],
    now: datetime,
) -> Iterator[tuple[date, date]]:
    zone = customer_zone(timezone)
    for send_day in days:
        occurrence = schedule.occurrence_of(value, send_day)
        if occurrence is None:
            continue
        fires = local_to_utc(send_day, schedule.at, zone)
        if fires <= now < fires + CATCH_UP:
            yield send_day, occurrence


def _narrowing(
    session: Session, schedule: DateSchedule, occurrence_days: Sequence[date]
) -> tuple[Any, ColumnElement[bool]]:
    """The column holding the date, and a condition keeping only the candidate customers."""
    if schedule.repeat == "yearly":
        keys = sorted(
            {day.strftime("%m-%d") for day in occurrence_days} | _leap_days(occurrence_days)
        )
    else:
        keys = sorted({day.isoformat() for day in occurrence_days})
    key = schedule.metadata_key
    if key is not None:
        op = "contains" if schedule.repeat == "yearly" else "starts_with"
        prefix = "-" if schedule.repeat == "yearly" else ""
        tree = {"or": [{"field": schedule.field, "op": op, "value": prefix + k} for k in keys]}
        dialect = session.get_bind().dialect.name
        return Customer.meta, filter_clause(parse_filter(tree), dialect)
    if schedule.field == "birthdate":
        column: Any = Customer.birthdate
        text: Any = Customer.birthdate
    else:
        # Stored as naive UTC: on both dialects its text starts with YYYY-MM-DD.
        column = Customer.created_at
        text = cast(Customer.created_at, String)
    if schedule.repeat == "yearly":
        return column, func.substr(text, 6, 5).in_(keys)
    return column, func.substr(text, 1, 10).in_(keys)


def _leap_days(days: Sequence[date]) -> set[str]:
    """A 29 February falls on 28 February in years without one: look for it then too."""
    return {
        "02-29"
        for day in days
        if (day.month, day.day) == (2, 28) and date(day.year, 3, 1) - day == timedelta(days=1)
    }


def _date_of(raw: Any, schedule: DateSchedule) -> date | None:
    """The customer's date from the column read; None when it is missing or not a date."""
    key = schedule.metadata_key
    if key is not None:
        raw = raw.get(key) if isinstance(raw, dict) else None
    if isinstance(raw, datetime):
        return raw.date()
    if not isinstance(raw, str) or len(raw) < 10:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


def _not_stored(
    session: Session, project_id: str, found: list[DateOccurrence]
) -> list[DateOccurrence]:
    """The occurrences whose event is not stored yet (the rest fired on an earlier tick)."""
    stored: set[str] = set()
    keys = [occurrence.dedupe_key for occurrence in found]
    for start in range(0, len(keys), 500):
        stored |= set(
            session.exec(
                select(Event.dedupe_key).where(
                    Event.project_id == project_id,
                    col(Event.dedupe_key).in_(keys[start : start + 500]),
                )
            ).all()
        )
    return [occurrence for occurrence in found if occurrence.dedupe_key not in stored]
