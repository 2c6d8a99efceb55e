"""Group commit: several events ingested in one transaction, each answered on its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from distribution.errors import InvalidInputError
from distribution.events.event_input import parse_event
from distribution.events.ingest import IngestResult, receive_events
from distribution.models import Customer, Delivery, Event, WebhookCall
from distribution.storage.db import Database
from distribution.storage.migrate import upgrade
from distribution.storage.secrets import SecretBox
from distribution.webhooks.subscriptions import create_subscription
from tests.builders import distribute, publish_template
from tests.conftest import ProjectCredentials, make_project

from .engine_helpers import LINKS


def _body(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "reward.granted",
        "customer": {"source_id": name, "email": f"{name}@example.com", "name": name.upper()},
        "reward": {"amount": 100, "currency": "USD"},
        **extra,
    }


def _ingest(database: Database, project_id: str, *bodies: dict[str, Any]) -> list[Any]:
    return receive_events(database, [(project_id, parse_event(b)) for b in bodies], LINKS)


def _result(outcome: object) -> IngestResult:
    assert isinstance(outcome, IngestResult), outcome
    return outcome


def _stored(database: Database, project_id: str) -> tuple[list[Event], list[str], list[Delivery]]:
    with database.reader() as session:
        events = list(session.exec(select(Event).where(Event.project_id == project_id)))
        sources = [
            str(c.source_id)
            for c in session.exec(
                select(Customer)
                .where(Customer.project_id == project_id)
                .order_by(col(Customer.source_id))
            )
        ]
        deliveries = list(session.exec(select(Delivery).where(Delivery.project_id == project_id)))
    return events, sources, deliveries


@pytest.fixture
def sending(database: Database, project: ProjectCredentials) -> Iterator[str]:
    """The project's id, with a distribution sending an email on reward.granted."""
    project_id = project.project.id
    template = publish_template(database, project_id)
    distribute(database, project_id, "reward.granted", [("email", template, "capture")])
    yield project_id
    # Workers of later tests claim every due row of the shared database: none is left queued.
    with database.session() as session:
        session.connection().execute(
            update(Delivery)
            .where(col(Delivery.project_id) == project_id, col(Delivery.status) == "queued")
            .values(status="failed")
        )


def test_a_failing_event_is_undone_alone_and_the_others_commit(
    database: Database, sending: str
) -> None:
    # The middle event upserts its customer, then fails on an unknown referrer: its savepoint
    # must take the customer back with it.
    outcomes = _ingest(
        database,
        sending,
        _body("first"),
        _body("second", referrer={"id": "cust_nobody"}),
        _body("third"),
    )

    first, third = _result(outcomes[0]), _result(outcomes[2])
    failed = outcomes[1]
    assert isinstance(failed, InvalidInputError)
    assert [e.field for e in failed.errors] == ["referrer"]
    events, sources, deliveries = _stored(database, sending)
    assert sorted(e.id for e in events) == sorted([first.event_id, third.event_id])
    assert sources == ["first", "third"]
    assert sorted(d.recipient or "" for d in deliveries) == [
        "first@example.com",
        "third@example.com",
    ]


def test_a_repeated_id_inside_one_batch_answers_duplicate_with_the_original(
    database: Database, sending: str
) -> None:
    outcomes = _ingest(
        database,
        sending,
        _body("dup", id="order-7"),
        _body("other"),
        _body("dup", id="order-7"),
    )

    original, other, repeat = (_result(o) for o in outcomes)
    assert (original.duplicate, other.duplicate, repeat.duplicate) == (False, False, True)
    assert (repeat.event_id, repeat.deliveries) == (original.event_id, original.deliveries)
    events, _, deliveries = _stored(database, sending)
    assert len(events) == 2
    assert len(deliveries) == 2


def test_every_event_of_a_batch_gets_its_own_result(database: Database, sending: str) -> None:
    outcomes = [_result(o) for o in _ingest(database, sending, *(_body(f"c{n}") for n in range(5)))]

    assert not any(o.duplicate for o in outcomes)
    assert len({o.event_id for o in outcomes}) == 5
    recipients = [o.deliveries[0].id for o in outcomes]
    _, _, deliveries = _stored(database, sending)
    by_id = {d.id: d.recipient for d in deliveries}
    assert [by_id[r] for r in recipients] == [f"c{n}@example.com" for n in range(5)]


