"""Follow-ups: a delayed distribution waits, re-checks, then sends or records why it did not."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from distribution.customers.store import erase_customer
from distribution.errors import InvalidInputError
from distribution.events.distributions import DistributionSpec, create_distribution
from distribution.events.event_input import parse_event
from distribution.events.follow_ups import run_due_follow_ups
from distribution.events.ingest import receive_event
from distribution.events.schedule_rules import delay_seconds
from distribution.models import Delivery, FollowUp, utcnow
from distribution.outbox import ChannelSpec
from distribution.storage.db import Database
from tests.builders import distribute, publish_template
from tests.conftest import ProjectCredentials

from .engine_helpers import LINKS

TWO_DAYS = timedelta(days=2)


def _reminder(database: Database, project_id: str, **options: Any) -> str:
    template = publish_template(
        database, project_id, subject="Your code", body="<p>Still there: {{ code.code }}</p>"
    )
    return distribute(
        database,
        project_id,
        "code.assigned",
        [("email", template, "capture")],
        **({"delay": "P2D", "recheck": {"code": "not_redeemed"}} | options),
    )


def _assigned(database: Database, project_id: str, who: str, code: str, **more: Any) -> None:
    body = {
        "type": "code.assigned",
        "customer": {"source_id": who, "email": f"{who}@example.com"} | more,
        "code": {"code": code},
    }
    result = receive_event(database, project_id, parse_event(body), LINKS)
    assert result.deliveries == []  # nothing is written until the wait is over


def _redeemed(database: Database, project_id: str, who: str, code: str) -> None:
    body = {
        "type": "redemption.succeeded",
        "customer": {"source_id": who},
        "code": {"code": code},
    }
    receive_event(database, project_id, parse_event(body), LINKS)


def _follow_ups(database: Database, project_id: str) -> dict[str, FollowUp]:
    with database.reader() as session:
        rows = session.exec(select(FollowUp).where(FollowUp.project_id == project_id)).all()
    return {row.customer_id or "": row for row in rows}


def _deliveries(database: Database, project_id: str) -> list[Delivery]:
    with database.reader() as session:
        return list(session.exec(select(Delivery).where(Delivery.project_id == project_id)))


def test_a_follow_up_waits_then_sends_when_the_code_is_still_not_redeemed(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    _reminder(database, project_id)
    _assigned(database, project_id, "keeps", "KEEP-1")
    _assigned(database, project_id, "uses", "USE-1")
    _redeemed(database, project_id, "uses", "USE-1")

    run_due_follow_ups(database, LINKS, utcnow() + TWO_DAYS - timedelta(minutes=1))
    assert _deliveries(database, project_id) == []
    assert {f.status for f in _follow_ups(database, project_id).values()} == {"waiting"}

    outcomes = run_due_follow_ups(database, LINKS, utcnow() + TWO_DAYS + timedelta(seconds=1))
    ours = {f.id for f in _follow_ups(database, project_id).values()}
    mine = [o for o in outcomes if o.id in ours]
    assert sorted(o.status for o in mine) == ["sent", "skipped"]
    [delivery] = _deliveries(database, project_id)
    assert delivery.recipient == "keeps@example.com"
    assert "KEEP-1" in str(delivery.content)
    skipped = [f for f in _follow_ups(database, project_id).values() if f.status == "skipped"]
    assert [f.reason for f in skipped] == ["the code USE-1 was redeemed"]

    # Settled once: later rounds find nothing to do.
    run_due_follow_ups(database, LINKS, utcnow() + TWO_DAYS * 3)
    assert len(_deliveries(database, project_id)) == 1


def test_a_recheck_condition_skips_a_customer_who_no_longer_meets_it(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    _reminder(
        database,
        project_id,
        recheck={"conditions": {"field": "metadata.plan", "op": "eq", "value": "trial"}},
    )
    _assigned(database, project_id, "upgrader", "UP-1", metadata={"plan": "trial"})
    _assigned(database, project_id, "stays", "ST-1", metadata={"plan": "trial"})
    # The upgrader's plan changes while the reminder waits.
    body = {
        "type": "plan.changed",
        "customer": {"source_id": "upgrader", "metadata": {"plan": "pro"}},
    }
    receive_event(database, project_id, parse_event(body), LINKS)

    run_due_follow_ups(database, LINKS, utcnow() + TWO_DAYS + timedelta(seconds=1))
    [delivery] = _deliveries(database, project_id)
    assert delivery.recipient == "stays@example.com"
    reasons = sorted(str(f.reason) for f in _follow_ups(database, project_id).values())
    assert reasons == ["None", "the customer no longer meets the recheck conditions"]


def test_a_paused_distribution_skips_its_waiting_follow_ups(
    database: Database, project: ProjectCredentials
) -> None:
    from distribution.events.distributions import set_distribution_status

    project_id = project.project.id
    distribution_id = _reminder(database, project_id)
    _assigned(database, project_id, "p", "P-1")
    with database.session() as session:
        set_distribution_status(session, project_id, distribution_id, "paused", actor="test")
    run_due_follow_ups(database, LINKS, utcnow() + TWO_DAYS + timedelta(seconds=1))
    assert _deliveries(database, project_id) == []
    [follow_up] = _follow_ups(database, project_id).values()
    assert (follow_up.status, follow_up.reason) == ("skipped", "the distribution is paused")


def test_an_erased_customer_is_skipped(database: Database, project: ProjectCredentials) -> None:
    project_id = project.project.id
    _reminder(database, project_id)
    _assigned(database, project_id, "gone", "GONE-1")
    [follow_up] = _follow_ups(database, project_id).values()
    with database.session() as session:
        erase_customer(session, project_id, str(follow_up.customer_id))
    run_due_follow_ups(database, LINKS, utcnow() + TWO_DAYS + timedelta(seconds=1))
    assert _deliveries(database, project_id) == []
    [settled] = _follow_ups(database, project_id).values()
    assert (settled.status, settled.reason) == ("skipped", "the customer was erased")


@pytest.mark.parametrize(
    ("delay", "recheck", "field"),
    [
        ("P2X", None, "delay"),
        (0, None, "delay"),
        ("P91D", None, "delay"),
        (None, {"code": "not_redeemed"}, "recheck"),
        (60, {"code": "redeemed"}, "recheck.code"),
        (60, {"conditions": {"field": "x"}}, "recheck.conditions.op"),
        (60, {"later": True}, "recheck.later"),
    ],
)
def test_a_bad_delay_or_recheck_is_refused_naming_the_field(
    database: Database,
    project: ProjectCredentials,
    delay: Any,
    recheck: dict[str, Any] | None,
    field: str,
) -> None:
    spec = DistributionSpec(
        name="bad",
        trigger="code.assigned",
        channels=[ChannelSpec("email", "tmpl_x", "capture")],
        filters={},
        delay=delay,
        recheck=recheck,
    )
    with database.session() as session, pytest.raises(InvalidInputError) as raised:
        create_distribution(session, project.project.id, spec, actor="test")
    assert [e.field for e in raised.value.errors][:1] == [field]


def test_three_runners_racing_settle_each_follow_up_once(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    _reminder(database, project_id)
    for n in range(20):
        _assigned(database, project_id, f"r{n}", f"RACE-{n}")
    due = utcnow() + TWO_DAYS + timedelta(seconds=1)
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: run_due_follow_ups(database, LINKS, due), range(3)))
    deliveries = _deliveries(database, project_id)
    assert sorted(str(d.recipient) for d in deliveries) == sorted(
        f"r{n}@example.com" for n in range(20)
    )
    assert {f.status for f in _follow_ups(database, project_id).values()} == {"sent"}


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        (90, 90),
        ("P2D", 172800),
        ("PT36H", 129600),
        ("P1DT12H", 129600),
        ("PT90M", 5400),
        ("P1W", 604800),
        ("PT1S", 1),
    ],
)
def test_a_delay_is_seconds_or_an_iso_duration(raw: int | str, seconds: int) -> None:
    assert delay_seconds(raw) == seconds


@pytest.mark.parametrize("raw", ["P", "PT", "2D", "P1Y", "P1M", "-P1D", True])
def test_a_delay_that_is_no_duration_is_refused(raw: object) -> None:
    with pytest.raises(InvalidInputError):
        delay_seconds(raw)  # type: ignore[arg-type]
