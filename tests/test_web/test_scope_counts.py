"""A campaign's and a distribution's figures, read from the pre-aggregated counts, equal a plain
scan of their messages after the real write paths moved them.

Messages are written and moved by the service itself: triggered sends through the embedded
worker (or the distributed workers) to ``capture`` and to a provider that does not exist
(failures), a bulk send to a real SMTP server (aiosmtpd) paused and cancelled half-way,
provider delivery reports, redemptions, an unsubscribe through a message's link, and an
erasure. The scan is written here, apart from the code under test.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import urlparse

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import text

from distribution.models import utcnow
from distribution.outbox.conversions import DAY_FIELDS
from distribution.outbox.delivery_events import record_delivery_events
from distribution.storage.db import Database
from providers import DeliveryEvent
from tests.conftest import ProjectCredentials
from tests.service_process import all_messages, wait_until
from tests.test_distributed.workers import prepare_invite
from tests.test_providers.fakes.smtp_server import RecordingHandler
from tests.test_web.api_templates import published_template
from tests.test_web.bulk_invite import FINAL, add_readers, bulk_send, smtp_provider

Client = TestClient[Litestar]
NEWS = {
    "subject": "Your code",
    "body_format": "html",
    "body": '<p>{{ code.code }}</p><p><a href="{{ links.unsubscribe_url }}">Unsubscribe</a></p>',
}
UNSETTLED = ("queued", "sending")


def _ok(answer: Any, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def _scan(database: Database, project_id: str, column: str, value: str) -> dict[str, Any]:
    """The scope's figures counted from its delivery and suppression rows."""
    scope = {"p": project_id, "v": value}
    where = f"project_id = :p AND {column} = :v AND NOT test"
    with database.reader() as session:
        connection = session.connection()
        rows = connection.execute(
            text(f"SELECT created_at, status, sent_at, converted_at FROM delivery WHERE {where}"),
            scope,
        ).all()
        unsubscribes = connection.execute(
            text(
                "SELECT s.created_at FROM suppression s JOIN delivery d ON d.id = s.delivery_id "
                f"WHERE s.project_id = :p AND d.{column} = :v AND NOT d.test"
            ),
            scope,
        ).all()
    total: Counter[str] = Counter(status for _, status, _, _ in rows)
    days: dict[str, Counter[str]] = {}
    for created_at, status, sent_at, converted_at in rows:
        day = days.setdefault(str(created_at)[:10], Counter())
        day["messages"] += 1
        day["queued"] += status in ("queued", "paused", "sending")
        day["sent"] += sent_at is not None
        day["delivered"] += status == "delivered"
        day["failed"] += status in ("failed", "bounced")
        day["bounced"] += status == "bounced"
        day["converted"] += converted_at is not None
    for (created_at,) in unsubscribes:
        days.setdefault(str(created_at)[:10], Counter())["unsubscribed"] += 1
    return {
        "total": dict(total),
        "messages": len(rows),
        "queued": total["queued"] + total["paused"] + total["sending"],
        "sent": sum(1 for row in rows if row[2] is not None),
        "delivered": total["delivered"],
        "failed": total["failed"] + total["bounced"],
        "bounced": total["bounced"],
        "converted": sum(1 for row in rows if row[3] is not None),
        "unsubscribed": len(unsubscribes),
        "days": {day: dict(+figures) for day, figures in sorted(days.items())},
    }


# Every figure of a day but the redemptions, which the scan above does not count.
_FIGURES = tuple(name for name in DAY_FIELDS if name != "conversions")


def _served(client: Client, path: str) -> dict[str, Any]:
    stats = _ok(client.get(f"{path}/stats"))
    days = _ok(client.get(f"{path}/stats/days"))
    if "by_channel" in stats:  # a distribution's: counts by status, per channel and day
        total = Counter[str]()
        for counts in stats["by_channel"].values():
            total.update(counts)
        assert dict(total) == stats["total"]
        assert sum(stats["total"].values()) == sum(d["messages"] for d in days)
        stats |= {name: sum(d[name] for d in days) for name in _FIGURES if name not in stats}
    return {
        "total": stats["total"],
        **{name: stats[name] for name in _FIGURES},
        "days": {
            day["day"]: {name: day[name] for name in _FIGURES if day[name]}
            for day in days
            if any(day[name] for name in _FIGURES)
        },
    }