def test_a_subscription_made_after_events_were_ingested_gets_the_next_one(
    database: Database, sending: str
) -> None:
    # The first event finds no subscriber, which is cached; subscribing must end that.
    _ingest(database, sending, _body("before"))
    with database.session() as session:
        create_subscription(
            session,
            SecretBox("test"),
            sending,
            "http://127.0.0.1:9/hook",
            ["message.queued"],
            allow_private=True,
        )
    after = _result(_ingest(database, sending, _body("after"))[0])

    with database.reader() as session:
        calls = list(session.exec(select(WebhookCall).where(WebhookCall.project_id == sending)))
    assert [c.payload["data"]["id"] for c in calls] == [after.deliveries[0].id]


def test_a_customer_changed_by_an_earlier_event_of_the_batch_is_seen_changed(
    database: Database, sending: str
) -> None:
    # The first event finds the customer by id, the second changes its email, the third finds
    # it by id again: events of one transaction must see each other as separate ones did.
    [created] = _ingest(database, sending, _body("changing"))
    customer_id = _stored(database, sending)[2][0].customer_id
    assert _result(created).deliveries
    by_id = {"type": "reward.granted", "customer": {"id": customer_id}, "reward": {"amount": 1}}
    outcomes = _ingest(
        database,
        sending,
        by_id,
        _body("changing", customer={"source_id": "changing", "email": "new@example.com"}),
        by_id,
    )

    ids = [_result(o).deliveries[0].id for o in outcomes]
    _, _, deliveries = _stored(database, sending)
    recipient = {d.id: d.recipient for d in deliveries}
    assert [recipient[i] for i in ids] == [
        "changing@example.com",
        "new@example.com",
        "new@example.com",
    ]


# Two ways a batch fails as a whole rather than one event at a time, each set off by an event of
# its own type: a trigger's RAISE(ROLLBACK) ends the transaction, savepoints and all, in the
# middle of the batch; a deferred foreign key lets every event succeed and fails the COMMIT.
_WHOLE_BATCH_FAILURES = [
    "CREATE TRIGGER test_batch_rollback BEFORE INSERT ON event "
    "WHEN NEW.type = 'batch.rolled_back' "
    "BEGIN SELECT RAISE(ROLLBACK, 'batch.rolled_back refused by the test'); END",
    "CREATE TABLE test_batch_parent (id TEXT PRIMARY KEY)",
    "CREATE TABLE test_batch_child "
    "(parent TEXT REFERENCES test_batch_parent (id) DEFERRABLE INITIALLY DEFERRED)",
    "CREATE TRIGGER test_batch_commit AFTER INSERT ON event "
    "WHEN NEW.type = 'batch.commit_refused' "
    "BEGIN INSERT INTO test_batch_child VALUES (NEW.id); END",
]


@pytest.fixture
def whole_batch_failures(tmp_path: Path) -> Iterator[tuple[Database, str]]:
    """A SQLite database of its own (group commit is SQLite's) with the triggers and tables
    above, and a project whose distribution sends an email on reward.granted."""
    database = Database(f"sqlite:///{tmp_path / 'batch.sqlite3'}")
    upgrade(database.engine)
    project_id = make_project(database).project.id
    template = publish_template(database, project_id)
    distribute(database, project_id, "reward.granted", [("email", template, "capture")])
    with database.session() as session:
        for statement in _WHOLE_BATCH_FAILURES:
            session.connection().exec_driver_sql(statement)
    yield database, project_id
    database.dispose()


@pytest.mark.parametrize(
    ("bad_type", "reason"),
    [
        ("batch.rolled_back", "batch.rolled_back refused by the test"),
        ("batch.commit_refused", "FOREIGN KEY constraint failed"),
    ],
)
def test_a_batch_failing_as_a_whole_ingests_each_event_alone(
    whole_batch_failures: tuple[Database, str], bad_type: str, reason: str
) -> None:
    database, sending = whole_batch_failures
    outcomes = _ingest(
        database,
        sending,
        _body("before", id="order-before"),
        _body("bad", type=bad_type),
        _body("after"),
    )

    before, after = _result(outcomes[0]), _result(outcomes[2])
    bad = outcomes[1]
    assert isinstance(bad, IntegrityError), bad
    assert reason in str(bad)
    # Stored once each, by the retry: the batch's attempt left nothing, not even a dedupe key.
    assert (before.duplicate, after.duplicate) == (False, False)
    events, sources, deliveries = _stored(database, sending)
    assert sorted(e.id for e in events) == sorted([before.event_id, after.event_id])
    assert sources == ["after", "before"]
    assert sorted((d.event_id, d.recipient) for d in deliveries) == sorted(
        [(before.event_id, "before@example.com"), (after.event_id, "after@example.com")]
    )
    # The retry committed what it answered: a repeat is a duplicate of it.
    [repeat] = _ingest(database, sending, _body("before", id="order-before"))
    assert (_result(repeat).duplicate, _result(repeat).event_id) == (True, before.event_id)
