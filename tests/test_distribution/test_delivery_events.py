"""Provider reports move deliveries forward and feed the suppression list."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from distribution.customers.consent import is_suppressed
from distribution.models import Delivery, DeliveryStatusChange
from distribution.outbox.delivery_events import record_delivery_events
from distribution.storage.db import Database
from distribution.storage.ids import new_id
from providers import DeliveryEvent
from providers.delivery_events import EventType
from tests.conftest import ProjectCredentials

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _sent(database: Database, project_id: str, status: str = "sent") -> Delivery:
    delivery = Delivery(
        id=new_id("msg"),
        project_id=project_id,
        idempotency_key=new_id("k"),
        channel="sms",
        provider="twilio",
        recipient="+14155552671",
        status=status,
        provider_message_id=new_id("SM"),
    )
    with database.session() as session:
        session.add(delivery)
    return delivery


def _event(delivery: Delivery, kind: EventType, reason: str | None = None) -> DeliveryEvent:
    return DeliveryEvent(
        provider_message_id=delivery.provider_message_id, type=kind, timestamp=NOW, reason=reason
    )


def _status(database: Database, delivery: Delivery) -> tuple[str, list[str]]:
    with database.reader() as session:
        row = session.get(Delivery, delivery.id)
        history = session.exec(
            select(DeliveryStatusChange.status).where(
                DeliveryStatusChange.delivery_id == delivery.id
            )
        ).all()
    assert row is not None
    return row.status, list(history)


def test_statuses_only_move_forward_whatever_the_order(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    delivery = _sent(database, pid)
    with database.session() as session:
        matched = record_delivery_events(
            session,
            pid,
            "twilio",
            [_event(delivery, "delivered"), _event(delivery, "sent"), _event(delivery, "queued")],
        )
    assert matched == 3
    assert _status(database, delivery) == ("delivered", ["delivered", "sent", "queued"])


def test_a_report_settles_an_unknown_delivery(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    delivery = _sent(database, pid, status="unknown")
    with database.session() as session:
        record_delivery_events(session, pid, "twilio", [_event(delivery, "sent")])
    assert _status(database, delivery)[0] == "sent"


def test_bounce_is_final_and_opt_out_suppresses(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    delivery = _sent(database, pid)
    with database.session() as session:
        record_delivery_events(
            session,
            pid,
            "twilio",
            [_event(delivery, "bounced", "30003"), _event(delivery, "unsubscribed", "21610")],
        )
        record_delivery_events(session, pid, "twilio", [_event(delivery, "delivered")])
    with database.reader() as session:
        row = session.get(Delivery, delivery.id)
        suppressed = is_suppressed(session, pid, "sms", "+14155552671", None)
    assert row is not None
    assert (row.status, row.last_error) == ("bounced", "30003")
    assert suppressed


def test_reports_for_other_projects_or_providers_change_nothing(
    database: Database, project: ProjectCredentials
) -> None:
    pid = project.project.id
    delivery = _sent(database, pid)
    with database.session() as session:
        assert (
            record_delivery_events(session, "proj_other", "twilio", [_event(delivery, "failed")])
            == 0
        )
        assert record_delivery_events(session, pid, "mandrill", [_event(delivery, "failed")]) == 0
    assert _status(database, delivery) == ("sent", [])