def _settled(client: Client, **query: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []

    def done() -> bool:
        messages[:] = all_messages(client, **query)
        return bool(messages) and all(m["status"] not in UNSETTLED for m in messages)

    wait_until(done, lambda: f"messages never settled: {messages}", limit=30)
    return messages


def test_scope_figures_equal_a_scan_after_the_real_write_paths(
    client: Client,
    app_database: Database,
    api_project: ProjectCredentials,
    smtp_sink: tuple[RecordingHandler, int],
) -> None:
    template_id = published_template(client, NEWS, category="marketing")
    campaign = _ok(client.post("/v1/campaigns", json={"name": "Friends"}), 201)["id"]
    distribution = _ok(
        client.post(
            "/v1/distributions",
            json={
                "name": "Invite",
                "trigger": "code.assigned",
                "channels": [
                    {"channel": "email", "template": template_id, "provider": "capture"},
                    # No provider of that name: the worker fails these messages.
                    {"channel": "email", "template": template_id, "provider": "nowhere"},
                ],
            },
        ),
        201,
    )["id"]
    customers = {}
    for n in range(6):
        who = f"friend-{n}"
        answer = _ok(
            client.post(
                "/v1/events",
                json={
                    "type": "code.assigned",
                    "customer": {"source_id": who, "email": f"{who}@example.com", "name": who},
                    "campaign": {"id": campaign},
                    "code": {"code": f"CODE-{n}"},
                },
            ),
            202,
        )
        customers[who] = answer["customer"]["id"]
    messages = _settled(client, distribution_id=distribution)
    project_id = api_project.project.id

    # Redemptions mark two messages converted.
    for code in ("CODE-0", "CODE-1"):
        body = {"type": "code.redeemed", "customer": {"source_id": "buyer"}, "code": code}
        _ok(client.post("/v1/events", json=body), 202)
    # The provider reports one message delivered and another bounced.
    sent = [m for m in messages if m["status"] == "sent"]
    details = [_ok(client.get(f"/v1/messages/{m['id']}")) for m in sent[:2]]
    with app_database.session() as session:
        record_delivery_events(
            session,
            project_id,
            "capture",
            [
                DeliveryEvent(details[0]["provider_message_id"], "delivered", utcnow()),
                DeliveryEvent(details[1]["provider_message_id"], "bounced", utcnow()),
            ],
        )
    # One customer unsubscribes through the link of their message, another is erased.
    linked = _ok(client.get(f"/v1/messages/{sent[2]['id']}"))
    link = urlparse(linked["content"]["unsubscribe_url"]).path
    assert client.post(link).status_code == 200
    assert client.delete(f"/v1/customers/{customers['friend-5']}").status_code == 204

    # A bulk send of another campaign through SMTP, paused and cancelled while it sends.
    _, port = smtp_sink
    add_readers(client, 40)
    request = prepare_invite(client, smtp_provider(client, port), 40)
    job = _ok(client.post("/v1/bulk-sends", json=request), 202)["id"]
    wait_until(
        lambda: bool(all_messages(client, campaign_id=request["campaign"])),
        "the bulk send never prepared a message",
    )
    for action in ("pause", "resume", "cancel"):
        answer = client.post(f"/v1/bulk-sends/{job}/{action}")
        assert answer.status_code in (200, 409), answer.text
    wait_until(lambda: bulk_send(client, job)["status"] in FINAL, "the bulk send never ended")
    wait_until(
        lambda: (
            not [
                m
                for m in all_messages(client, campaign_id=request["campaign"])
                if m["status"] in UNSETTLED
            ]
        ),
        "the bulk send's messages never settled",
    )

    for path, column, value in (
        (f"/v1/campaigns/{campaign}", "campaign_id", campaign),
        (f"/v1/distributions/{distribution}", "distribution_id", distribution),
        (f"/v1/campaigns/{request['campaign']}", "campaign_id", request["campaign"]),
    ):
        expected = _scan(app_database, project_id, column, value)
        assert _served(client, path) == expected, path
    figures = _served(client, f"/v1/campaigns/{campaign}")
    assert (figures["messages"], figures["delivered"], figures["unsubscribed"]) == (12, 1, 1)
    assert figures["converted"] == 2
    assert figures["failed"] >= 7  # six to "nowhere", one bounced


def test_an_unsubscribe_through_a_message_link_counts_on_its_campaign_that_day(
    client: Client,
) -> None:
    template_id = published_template(client, NEWS, category="marketing")
    campaign = _ok(client.post("/v1/campaigns", json={"name": "News"}), 201)["id"]
    distribution = _ok(
        client.post(
            "/v1/distributions",
            json={
                "name": "News",
                "trigger": "code.assigned",
                "channels": [{"channel": "email", "template": template_id, "provider": "capture"}],
            },
        ),
        201,
    )["id"]
    for who in ("ana", "ben"):
        customer = {"source_id": who, "email": f"{who}@example.com", "name": who}
        event = {"type": "code.assigned", "customer": customer, "campaign": {"id": campaign}}
        _ok(client.post("/v1/events", json={**event, "code": {"code": who}}), 202)
    [first, *_] = _settled(client, distribution_id=distribution)
    link = _ok(client.get(f"/v1/messages/{first['id']}"))["content"]["unsubscribe_url"]
    before = _ok(client.get(f"/v1/campaigns/{campaign}/stats"))
    assert before["unsubscribed"] == 0
    assert client.post(urlparse(link).path).status_code == 200
    # Twice is still one unsubscribe.
    assert client.post(urlparse(link).path).status_code == 200
    for path in (f"/v1/campaigns/{campaign}", f"/v1/distributions/{distribution}"):
        assert _ok(client.get(f"{path}/stats"))["unsubscribed"] == 1
        [today] = _ok(client.get(f"{path}/stats/days"))
        assert today["unsubscribed"] == 1
        assert today["day"] == utcnow().date().isoformat()
    csv_rows = client.get(f"/v1/campaigns/{campaign}/stats/days", params={"format": "csv"})
    header, row = csv_rows.text.splitlines()[:2]
    assert row.split(",")[header.split(",").index("unsubscribed")] == "1"
