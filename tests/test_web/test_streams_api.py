"""``/v1/streams``: a BI job pages through our events from a cursor, each exactly once."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient
from sqlmodel import col, update

from distribution.events.scheduler import scheduled_round
from distribution.models import StreamEntry, utcnow
from distribution.outbox import LinkSettings
from distribution.storage.db import Database
from distribution.webhooks.streams import RETENTION
from tests.conftest import make_project
from tests.test_web.api_templates import published_template

Client = TestClient[Litestar]
LINKS = LinkSettings(public_url="https://dm.example.com", secret_key="streams-test")


def _page_through(
    client: Client, stream_id: str, after: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Every event after ``after``, a page of ``limit`` at a time; and the last cursor."""
    events: list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"limit": limit, **({"after": after} if after else {})}
        page = client.get(f"/v1/streams/{stream_id}/events", params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        events += body["events"]
        after = body["cursor"]
        if not body["has_more"]:
            return events, after


def _distribution(client: Client, trigger: str) -> None:
    """A distribution of ``trigger`` sending an email through the capture provider."""
    template_id = published_template(
        client, {"body_format": "html", "subject": "Hi", "body": "<p>Hi {{ customer.name }}</p>"}
    )
    created = client.post(
        "/v1/distributions",
        json={
            "name": trigger,
            "trigger": trigger,
            "channels": [{"channel": "email", "template": template_id, "provider": "capture"}],
        },
    )
    assert created.status_code == 201, created.text


def _sent_messages(client: Client, trigger: str, people: list[str]) -> list[str]:
    ids = []
    for person in people:
        event = {
            "type": trigger,
            "customer": {"source_id": person, "email": f"{person}@example.com", "name": person},
        }
        [delivery] = client.post("/v1/events", json=event).json()["deliveries"]
        ids.append(delivery["id"])
    deadline = time.monotonic() + 20
    for message_id in ids:
        while client.get(f"/v1/messages/{message_id}").json()["status"] != "sent":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    return ids


def test_a_stream_gives_each_event_once_in_pages_and_goes_on_from_its_cursor(
    client: Client,
) -> None:
    _distribution(client, "stream.tested")
    created = client.post(
        "/v1/streams", json={"name": "warehouse", "event_types": ["message.sent"]}
    )
    assert created.status_code == 201, created.text
    stream = created.json()
    assert client.get("/v1/streams").json()[0]["id"] == stream["id"]

    first = _sent_messages(client, "stream.tested", [f"s{n}" for n in range(7)])
    events, cursor = _page_through(client, stream["id"], None, limit=3)
    # Each once; in the order the worker sent them, which need not be the order posted.
    assert sorted(e["data"]["id"] for e in events) == sorted(first)
    assert {e["type"] for e in events} == {"message.sent"}
    assert all(e["timestamp"].endswith("Z") for e in events)
    positions = [int(e["position"]) for e in events]
    assert positions == sorted(positions)

    # Read again from the cursor: nothing new, then only what came since.
    assert _page_through(client, stream["id"], cursor, limit=3)[0] == []
    later = _sent_messages(client, "stream.tested", ["s7", "s8"])
    more, _ = _page_through(client, stream["id"], cursor, limit=100)
    assert sorted(e["data"]["id"] for e in more) == sorted(later)

    assert client.delete(f"/v1/streams/{stream['id']}").status_code == 204
    assert client.get(f"/v1/streams/{stream['id']}/events").status_code == 404


def test_bad_streams_and_cursors_are_refused_naming_the_field(client: Client) -> None:
    unknown = client.post("/v1/streams", json={"name": "x", "event_types": ["message.exploded"]})
    assert unknown.status_code == 422
    assert [e["field"] for e in unknown.json()["errors"]] == ["event_types[0]"]
    empty = client.post("/v1/streams", json={"name": " ", "event_types": []})
    assert {e["field"] for e in empty.json()["errors"]} == {"name", "event_types"}
    stream = client.post("/v1/streams", json={"name": "all", "event_types": ["*"]}).json()
    cursor = client.get(f"/v1/streams/{stream['id']}/events", params={"after": "x1"})
    assert cursor.status_code == 422
    assert [e["field"] for e in cursor.json()["errors"]] == ["after"]
    zero = client.get(f"/v1/streams/{stream['id']}/events", params={"limit": 0})
    assert zero.status_code == 422
    assert "limit" in zero.text


def test_another_project_cannot_read_or_delete_a_stream(
    client: Client, app_database: Database
) -> None:
    stream = client.post("/v1/streams", json={"name": "mine", "event_types": ["*"]}).json()
    headers = make_project(app_database).headers
    assert client.get(f"/v1/streams/{stream['id']}/events", headers=headers).status_code == 404
    assert client.delete(f"/v1/streams/{stream['id']}", headers=headers).status_code == 404
    assert client.get("/v1/streams", headers=headers).json() == []
    assert client.get(f"/v1/streams/{stream['id']}/events").status_code == 200


def test_the_scheduler_round_forgets_entries_past_their_retention_and_keeps_the_rest(
    client: Client, app_database: Database
) -> None:
    stream = client.post("/v1/streams", json={"name": "aged", "event_types": ["message.sent"]})
    _distribution(client, "stream.aged")
    _sent_messages(client, "stream.aged", ["old", "new"])
    events, _cursor = _page_through(client, stream.json()["id"], None, limit=10)
    assert len(events) == 2
    # The first entry was written eight days before this round, the second one day before.
    now = utcnow() + RETENTION + timedelta(days=1)
    with app_database.session() as session:
        session.connection().execute(
            update(StreamEntry)
            .where(col(StreamEntry.position) == int(events[1]["position"]))
            .values(created_at=now - timedelta(days=1))
        )
    scheduled_round(app_database, LINKS, now)
    left, _cursor = _page_through(client, stream.json()["id"], None, limit=10)
    assert [e["position"] for e in left] == [events[1]["position"]]
