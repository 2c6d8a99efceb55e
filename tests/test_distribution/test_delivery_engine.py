"""The delivery engine end to end: events in, one message out per recipient and channel."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from distribution.customers.consent import unsubscribe_customer
from distribution.events.event_input import parse_event
from distribution.events.ingest import receive_event
from distribution.models import Delivery, DeliveryStatusChange, WebhookCall, utcnow
from distribution.outbox.delivery import (
    DeliveryPolicy,
    SendOutcome,
    claim_due,
    record_outcomes,
    recover_expired,
    release,
)
from distribution.outbox.worker import EmbeddedWorker
from distribution.provider_configs.store import create_provider
from distribution.storage.db import Database
from distribution.storage.secrets import SecretBox
from distribution.webhooks.subscriptions import create_subscription
from providers import PROVIDER_KINDS, Message, RejectReason, SendResult
from providers.address_guard import AddressGuard
from providers.braze import BrazeProvider
from providers.capture import CaptureConfig, CaptureProvider
from providers.http_transport import guarded_client
from providers.twilio import TwilioConfig, TwilioProvider
from tests.builders import distribute, publish_template
from tests.conftest import ProjectCredentials
from tests.test_providers.fakes import braze as fake_braze
from tests.test_providers.fakes.asgi import Fault
from tests.test_providers.fakes.server import serve
from tests.test_providers.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

from .engine_helpers import FAST_RETRIES, LINKS, Senders, capture, drain
from .event_samples import VOUCHERIFY_REDEMPTION


@pytest.fixture(scope="module")
def twilio_fake() -> Iterator[tuple[FakeTwilio, str]]:
    api = FakeTwilio()
    with serve(api) as url:
        yield api, url


@pytest.fixture(scope="module")
def braze_fake() -> Iterator[tuple[fake_braze.FakeBraze, str]]:
    api = fake_braze.FakeBraze()
    with serve(api) as url:
        yield api, url


def _event(body: dict[str, Any]) -> Any:
    return parse_event(body)


def _email_distribution(
    database: Database,
    project_id: str,
    trigger: str = "reward.granted",
    *,
    provider: str = "capture",
    **options: object,
) -> None:
    """The default email template, sent through ``provider`` on every ``trigger`` event."""
    template = publish_template(database, project_id)
    distribute(database, project_id, trigger, [("email", template, provider)], **options)


def _reward_granted(database: Database, project_id: str, *names: str) -> None:
    """A ``reward.granted`` event per customer name (source id, email and name from it)."""
    for name in names:
        body = {
            "type": "reward.granted",
            "customer": {"source_id": name, "email": f"{name}@example.com", "name": name.upper()},
            "reward": {"amount": 100, "currency": "USD"},
        }
        receive_event(database, project_id, _event(body), LINKS)


def _rows(database: Database, project_id: str) -> list[Delivery]:
    with database.reader() as session:
        return list(session.exec(select(Delivery).where(Delivery.project_id == project_id)))


async def test_voucherify_redemption_sends_one_reward_message_however_often_it_arrives(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    _email_distribution(database, project_id, "redemption.succeeded")
    provider = capture()
    worker = EmbeddedWorker(database, Senders({"capture": provider}), FAST_RETRIES)

    first = receive_event(database, project_id, _event(VOUCHERIFY_REDEMPTION), LINKS)
    again = [
        receive_event(database, project_id, _event(copy.deepcopy(VOUCHERIFY_REDEMPTION)), LINKS)
        for _ in range(2)
    ]
    await drain(worker)

    assert not first.duplicate
    assert all(a.duplicate and a.deliveries == first.deliveries for a in again)
    # The worker sends every project's due rows: this test's are those of its project.
    ours = {row.id for row in _rows(database, project_id)}
    sent = [m for m in provider.messages if m.message.id in ours]
    assert len(sent) == 1
    assert sent[0].message.to == "grace@example.com"
    assert "€15.00" in (sent[0].message.html or "")
    assert sent[0].message.subject == "Your reward, Grace"
    [row] = _rows(database, project_id)
    assert (row.status, row.attempts, row.recipient) == ("sent", 1, "grace@example.com")


async def test_render_failure_is_a_failed_delivery_naming_the_variable(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    template = publish_template(
        database, project_id, body="<p>Your code is {{ code.code }} ({{ code.qr_url }})</p>"
    )
    distribute(database, project_id, "reward.granted", [("email", template, "capture")])
    result = receive_event(
        database,
        project_id,
        _event(
            {"type": "reward.granted", "customer": {"source_id": "a", "email": "a@example.com"}}
        ),
        LINKS,
    )
    [summary] = result.deliveries
    assert summary.status == "failed"
    assert summary.reason is not None
    assert "code.code" in summary.reason
    assert "code.qr_url" in summary.reason


async def test_marketing_to_an_unsubscribed_customer_is_suppressed_transactional_is_sent(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    marketing = publish_template(
        database,
        project_id,
        category="marketing",
        body='<p>Hi {{ customer.first_name }}.</p><a href="{{ links.unsubscribe_url }}">Stop</a>',
    )
    transactional = publish_template(database, project_id)
    distribute(
        database,
        project_id,
        "reward.granted",
        [("email", marketing, "capture"), ("email", transactional, "capture")],
    )
    event = {
        "type": "reward.granted",
        "customer": {"source_id": "u1", "email": "u1@example.com", "name": "Una"},
        "reward": {"amount": 500, "currency": "USD"},
    }
    first = receive_event(database, project_id, _event(event), LINKS)
    customer_id = _rows(database, project_id)[0].customer_id
    assert customer_id is not None
    with database.session() as session:
        unsubscribe_customer(session, project_id, customer_id, "email", reason="test")
    second = receive_event(database, project_id, _event(event), LINKS)
    provider = capture()
    await drain(EmbeddedWorker(database, Senders({"capture": provider}), FAST_RETRIES))

    assert [d.status for d in first.deliveries] == ["queued", "queued"]
    assert [d.status for d in second.deliveries] == ["suppressed", "queued"]
    assert len(provider.messages) == 3
    marketing_sent = [m for m in provider.messages if m.message.marketing]
    assert len(marketing_sent) == 1
    assert marketing_sent[0].message.unsubscribe_url is not None
    assert marketing_sent[0].message.unsubscribe_url.startswith("https://dm.example.com/u/")


async def test_a_flaky_provider_still_sends_every_delivery_exactly_once(
    database: Database, project: ProjectCredentials, twilio_fake: tuple[FakeTwilio, str]
) -> None:
    api, url = twilio_fake
    api.reset()
    api.fail_randomly(
        0.3,
        [
            Fault(500, {"code": 20500, "message": "Internal error", "status": 500}, {}, None),
            Fault(429, {"code": 20429, "message": "Too many requests", "status": 429}, {}, None),
            Fault(503, b"", {}, 4.0),  # slower than the client's timeout
        ],
        seed=7,
    )
    project_id = project.project.id
    template = publish_template(
        database, project_id, channel="sms", subject=None, body="Hi {{ customer.name }}!"
    )
    distribute(database, project_id, "order.paid", [("sms", template, "twilio")])
    for i in range(60):
        receive_event(
            database,
            project_id,
            _event(
                {
                    "id": f"order-{i}",
                    "type": "order.paid",
                    "customer": {
                        "source_id": f"c{i}",
                        "phone": f"+1415555{i:04d}",
                        "name": f"N{i}",
                    },
                }
            ),
            LINKS,
        )
    async with guarded_client(AddressGuard(allow_private=True), timeout=1.5) as client:
        twilio = TwilioProvider(
            "twilio",
            TwilioConfig(
                account_sid=ACCOUNT_SID,
                auth_token=AUTH_TOKEN,
                from_number="+15005550006",
                base_url=url,
            ),
            http_client=client,
        )
        # Generous attempts: on a loaded machine ordinary calls can time out too.
        patient = DeliveryPolicy(max_attempts=25, base_backoff=0.0, max_backoff=0.0)
        await drain(EmbeddedWorker(database, Senders({"twilio": twilio}), patient))

    rows = _rows(database, project_id)
    assert {r.status for r in rows} == {"sent"}
    accepted = [r for r in api.requests if r.path.endswith("/Messages.json")]
    delivered_to = [dict(r.form())["To"] for r in accepted]
    succeeded = {r.provider_message_id for r in rows}
    assert len(succeeded) == 60
    assert sum(r.attempts for r in rows) > 60  # some needed retries, and it shows
    # Every number got through once; the faults that were answered never created a message.
    assert len(set(delivered_to)) == 60
    with database.reader() as session:
        retried = session.exec(
            select(DeliveryStatusChange).where(DeliveryStatusChange.detail.like("retrying%"))  # type: ignore[union-attr]
        ).all()
    assert retried


async def test_a_delivery_left_sending_by_a_dead_worker_is_marked_unknown(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    _email_distribution(database, project_id)
    _reward_granted(database, project_id, "z")
    policy = DeliveryPolicy(lease_seconds=0.0)
    claimed = claim_due(database, 1000, policy)
    mine = [c for c in claimed if c.project_id == project_id]
    assert len(mine) == 1
    # The process dies here: no outcome is recorded. After the lease, recovery decides.
    recover_expired(database, policy, now=utcnow())
    [row] = _rows(database, project_id)
    assert row.status == "unknown"
    retry_policy = DeliveryPolicy(lease_seconds=0.0, recovery="retry")
    assert recover_expired(database, retry_policy) == 0  # unknown rows are the operator's call


def test_outcomes_move_only_rows_still_sending_and_announce_only_those(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    _email_distribution(database, project_id)
    _reward_granted(database, project_id, "a", "b", "c", "d")
    with database.session() as session:
        create_subscription(
            session,
            SecretBox("engine-test"),
            project_id,
            "https://hooks.example.com/in",
            ["message.sent", "message.failed"],
        )
    mine = [r.id for r in _rows(database, project_id)]
    claimed = claim_due(database, 1000, FAST_RETRIES, ids=mine)
    by_address = {c.recipient: c.id for c in claimed}
    assert len(by_address) == 4
    # d's claim is given back before its outcome arrives: that outcome must not move it.
    release(database, [by_address["d@example.com"]])
    record_outcomes(
        database,
        [
            SendOutcome(by_address["a@example.com"], "sent", provider_message_id="p-a"),
            SendOutcome(by_address["b@example.com"], "failed", "rejected: no such mailbox"),
            SendOutcome(by_address["c@example.com"], "queued", "retrying: busy", retry_in=3600.0),
            SendOutcome(by_address["d@example.com"], "sent", provider_message_id="p-d"),
        ],
    )
    rows = {r.recipient: r for r in _rows(database, project_id)}
    assert rows["a@example.com"].status == "sent"
    assert rows["a@example.com"].provider_message_id == "p-a"
    assert rows["a@example.com"].sent_at is not None
    assert rows["b@example.com"].status == "failed"
    assert rows["b@example.com"].last_error == "rejected: no such mailbox"
    assert rows["c@example.com"].status == "queued"
    assert rows["c@example.com"].next_attempt_at > utcnow() + timedelta(minutes=50)
    assert rows["d@example.com"].status == "queued"
    assert rows["d@example.com"].provider_message_id is None
    with database.reader() as session:
        changes = session.exec(
            select(DeliveryStatusChange.delivery_id, DeliveryStatusChange.status).where(
                col(DeliveryStatusChange.delivery_id).in_(list(by_address.values())),
                col(DeliveryStatusChange.status).in_(("sent", "failed")),
            )
        ).all()
        calls = session.exec(
            select(WebhookCall.event_type, WebhookCall.payload).where(
                WebhookCall.project_id == project_id
            )
        ).all()
    assert sorted(changes) == sorted(
        [(by_address["a@example.com"], "sent"), (by_address["b@example.com"], "failed")]
    )
    announced = sorted((kind, payload["data"]["id"]) for kind, payload in calls)
    assert announced == sorted(
        [
            ("message.sent", by_address["a@example.com"]),
            ("message.failed", by_address["b@example.com"]),
        ]
    )


async def test_quiet_hours_make_a_delivery_wait_until_they_end(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    now = utcnow()
    # An hour either side of now, in the customer's zone (UTC): the send waits for the end.
    quiet = {
        "start": (now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=1)).strftime("%H:%M"),
    }
    _email_distribution(database, project_id, "quiet.tested", quiet_hours=quiet)
    body = {
        "type": "quiet.tested",
        "customer": {
            "source_id": "q",
            "email": "q@example.com",
            "name": "Quinn",
            "timezone": "UTC",
        },
        "reward": {"amount": 100, "currency": "EUR"},
    }
    [summary] = receive_event(database, project_id, _event(body), LINKS).deliveries
    assert summary.status == "queued"
    [row] = _rows(database, project_id)
    assert row.next_attempt_at > now + timedelta(minutes=58)
    worker = EmbeddedWorker(database, Senders({"capture": capture()}), FAST_RETRIES)
    await drain(worker)
    [waiting] = _rows(database, project_id)
    assert waiting.status == "queued"


async def test_a_frequency_cap_suppresses_the_second_event_for_the_same_customer(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    _email_distribution(database, project_id, "capped.tested", frequency_cap_hours=24)
    body = {
        "type": "capped.tested",
        "customer": {"source_id": "f", "email": "f@example.com", "name": "Fay"},
        "reward": {"amount": 100, "currency": "EUR"},
    }
    first = receive_event(database, project_id, _event(body), LINKS).deliveries
    second = receive_event(database, project_id, _event(body), LINKS).deliveries
    other = {**body, "customer": {"source_id": "g", "email": "g@example.com", "name": "Gus"}}
    third = receive_event(database, project_id, _event(other), LINKS).deliveries
    assert [d.status for d in first + second + third] == ["queued", "suppressed", "queued"]
    assert second[0].reason == "frequency cap: already sent within 24 h"


class _SlowCapture(CaptureProvider):
    """A capture provider that takes longer to answer than one lease lasts."""

    def __init__(self, delay: float) -> None:
        super().__init__("capture", CaptureConfig())
        self.delay = delay

    async def send(self, message: Message) -> SendResult:
        await asyncio.sleep(self.delay)
        return await super().send(message)


async def test_a_batch_slower_than_its_lease_is_not_recovered_while_its_worker_lives(
    database: Database, project: ProjectCredentials
) -> None:
    project_id = project.project.id
    _email_distribution(database, project_id, provider="slow")
    _reward_granted(database, project_id, "slow")
    policy = DeliveryPolicy(lease_seconds=0.6)
    provider = _SlowCapture(delay=2.0)
    worker = EmbeddedWorker(database, Senders({"slow": provider}), policy)

    async def recover_midway() -> None:
        # Twice past the first lease: without renewal the row would be taken as abandoned.
        for _ in range(3):
            await asyncio.sleep(0.5)
            await asyncio.to_thread(recover_expired, database, policy)

    await asyncio.gather(drain(worker), recover_midway())
    [row] = _rows(database, project_id)
    assert row.status == "sent", row.last_error
    assert len(provider.messages) == 1


class _Refusing(CaptureProvider):
    """A sender whose provider refuses every recipient, in its own words and normalised."""

    def __init__(self, reason: str, reject_reason: RejectReason) -> None:
        super().__init__("refusing", CaptureConfig())
        self.reason = reason
        self.reject_reason = reject_reason

    async def send(self, message: Message) -> SendResult:
        return SendResult("rejected", reason=self.reason, reject_reason=self.reject_reason)


@pytest.mark.parametrize(
    ("reason", "reject_reason", "next_status"),
    [
        # The provider's words do not matter, only the normalised reason: a STOP reply...
        ("recipient replied STOP", "unsubscribed", "suppressed"),
        # ...suppresses the address for marketing; a bounce is tried again next time.
        ("unsubscribe link host unreachable", "bounced", "queued"),
    ],
)
async def test_only_a_rejection_as_unsubscribed_suppresses_the_address(
    database: Database,
    project: ProjectCredentials,
    reason: str,
    reject_reason: RejectReason,
    next_status: str,
) -> None:
    project_id = project.project.id
    marketing = publish_template(
        database,
        project_id,
        category="marketing",
        body='<p>Hi.</p><a href="{{ links.unsubscribe_url }}">Stop</a>',
    )
    distribute(database, project_id, "reward.granted", [("email", marketing, "refusing")])
    _reward_granted(database, project_id, "a")
    refusing = _Refusing(reason, reject_reason)
    await drain(EmbeddedWorker(database, Senders({"refusing": refusing}), FAST_RETRIES))
    [row] = _rows(database, project_id)
    assert (row.status, row.last_error) == ("failed", f"rejected: {reason}")

    body = {
        "type": "reward.granted",
        "customer": {"source_id": "a", "email": "a@example.com", "name": "A"},
        "reward": {"amount": 100, "currency": "USD"},
    }
    [again] = receive_event(database, project_id, _event(body), LINKS).deliveries
    assert again.status == next_status


async def test_a_twilio_queued_answer_is_sent_with_the_provider_status_kept(
    database: Database, project: ProjectCredentials, twilio_fake: tuple[FakeTwilio, str]
) -> None:
    """Twilio's 201 says `queued` (or `accepted`): counted as sent, but not plainly."""
    api, url = twilio_fake
    api.reset()
    project_id = project.project.id
    template = publish_template(database, project_id, channel="sms", subject=None, body="Hi!")
    distribute(database, project_id, "order.paid", [("sms", template, "twilio")])
    customer = {"source_id": "q1", "phone": "+14155550101", "name": "Q"}
    body = {"id": "order-q1", "type": "order.paid", "customer": customer}
    receive_event(database, project_id, _event(body), LINKS)
    async with guarded_client(AddressGuard(allow_private=True)) as client:
        config = TwilioConfig(
            account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_number="+15005550006", base_url=url
        )
        twilio = TwilioProvider("twilio", config, http_client=client)
        await drain(EmbeddedWorker(database, Senders({"twilio": twilio}), FAST_RETRIES))
    [row] = _rows(database, project_id)
    assert (row.status, row.provider_status, row.last_error) == ("sent", "queued", None)


