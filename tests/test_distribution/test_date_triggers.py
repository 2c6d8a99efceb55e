"""Date triggers: a customer's date fires once per occurrence at the local hour, DST or not.

The scan is given ``now`` (the clock the scheduler passes in), so a test walks through a day
minute by minute without waiting for it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from distribution.customers.customer_input import CustomerIn
from distribution.customers.store import upsert_customer
from distribution.errors import InvalidInputError
from distribution.events.date_triggers import fire_date_triggers
from distribution.events.distributions import DistributionSpec, create_distribution
from distribution.models import Customer, Delivery, Event
from distribution.outbox import ChannelSpec
from distribution.storage.db import Database
from tests.builders import distribute, publish_template
from tests.conftest import ProjectCredentials

from .engine_helpers import LINKS

BIRTHDAY = {"field": "birthdate", "offset_days": 0, "at": "09:00"}


def _customer(database: Database, project_id: str, source_id: str, **fields: Any) -> str:
    with database.session() as session:
        data = CustomerIn(source_id=source_id, email=f"{source_id}@example.com", **fields)
        return upsert_customer(session, project_id, data, default_region="PL").customer.id


def _date_distribution(database: Database, project_id: str, **schedule: Any) -> str:
    template = publish_template(
        database, project_id, subject="Happy birthday", body="<p>Happy birthday!</p>"
    )
    return distribute(
        database,
        project_id,
        "customer.date",
        [("email", template, "capture")],
        schedule=BIRTHDAY | schedule,
    )


def _sent_to(database: Database, project_id: str) -> list[tuple[str, datetime]]:
    """(recipient, created_at) of the project's deliveries, oldest first."""
    with database.reader() as session:
        rows = session.exec(
            select(Delivery.recipient, Delivery.created_at)
            .where(Delivery.project_id == project_id)
            .order_by(Delivery.created_at)  # type: ignore[arg-type]
        ).all()
    return [(str(recipient), at) for recipient, at in rows]


def _tick(database: Database, at: datetime) -> list[str]:
    return fire_date_triggers(database, LINKS, at)


