"""``customer.segment.entered`` / ``.left``: every customer write path emits one event per change.

Each test makes a customer enter or leave a segment the way a user would (an upsert, a batch,
an update, an erasure, a CSV import, an event carrying the customer, Voucherify's async bulk
update and permanent deletion) and reads what it left: the customer's timeline (the event is
stored by the write itself), the messages of a distribution on the trigger (prepared by the
app's segment event runner moments later), the calls queued for a webhook subscription.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlmodel import col, select

from distribution.models import Event
from distribution.storage.db import Database
from tests.test_web.api_templates import published_template

Client = TestClient[Litestar]

GOLD = {"field": "metadata.tier", "op": "eq", "value": "gold"}
ENTERED, LEFT = "customer.segment.entered", "customer.segment.left"


def _segment(client: Client, name: str = "Gold", filter: Any = GOLD) -> str:
    made = client.post("/v1/segments", json={"name": name, "filter": filter})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _distribution(client: Client, trigger: str, segment_id: str | None) -> str:
    template = published_template(
        client,
        {
            "subject": "{{ segment.name }}",
            "body_format": "html",
            "body": "<p>{{ event.type }} {{ segment.id }} {{ segment.name }}</p>",
        },
    )
    made = client.post(
        "/v1/distributions",
        json={
            "name": f"On {trigger} {time.monotonic_ns()}",
            "trigger": trigger,
            "filters": {"segment_id": segment_id} if segment_id else {},
            "channels": [{"channel": "email", "template": template, "provider": "capture"}],
        },
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _segment_events(client: Client, source_id: str) -> list[tuple[str, str]]:
    """The customer's segment events, oldest first, as (type, segment id)."""
    events = client.get(f"/v1/customers/{source_id}/events").json()
    return [(e["type"], e["segment"]["id"]) for e in reversed(events) if e["source"] == "segment"]


def _messages(client: Client, count: int) -> list[dict[str, Any]]:
    """The project's messages once there are ``count`` (the runner prepares them after the
    write), checking that no more come."""
    deadline = time.monotonic() + 20
    while True:
        messages: list[dict[str, Any]] = client.get("/v1/messages", params={"limit": 100}).json()[
            "messages"
        ]
        if len(messages) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    time.sleep(0.6)  # a round of the runner more: nothing else comes
    messages = client.get("/v1/messages", params={"limit": 100}).json()["messages"]
    assert len(messages) == count, messages
    return messages


def _upsert(client: Client, source_id: str, tier: str) -> None:
    body = {"source_id": source_id, "email": f"{source_id}@x.io", "metadata": {"tier": tier}}
    answer = client.post("/v1/customers", json=body)
    assert answer.status_code in (200, 201), answer.text


def test_an_upsert_entering_and_leaving_emits_one_event_each_and_sends(client: Client) -> None:
    gold = _segment(client)
    _distribution(client, ENTERED, gold)
    _distribution(client, LEFT, gold)
    _upsert(client, "ana", "gold")
    _upsert(client, "ana", "gold")  # the same write again: no change, no event
    _upsert(client, "ana", "silver")
    _upsert(client, "ana", "silver")
    assert _segment_events(client, "ana") == [(ENTERED, gold), (LEFT, gold)]
    _messages(client, 2)
    [left, entered] = client.get("/v1/customers/ana/events").json()
    assert entered["segment"] == {"id": gold, "name": "Gold"}
    assert len(entered["deliveries"]) == len(left["deliveries"]) == 1
    html = client.get(f"/v1/messages/{entered['deliveries'][0]['id']}").json()["content"]["html"]
    assert f"customer.segment.entered {gold} Gold" in html


