"""Segment events through the store and the runner's function, on the real database: stored
pending by the write itself (no delivery yet), prepared once, whatever happens in between."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from distribution.customers.customer_input import CustomerIn
from distribution.customers.segment_changes import SEGMENT_ENTERED, SEGMENT_LEFT
from distribution.customers.segments import create_segment
from distribution.customers.store import erase_customer, upsert_customer, upsert_customers
from distribution.events.distributions import DistributionSpec, create_distribution
from distribution.events.segment_events import prepare_segment_events
from distribution.models import Delivery, Event
from distribution.outbox import ChannelSpec, LinkSettings
from distribution.storage.db import Database
from tests.builders import publish_template
from tests.conftest import ProjectCredentials

LINKS = LinkSettings(public_url="https://dm.example.com", secret_key="segment-events")
GOLD = {"field": "metadata.tier", "op": "eq", "value": "gold"}


def _listen(database: Database, project_id: str, trigger: str) -> str:
    template = publish_template(
        database, project_id, subject="{{ segment.name }}", body="<p>{{ segment.id }}</p>"
    )
    with database.session() as session:
        segment = create_segment(session, project_id, "Gold", GOLD)
        create_distribution(
            session,
            project_id,
            DistributionSpec(
                name=f"on {trigger}",
                trigger=trigger,
                channels=[ChannelSpec("email", template, "capture")],
                filters={"segment_id": segment.id},
            ),
            actor="test",
        )
        return segment.id


def _upsert(database: Database, project_id: str, tier: str) -> None:
    with database.session() as session:
        upsert_customer(
            session,
            project_id,
            CustomerIn(source_id="ana", email="ana@example.com", metadata={"tier": tier}),
            default_region="US",
        )


def _events(session: Session, project_id: str) -> list[Event]:
    return list(
        session.exec(
            select(Event)
            .where(col(Event.project_id) == project_id)
            .order_by(col(Event.received_at), col(Event.id))
        )
    )


def _deliveries(session: Session, project_id: str) -> list[Delivery]:
    return list(session.exec(select(Delivery).where(col(Delivery.project_id) == project_id)))


def _prepare_all(database: Database) -> None:
    while True:
        with database.session() as session:
            if not prepare_segment_events(session, LINKS):
                return


def test_the_write_stores_the_event_pending_and_the_runner_prepares_it_once(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    segment_id = _listen(database, project_id, SEGMENT_ENTERED)
    _upsert(database, project_id, "gold")
    with database.reader() as session:
        [event] = _events(session, project_id)
        assert (event.type, event.pending, event.source) == (SEGMENT_ENTERED, True, "segment")
        assert event.payload["segment"] == {"id": segment_id, "name": "Gold"}
        assert _deliveries(session, project_id) == []
    _prepare_all(database)
    _prepare_all(database)  # nothing is left to prepare: no second delivery
    with database.reader() as session:
        [event] = _events(session, project_id)
        [delivery] = _deliveries(session, project_id)
    assert not event.pending
    assert delivery.event_id == event.id
    assert delivery.content["subject"] == "Gold"
    assert [d["id"] for d in event.result["deliveries"]] == [delivery.id]


def test_a_leave_erased_before_it_is_prepared_still_finds_its_distribution(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    _listen(database, project_id, SEGMENT_LEFT)
    _upsert(database, project_id, "gold")
    _upsert(database, project_id, "silver")  # left, pending
    with database.session() as session:
        erase_customer(session, project_id, "ana")  # left already: no second leave
    _prepare_all(database)
    with database.reader() as session:
        types = [e.type for e in _events(session, project_id)]
        deliveries = _deliveries(session, project_id)
    assert types == [SEGMENT_ENTERED, SEGMENT_LEFT]
    assert len(deliveries) == 1


def test_a_batch_stores_one_event_per_change_with_one_statement(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    _listen(database, project_id, SEGMENT_ENTERED)
    rows: list[dict[str, Any]] = [
        {"source_id": f"r{i}", "email": f"r{i}@example.com", "metadata": {"tier": tier}}
        for i, tier in enumerate(["gold", "silver"] * 50)
    ]
    with database.session() as session:
        upsert_customers(session, project_id, rows, default_region="US")
    _prepare_all(database)
    with database.reader() as session:
        events = _events(session, project_id)
        deliveries = _deliveries(session, project_id)
    assert len(events) == len(deliveries) == 50
    assert len({e.dedupe_key for e in events}) == 50
