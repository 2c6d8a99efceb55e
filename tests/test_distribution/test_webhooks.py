"""Our events out: emitted in the changing transaction, signed, retried, disabled when gone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from distribution.customers.consent import unsubscribe_customer
from distribution.customers.customer_input import CustomerIn
from distribution.customers.store import upsert_customer
from distribution.events.event_input import parse_event
from distribution.events.ingest import receive_event
from distribution.models import Delivery, WebhookCall, WebhookSubscription, utcnow
from distribution.outbox.delivery_events import record_delivery_events
from distribution.outbox.worker import EmbeddedWorker
from distribution.storage.db import Database
from distribution.storage.secrets import SecretBox
from distribution.webhooks.dispatch import WebhookDispatcher, WebhookPolicy
from distribution.webhooks.subscriptions import create_subscription, emit, emit_many
from providers import DeliveryEvent
from tests.builders import distribute, publish_template
from tests.conftest import ProjectCredentials
from tests.test_providers.fakes.server import serve

from .engine_helpers import FAST_RETRIES, LINKS, Senders, capture
from .webhook_receiver import Receiver, Scripted

BOX = SecretBox("webhook-test-secret")
FAST = WebhookPolicy(schedule=(0.0, 0.0), allow_private=True, disable_after=2, jitter=0.0)


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    api = Receiver()
    with serve(api) as url:
        yield api, url


def _subscribe(
    database: Database,
    project_id: str,
    receiver: tuple[Receiver, str],
    event_types: list[str],
    *,
    name: str | None = None,
) -> str:
    api, base = receiver
    path = f"/hooks/{name or project_id}"
    with database.session() as session:
        new = create_subscription(
            session, BOX, project_id, base + path, event_types, allow_private=True
        )
    api.secrets[path] = new.secret
    return new.subscription.id


def _calls(database: Database, project_id: str) -> list[WebhookCall]:
    with database.reader() as session:
        return list(session.exec(select(WebhookCall).where(WebhookCall.project_id == project_id)))


def _subscription(database: Database, subscription_id: str) -> WebhookSubscription:
    with database.reader() as session:
        found = session.get(WebhookSubscription, subscription_id)
    assert found is not None
    return found


async def _drain(dispatcher: WebhookDispatcher, rounds: int = 50) -> None:
    for _ in range(rounds):
        if await dispatcher.run_once() == 0:
            return
    raise AssertionError("webhook calls were still due after many rounds")


def _mine(api: Receiver, project_id: str) -> list[str]:
    return sorted(r.event["type"] for r in api.received if r.path == f"/hooks/{project_id}")


async def test_a_message_journey_reaches_the_subscriber_signed(
    database: Database, project: ProjectCredentials, receiver: tuple[Receiver, str]
) -> None:
    api, _ = receiver
    pid = project.project.id
    _subscribe(database, pid, receiver, ["*"])
    template = publish_template(database, pid)
    distribute(database, pid, "reward.granted", [("email", template, "capture")])
    provider = capture()
    worker = EmbeddedWorker(database, Senders({"capture": provider}), FAST_RETRIES)
    body = {
        "type": "reward.granted",
        "customer": {"source_id": "w1", "email": "w1@example.com", "name": "Wanda"},
        "reward": {"type": "credit", "amount": 500, "currency": "EUR"},
    }
    [summary] = receive_event(database, pid, parse_event(body), LINKS).deliveries
    dispatcher = WebhookDispatcher(database, BOX, FAST)
    await worker.run_once()
    with database.session() as session:
        row = session.get(Delivery, summary.id)
        assert row is not None
        record_delivery_events(
            session,
            pid,
            "capture",
            [
                DeliveryEvent(
                    provider_message_id=row.provider_message_id,
                    type="delivered",
                    timestamp=datetime.now(UTC),
                )
            ],
        )
        unsubscribe_customer(session, pid, str(row.customer_id), "email", reason="link")
    await _drain(dispatcher)

    assert _mine(api, pid) == [
        "customer.unsubscribed",
        "message.delivered",
        "message.queued",
        "message.sent",
    ]
    sent = next(r for r in api.of_type("message.sent") if r.event["data"]["id"] == summary.id)
    assert sent.event["data"]["status"] == "sent"
    assert sent.event["data"]["channel"] == "email"
    assert sent.event["data"]["provider_message_id"] == f"capture-{summary.id}"
    assert all(c.status == "delivered" for c in _calls(database, pid))
    assert not [r for r in api.refused if r.path == f"/hooks/{pid}"]


def test_emit_follows_event_types_and_the_callers_transaction(
    database: Database, project: ProjectCredentials, receiver: tuple[Receiver, str]
) -> None:
    pid = project.project.id
    sent_only = _subscribe(database, pid, receiver, ["message.sent"], name=f"{pid}-a")
    _subscribe(database, pid, receiver, ["customer.unsubscribed"], name=f"{pid}-b")
    with database.session() as session:
        emit(session, pid, "message.sent", {"id": "msg_1"})
        emit(session, pid, "code.assigned", {"code": "X"})
    with pytest.raises(RuntimeError, match="the change failed"):
        _emit_then_fail(database, pid)
    calls = _calls(database, pid)
    assert [(c.subscription_id, c.payload["data"]) for c in calls] == [(sent_only, {"id": "msg_1"})]
    assert calls[0].payload["type"] == "message.sent"


def _emit_then_fail(database: Database, project_id: str) -> None:
    with database.session() as session:
        emit(session, project_id, "message.sent", {"id": "msg_rolled_back"})
        raise RuntimeError("the change failed")


async def test_retries_keep_the_webhook_id_and_body(
    database: Database, project: ProjectCredentials, receiver: tuple[Receiver, str]
) -> None:
    api, _ = receiver
    pid = project.project.id
    _subscribe(database, pid, receiver, ["message.sent"])
    with database.session() as session:
        emit(session, pid, "message.sent", {"id": "msg_retry"})
    dispatcher = WebhookDispatcher(
        database, BOX, WebhookPolicy(schedule=(0.0,) * 3, jitter=0.0, allow_private=True)
    )
    path = f"/hooks/{pid}"
    api.fail_next(path, Scripted(503), Scripted(429, {"Retry-After": "0"}))
    await _drain(dispatcher)

    [call] = _calls(database, pid)
    attempts = api.to(path)
    assert len(attempts) == 3
    assert len({r.body for r in attempts}) == 1
    assert (call.status, call.attempts, call.last_status_code) == ("delivered", 3, 204)
    assert [r.webhook_id for r in api.received].count(call.id) == 1


async def test_retry_after_is_honoured_and_a_timeout_is_retried(
    database: Database, project: ProjectCredentials, receiver: tuple[Receiver, str]
) -> None:
    api, _ = receiver
    pid = project.project.id
    _subscribe(database, pid, receiver, ["message.sent"])
    with database.session() as session:
        emit(session, pid, "message.sent", {"id": "msg_slow"})
    policy = WebhookPolicy(schedule=(0.0, 0.0), timeout=0.2, allow_private=True, jitter=0.0)
    dispatcher = WebhookDispatcher(database, BOX, policy)
    path = f"/hooks/{pid}"
    api.fail_next(path, Scripted(200, delay=0.6))
    await dispatcher.run_once()
    [call] = _calls(database, pid)
    assert (call.status, call.attempts) == ("pending", 1)
    assert "no answer within" in (call.last_error or "")

    api.fail_next(path, Scripted(429, {"Retry-After": "3600"}))
    with database.session() as session:
        session.get(WebhookCall, call.id).next_attempt_at = utcnow()  # type: ignore[union-attr]
    await dispatcher.run_once()
    [call] = _calls(database, pid)
    assert call.status == "pending"
    assert call.next_attempt_at > utcnow() + timedelta(seconds=3000)


async def test_410_disables_the_subscription_and_nothing_more_is_queued(
    database: Database, project: ProjectCredentials, receiver: tuple[Receiver, str]
) -> None:
    api, _ = receiver
    pid = project.project.id
    subscription_id = _subscribe(database, pid, receiver, ["message.sent"])
    with database.session() as session:
        emit(session, pid, "message.sent", {"id": "msg_gone"})
    api.fail_next(f"/hooks/{pid}", Scripted(410))
    await _drain(WebhookDispatcher(database, BOX, FAST))
    with database.session() as session:
        emit(session, pid, "message.sent", {"id": "msg_after"})

    subscription = _subscription(database, subscription_id)
    assert subscription.status == "disabled"
    assert "410" in (subscription.disabled_reason or "")
    assert [c.status for c in _calls(database, pid)] == ["failed"]


async def test_persistent_failure_disables_the_subscription_with_a_reason(
    database: Database, project: ProjectCredentials, receiver: tuple[Receiver, str]
) -> None:
    api, _ = receiver
    pid = project.project.id
    subscription_id = _subscribe(database, pid, receiver, ["message.failed"])
    with database.session() as session:
        for n in range(3):
            emit(session, pid, "message.failed", {"id": f"msg_{n}"})
    api.fail_next(f"/hooks/{pid}", *[Scripted(500)] * 9)
    await _drain(WebhookDispatcher(database, BOX, FAST))

    subscription = _subscription(database, subscription_id)
    assert subscription.status == "disabled"
    assert "2 consecutive calls failed" in (subscription.disabled_reason or "")
    statuses = sorted(c.status for c in _calls(database, pid))
    # Two calls gave up after 3 attempts each; the third waits for the subscription to return.
    assert statuses.count("failed") >= 2
    assert all(c.attempts == 3 for c in _calls(database, pid) if c.status == "failed")


async def test_private_targets_are_refused_without_the_operator_setting(
    database: Database, project: ProjectCredentials, receiver: tuple[Receiver, str]
) -> None:
    api, _ = receiver
    pid = project.project.id
    _subscribe(database, pid, receiver, ["message.sent"])
    with database.session() as session:
        emit(session, pid, "message.sent", {"id": "msg_ssrf"})
    await _drain(WebhookDispatcher(database, BOX, WebhookPolicy(allow_private=False)))

    [call] = _calls(database, pid)
    assert call.status == "failed"
    assert "loopback" in (call.last_error or "")
    assert api.to(f"/hooks/{pid}") == []


async def test_a_stored_6to4_form_of_loopback_is_refused_at_call_time(
    database: Database, project: ProjectCredentials
) -> None:
    # Stored while the operator allowed private networks, sent after they stopped allowing it.
    pid = project.project.id
    with database.session() as session:
        create_subscription(
            session, BOX, pid, "http://[2002:7f00:1::]:9/hook", ["message.sent"], allow_private=True
        )
        emit(session, pid, "message.sent", {"id": "msg_6to4"})
    await _drain(WebhookDispatcher(database, BOX, WebhookPolicy(allow_private=False)))

    [call] = _calls(database, pid)
    assert call.status == "failed"
    assert "loopback address (6to4)" in (call.last_error or "")


def test_subscribing_refuses_internal_addresses(
    database: Database, project: ProjectCredentials
) -> None:
    from distribution.errors import InvalidInputError

    for url in (
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/hook",
        "https://10.0.0.5/hook",
    ):
        with pytest.raises(InvalidInputError), database.session() as session:
            create_subscription(session, BOX, project.project.id, url, ["message.sent"])


def test_customer_unsubscribed_names_the_customer(
    database: Database, project: ProjectCredentials, receiver: tuple[Receiver, str]
) -> None:
    pid = project.project.id
    _subscribe(database, pid, receiver, ["customer.unsubscribed"])
    with database.session() as session:
        customer = upsert_customer(
            session, pid, CustomerIn(source_id="u1", email="u@example.com"), default_region="US"
        )
        unsubscribe_customer(session, pid, customer.customer.id, "email", reason="one click")
        unsubscribe_customer(session, pid, customer.customer.id, "email", reason="again")
    [call] = _calls(database, pid)
    assert call.payload["data"] == {
        "customer_id": customer.customer.id,
        "channel": "email",
        "reason": "one click",
    }


def test_emit_many_queues_one_call_per_event_and_wanting_subscription(
    database: Database, project: ProjectCredentials, receiver: tuple[Receiver, str]
) -> None:
    pid = project.project.id
    sent_only = _subscribe(database, pid, receiver, ["message.sent"], name=f"{pid}-s")
    everything = _subscribe(database, pid, receiver, ["*"], name=f"{pid}-all")
    with database.session() as session:
        queued = emit_many(session, pid, "message.sent", [{"id": f"msg_{i}"} for i in range(3)])
        assigned = emit_many(session, pid, "code.assigned", [{"code": "A"}, {"code": "B"}])
        assert emit_many(session, pid, "message.sent", []) == 0
    with database.session() as session:
        unwanted = emit_many(
            session, project.project.id, "message.queued", [{"id": "msg_9"}]
        )  # only the wildcard wants it
    assert (queued, assigned, unwanted) == (6, 2, 1)
    calls = _calls(database, pid)
    by_subscription: dict[str, list[tuple[str, object]]] = {}
    for call in calls:
        by_subscription.setdefault(call.subscription_id, []).append(
            (call.event_type, call.payload["data"])
        )
    assert sorted(by_subscription[sent_only], key=str) == [
        ("message.sent", {"id": "msg_0"}),
        ("message.sent", {"id": "msg_1"}),
        ("message.sent", {"id": "msg_2"}),
    ]
    assert len(by_subscription[everything]) == 6
    assert len({c.id for c in calls}) == len(calls) == 9
    assert all(c.status == "pending" and c.payload["type"] == c.event_type for c in calls)


def test_emit_many_with_no_subscription_wanting_the_type_writes_nothing(
    database: Database, project: ProjectCredentials, receiver: tuple[Receiver, str]
) -> None:
    pid = project.project.id
    _subscribe(database, pid, receiver, ["customer.unsubscribed"], name=f"{pid}-u")
    with database.session() as session:
        written = emit_many(session, pid, "message.sent", [{"id": "msg_1"}] * 100)
    assert written == 0
    assert _calls(database, pid) == []