def test_segment_id_picks_the_segment_and_other_segments_stay_unwatched(
    client: Client, app_database: Database
) -> None:
    gold = _segment(client)
    vip = _segment(client, "VIP", {"field": "metadata.vip", "op": "eq", "value": True})
    _distribution(client, ENTERED, gold)
    body = {"source_id": "bo", "email": "bo@x.io", "metadata": {"tier": "gold", "vip": True}}
    assert client.post("/v1/customers", json=body).is_success
    # Only the segment a distribution names is watched: VIP is not evaluated at all.
    assert _segment_events(client, "bo") == [(ENTERED, gold)]
    assert vip not in {s for _, s in _segment_events(client, "bo")}
    with app_database.reader() as session:
        keys = session.exec(select(Event.dedupe_key).where(Event.type == ENTERED)).all()
    assert all(k.startswith("segment:") for k in keys)


def test_nothing_listens_nothing_is_emitted(client: Client) -> None:
    _segment(client)
    _distribution(client, "something.else", None)
    _upsert(client, "cy", "gold")
    assert _segment_events(client, "cy") == []


def test_a_distribution_without_segment_id_hears_every_segment(client: Client) -> None:
    gold = _segment(client)
    vip = _segment(client, "VIP", {"field": "metadata.vip", "op": "eq", "value": True})
    _distribution(client, ENTERED, None)
    body = {"source_id": "di", "email": "di@x.io", "metadata": {"tier": "gold", "vip": True}}
    assert client.post("/v1/customers", json=body).is_success
    assert sorted(_segment_events(client, "di")) == sorted([(ENTERED, gold), (ENTERED, vip)])


def test_batch_update_and_erasure(client: Client) -> None:
    gold = _segment(client)
    _distribution(client, LEFT, gold)
    rows = [
        {"source_id": "b1", "metadata": {"tier": "gold"}},
        {"source_id": "b2", "metadata": {"tier": "silver"}},
        # The same customer twice in one batch: one net change (entered), not two events.
        {"source_id": "b3", "metadata": {"tier": "gold"}},
        {"source_id": "b3", "metadata": {"tier": "bronze"}},
        {"source_id": "b3", "metadata": {"tier": "gold"}},
    ]
    assert client.post("/v1/customers/batch", json={"customers": rows}).json()["failed"] == 0
    assert _segment_events(client, "b1") == [(ENTERED, gold)]
    assert _segment_events(client, "b2") == []
    assert _segment_events(client, "b3") == [(ENTERED, gold)]
    # update_customer (PUT) moves b2 in, and b1 out.
    put = client.put("/v1/customers/b2", json={"metadata": {"tier": "gold"}})
    assert put.status_code == 200, put.text
    assert client.put("/v1/customers/b1", json={"metadata": {"tier": "x"}}).status_code == 200
    assert _segment_events(client, "b2") == [(ENTERED, gold)]
    assert _segment_events(client, "b1") == [(ENTERED, gold), (LEFT, gold)]
    # An erased customer is in no segment: they leave it (once).
    b3 = client.get("/v1/customers/b3").json()["id"]
    assert client.delete(f"/v1/customers/{b3}").status_code == 204
    messages = _messages(client, 2)
    assert sorted(m["customer_id"] for m in messages) == sorted(
        [client.get("/v1/customers/b1").json()["id"], b3]
    )