async def test_braze_errors_with_a_success_are_recorded_on_the_sent_row(
    database: Database,
    project: ProjectCredentials,
    braze_fake: tuple[fake_braze.FakeBraze, str],
) -> None:
    """A 201 `success` carrying `errors` is not plainly sent: the row keeps the errors."""
    api, url = braze_fake
    api.reset()
    api.minor_errors.append("some users were not subscribed")
    project_id = project.project.id
    settings = {
        "api_key": fake_braze.API_KEY,
        "base_url": url,
        "email_app_id": "app-email",
        "from_email": "rewards@example.com",
        "from_name": "Récompenses Acme",
    }
    with database.session() as session:
        # Stored, so preparation knows how Braze identifies users (by source_id).
        create_provider(
            session,
            project_id,
            SecretBox("engine-test"),
            name="braze",
            kind="braze",
            config=settings,
            guard=AddressGuard(allow_private=True),
        )
    _email_distribution(database, project_id, provider="braze")
    _reward_granted(database, project_id, "b1")
    with database.session() as session:
        create_subscription(
            session, SecretBox("engine-test"), project_id, "https://hooks.example.com/in", ["*"]
        )
    async with guarded_client(AddressGuard(allow_private=True)) as client:
        braze = BrazeProvider(
            "braze",
            PROVIDER_KINDS["braze"].parse_config(settings, name="braze"),
            http_client=client,
        )
        await drain(EmbeddedWorker(database, Senders({"braze": braze}), FAST_RETRIES))
    [row] = _rows(database, project_id)
    reported = "braze reported errors: some users were not subscribed"
    assert (row.status, row.provider_status, row.last_error) == ("sent", "success", reported)
    # The brand's own id, never ours (``cust_...``), which Braze takes and reaches nobody.
    assert api.requests[0].json()["external_user_ids"] == ["b1"]
    assert api.requests[0].json()["messages"]["email"]["from"] == (
        "Récompenses Acme <rewards@example.com>"
    )
    with database.reader() as session:
        [change] = session.exec(
            select(DeliveryStatusChange).where(
                DeliveryStatusChange.delivery_id == row.id, DeliveryStatusChange.status == "sent"
            )
        ).all()
        [sent] = session.exec(
            select(WebhookCall.payload).where(
                WebhookCall.project_id == project_id, WebhookCall.event_type == "message.sent"
            )
        ).all()
    assert change.detail == reported
    assert (sent["data"]["provider_status"], sent["data"]["reason"]) == ("success", reported)