def test_a_birthday_fires_at_nine_local_in_warsaw_on_both_sides_of_the_spring_change(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    _date_distribution(database, project_id)
    # 2027-03-28 is the day Warsaw moves from CET (UTC+1) to CEST (UTC+2) at 02:00.
    _customer(database, project_id, "before", birthdate="1990-03-27", timezone="Europe/Warsaw")
    _customer(database, project_id, "on", birthdate="1985-03-28", timezone="Europe/Warsaw")
    _customer(database, project_id, "after", birthdate="2001-03-29", timezone="Europe/Warsaw")

    _tick(database, datetime(2027, 3, 27, 7, 59))
    assert _sent_to(database, project_id) == []
    _tick(database, datetime(2027, 3, 27, 8, 0))  # 09:00 CET
    assert [r for r, _ in _sent_to(database, project_id)] == ["before@example.com"]

    _tick(database, datetime(2027, 3, 28, 6, 59))
    assert len(_sent_to(database, project_id)) == 1
    _tick(database, datetime(2027, 3, 28, 7, 0))  # 09:00 CEST: an hour earlier in UTC
    _tick(database, datetime(2027, 3, 29, 7, 0))
    recipients = [r for r, _ in _sent_to(database, project_id)]
    assert recipients == ["before@example.com", "on@example.com", "after@example.com"]

    # Every minute of the following day and a half fires nothing again.
    at = datetime(2027, 3, 29, 7, 1)
    while at < datetime(2027, 3, 30, 19, 0):
        _tick(database, at)
        at += timedelta(minutes=37)
    assert len(_sent_to(database, project_id)) == 3


def test_the_autumn_change_keeps_nine_local(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    _date_distribution(database, project_id)
    # 2027-10-31: Warsaw goes back to CET at 03:00 CEST; 09:00 that day is 08:00 UTC.
    _customer(database, project_id, "oct", birthdate="1970-10-31", timezone="Europe/Warsaw")
    _tick(database, datetime(2027, 10, 31, 7, 0))  # 08:00 local: not yet
    assert _sent_to(database, project_id) == []
    _tick(database, datetime(2027, 10, 31, 8, 0))
    assert len(_sent_to(database, project_id)) == 1


def test_an_offset_sends_days_before_and_a_customer_without_a_zone_gets_utc(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    _date_distribution(database, project_id, offset_days=-3, at="10:30")
    _customer(database, project_id, "utc", birthdate="1999-06-10")
    _tick(database, datetime(2027, 6, 7, 10, 29))
    assert _sent_to(database, project_id) == []
    queued = _tick(database, datetime(2027, 6, 7, 10, 30))
    assert len(queued) == 1
    with database.reader() as session:
        [event] = session.exec(select(Event).where(Event.project_id == project_id)).all()
    assert event.type == "customer.date"
    assert event.payload["data"]["occurrence"] == "2027-06-10"
    assert event.payload["data"]["send_date"] == "2027-06-07"


def test_a_missed_occurrence_fires_within_a_day_and_never_after(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    _date_distribution(database, project_id)
    _customer(database, project_id, "late", birthdate="1990-05-01", timezone="UTC")
    _customer(database, project_id, "stale", birthdate="1990-04-29", timezone="UTC")
    # The service was down from 04-28 to 05-02 08:00: 05-01 09:00 is 23 hours ago, 04-29's
    # was three days ago.
    _tick(database, datetime(2027, 5, 2, 8, 0))
    assert [r for r, _ in _sent_to(database, project_id)] == ["late@example.com"]


def test_a_29_february_birthday_falls_on_28_february_in_other_years(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    _date_distribution(database, project_id)
    _customer(database, project_id, "leap", birthdate="2000-02-29", timezone="UTC")
    _tick(database, datetime(2027, 2, 28, 9, 0))
    _tick(database, datetime(2027, 3, 1, 9, 0))
    assert [r for r, _ in _sent_to(database, project_id)] == ["leap@example.com"]
    _tick(database, datetime(2028, 2, 28, 9, 0))  # 2028 has its own 29 February
    assert len(_sent_to(database, project_id)) == 1
    _tick(database, datetime(2028, 2, 29, 9, 0))
    assert len(_sent_to(database, project_id)) == 2


def test_a_metadata_date_fires_once_and_a_created_at_anniversary_from_the_next_year(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    _date_distribution(database, project_id, field="metadata.renews_on")
    _date_distribution(database, project_id, field="created_at", at="12:00")
    renewing = _customer(
        database, project_id, "renew", metadata={"renews_on": "2027-09-15"}, timezone="UTC"
    )
    _tick(database, datetime(2027, 9, 15, 9, 0))
    _tick(database, datetime(2028, 9, 15, 9, 0))  # "once": not next year
    assert [r for r, _ in _sent_to(database, project_id)] == ["renew@example.com"]

    with database.reader() as session:
        joined = session.get(Customer, renewing)
        assert joined is not None
        day = joined.created_at.date()
    noon = datetime(day.year, day.month, day.day, 12, 0)
    _tick(database, noon + timedelta(minutes=1))  # the day it was created: no anniversary
    assert len(_sent_to(database, project_id)) == 1
    _tick(database, noon.replace(year=day.year + 1))
    assert len(_sent_to(database, project_id)) == 2


@pytest.mark.parametrize(
    ("trigger", "schedule", "field"),
    [
        ("customer.date", None, "schedule"),
        ("reward.granted", BIRTHDAY, "schedule"),
        ("customer.date", {"field": "shoe_size", "at": "09:00"}, "schedule.field"),
        ("customer.date", {"field": "birthdate", "at": "9am"}, "schedule.at"),
        ("customer.date", BIRTHDAY | {"offset_days": 400}, "schedule.offset_days"),
        ("customer.date", BIRTHDAY | {"repeat": "weekly"}, "schedule.repeat"),
        ("customer.date", BIRTHDAY | {"when": "now"}, "schedule.when"),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_field(
    database: Database,
    project: ProjectCredentials,
    trigger: str,
    schedule: dict[str, Any] | None,
    field: str,
) -> None:
    spec = DistributionSpec(
        name="bad",
        trigger=trigger,
        channels=[ChannelSpec("email", "tmpl_x", "capture")],
        filters={},
        schedule=schedule,
    )
    with database.session() as session, pytest.raises(InvalidInputError) as raised:
        create_distribution(session, project.project.id, spec, actor="test")
    assert [e.field for e in raised.value.errors] == [field]


def test_three_schedulers_racing_fire_each_occurrence_once(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    _date_distribution(database, project_id)
    for n in range(40):
        _customer(database, project_id, f"race{n}", birthdate="1990-07-01", timezone="UTC")
    at = datetime(2027, 7, 1, 9, 0)
    with ThreadPoolExecutor(3) as pool:
        rounds = list(pool.map(lambda _: _tick(database, at), range(3)))
    assert sum(len(queued) for queued in rounds) == 40
    sent = [r for r, _ in _sent_to(database, project_id)]
    assert sorted(sent) == sorted(f"race{n}@example.com" for n in range(40))