# 20 events go in row by row, 100 (a larger import) in one insert_many sharing their payload.
@pytest.mark.parametrize("rows", [40, 200])
def test_a_csv_import_emits_for_the_rows_that_enter(client: Client, rows: int) -> None:
    gold = _segment(client)
    _distribution(client, ENTERED, gold)
    csv_text = "source_id,email,metadata.tier\n" + "".join(
        f"imp-{i},imp{i}@x.io,{'gold' if i % 2 else 'silver'}\n" for i in range(rows)
    )
    answer = client.post(
        "/v1/customers/import", content=csv_text, headers={"Content-Type": "text/csv"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] == rows
    for i in range(rows):
        assert _segment_events(client, f"imp-{i}") == ([(ENTERED, gold)] if i % 2 else [])
    # The same file again changes nothing.
    client.post("/v1/customers/import", content=csv_text, headers={"Content-Type": "text/csv"})
    assert len(_messages(client, rows // 2)) == rows // 2


def test_an_event_carrying_the_customer_emits_before_its_own(client: Client) -> None:
    gold = _segment(client)
    _distribution(client, ENTERED, gold)
    body = {
        "type": "order.paid",
        "customer": {"source_id": "ev", "email": "ev@x.io", "metadata": {"tier": "gold"}},
    }
    assert client.post("/v1/events", json=body).status_code == 202
    assert client.post("/v1/events", json=body).status_code == 202
    assert _segment_events(client, "ev") == [(ENTERED, gold)]
    types = [e["type"] for e in client.get("/v1/customers/ev/events").json()]
    assert sorted(types) == sorted(["order.paid", "order.paid", ENTERED])


def _settled_action(client: Client, action_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        action: dict[str, Any] = client.get(f"/v1/async-actions/{action_id}").json()
        if action["status"] in ("DONE", "FAILED") or time.monotonic() > deadline:
            return action
        time.sleep(0.05)


def test_voucherify_async_bulk_update_and_permanent_deletion(client: Client) -> None:
    gold = _segment(client)
    _distribution(client, LEFT, gold)
    started = client.post(
        "/v1/customers/bulk/async", json=[{"source_id": "vf", "metadata": {"tier": "gold"}}]
    )
    assert started.status_code == 202, started.text
    assert _settled_action(client, started.json()["async_action_id"])["status"] == "DONE"
    metadata = client.post(
        "/v1/customers/metadata/async", json={"source_ids": ["vf"], "metadata": {"tier": "x"}}
    )
    assert metadata.status_code == 202, metadata.text
    assert _settled_action(client, metadata.json()["async_action_id"])["status"] == "DONE"
    assert _segment_events(client, "vf") == [(ENTERED, gold), (LEFT, gold)]
    client.post("/v1/customers/metadata/async", json={"source_ids": ["vf"], "metadata": {}})
    again = client.post(
        "/v1/customers/bulk/async", json=[{"source_id": "vf", "metadata": {"tier": "gold"}}]
    )
    assert _settled_action(client, again.json()["async_action_id"])["status"] == "DONE"
    vf = client.get("/v1/customers/vf").json()["id"]
    erased = client.post(f"/v1/customers/{vf}/permanent-deletion")
    assert erased.status_code == 200, erased.text
    events = client.get(f"/v1/customers/{vf}/events")
    assert events.status_code == 404  # erased: the timeline is gone with the person
    _messages(client, 2)  # left by the metadata update, left by the erasure


def test_a_webhook_subscription_gets_the_events(client: Client, app_database: Database) -> None:
    gold = _segment(client)
    made = client.post(
        "/v1/webhooks", json={"url": "https://hooks.example.com/dm", "event_types": [ENTERED]}
    )
    assert made.status_code == 201, made.text
    _upsert(client, "wh", "gold")
    calls = client.get(f"/v1/webhooks/{made.json()['id']}/calls").json()
    entered = [c for c in calls if c["event_type"] == ENTERED]
    assert len(entered) == 1, calls
    assert _segment_events(client, "wh") == [(ENTERED, gold)]
    customer_id = client.get("/v1/customers/wh").json()["id"]
    with app_database.reader() as session:
        [stored] = session.exec(select(Event).where(col(Event.customer_id) == customer_id)).all()
    assert stored.payload["segment"] == {"id": gold, "name": "Gold"}
    assert stored.dedupe_key.startswith(f"segment:{customer_id}:{gold}:{ENTERED}:")


def test_previewing_a_segment_left_distribution_for_a_customer_outside_it(client: Client) -> None:
    gold = _segment(client)
    distribution = _distribution(client, LEFT, gold)
    _upsert(client, "pv", "silver")  # never a member: a leave is previewed all the same
    answer = client.post(
        f"/v1/distributions/{distribution}/preview", json={"customer": {"source_id": "pv"}}
    )
    assert answer.status_code == 200, answer.text
    [row] = answer.json()["deliveries"]
    assert f"customer.segment.left {gold} Gold" in row["content"]["html"]
