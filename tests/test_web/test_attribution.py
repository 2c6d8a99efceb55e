"""Attribution over HTTP: a redemption of a code marks the messages that carried it converted.

Messages go out through the embedded worker to `capture`; redemptions arrive as our own
``code.redeemed`` events and as Voucherify's signed ``redemption.succeeded`` webhooks.
"""

from __future__ import annotations

import copy
import csv
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from distribution.storage.db import Database
from tests.conftest import make_project
from tests.test_distributed.workers import start_invite
from tests.test_distribution.event_samples import (
    VOUCHERIFY_REDEMPTION,
    VOUCHERIFY_V2024_REDEMPTION,
)
from tests.test_distribution.webhook_receiver import Receiver
from tests.test_providers.fakes.server import serve
from tests.test_web.api_templates import published_template
from tests.test_web.bulk_invite import add_readers
from tests.test_web.voucherify_webhooks import connect_voucherify, post_webhook, signed_body

Client = TestClient[Litestar]
INVITE = {
    "subject": "Your code, {{ customer.first_name }}",
    "body_format": "html",
    "body": "<p>Use {{ code.code }} at checkout.</p>",
}


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    api = Receiver()
    with serve(api) as url:
        yield api, url


def _ok(answer: Any, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def _wait(client: Client, predicate: Any, what: str, **query: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        messages: list[dict[str, Any]] = client.get("/v1/messages", params=query).json()["messages"]
        if predicate(messages):
            return messages
        assert time.monotonic() < deadline, f"never {what}: {messages}"
        time.sleep(0.05)


def _now(offset: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + offset).isoformat().replace("+00:00", "Z")


def _setup(client: Client, *, channels: int = 1) -> dict[str, str]:
    """A campaign and a distribution that sends the code of every ``code.assigned`` event."""
    template_id = published_template(client, INVITE)
    campaign = _ok(client.post("/v1/campaigns", json={"name": "Friends"}), 201)["id"]
    distribution = _ok(
        client.post(
            "/v1/distributions",
            json={
                "name": "Invite",
                "trigger": "code.assigned",
                "channels": [{"channel": "email", "template": template_id, "provider": "capture"}]
                * channels,
            },
        ),
        201,
    )["id"]
    return {"template": template_id, "campaign": campaign, "distribution": distribution}


def _send_code(client: Client, ids: dict[str, str], who: str, code: str) -> list[str]:
    """A ``code.assigned`` event giving ``who`` the code; the ids of its messages, once sent."""
    answer = _ok(
        client.post(
            "/v1/events",
            json={
                "type": "code.assigned",
                "customer": {"source_id": who, "email": f"{who}@example.com", "name": who},
                "campaign": {"id": ids["campaign"]},
                "code": {"code": code},
            },
        ),
        202,
    )
    sent = [d["id"] for d in answer["deliveries"]]
    _wait(
        client,
        lambda ms: {m["id"] for m in ms if m["status"] == "sent"} >= set(sent),
        "sent",
        customer_id=answer["customer"]["id"],
    )
    return sent


def _redeem(client: Client, code: str, **fields: Any) -> Any:
    body = {"type": "code.redeemed", "customer": {"source_id": "buyer"}, "code": code, **fields}
    return client.post("/v1/events", json=body)


def test_a_code_redeemed_event_marks_the_message_that_carried_it(client: Client) -> None:
    ids = _setup(client)
    [ana] = _send_code(client, ids, "ana", "ANA-1")
    [ben] = _send_code(client, ids, "ben", "BEN-1")
    order = {"id": "1001", "amount": 4990, "currency": "eur"}
    _ok(_redeem(client, "ANA-1", id="redeem-1", order=order), 202)

    converted = _ok(client.get(f"/v1/messages/{ana}"))
    assert converted["code"] == "ANA-1"
    assert converted["converted_at"] is not None
    assert (converted["conversion_amount"], converted["conversion_currency"]) == (4990, "EUR")
    other = _ok(client.get(f"/v1/messages/{ben}"))
    assert (other["converted_at"], other["conversion_amount"]) == (None, None)
    listed = {m["id"]: m for m in _ok(client.get("/v1/messages"))["messages"]}
    assert listed[ana]["converted_at"] == converted["converted_at"]

    [redemption] = _ok(client.get("/v1/redemptions"))["redemptions"]
    assert redemption["attributed"] is True
    assert redemption["message_ids"] == [ana]
    assert (redemption["order_id"], redemption["amount"]) == ("1001", 4990)

    stats = _ok(client.get(f"/v1/distributions/{ids['distribution']}/stats"))
    assert (stats["converted"], stats["conversions"]) == (1, 1)
    assert stats["revenue"] == [{"currency": "EUR", "amount": 4990}]
    campaign = _ok(client.get(f"/v1/campaigns/{ids['campaign']}/stats"))
    assert (campaign["sent"], campaign["failed"], campaign["converted"]) == (2, 0, 1)
    assert campaign["revenue"] == [{"currency": "EUR", "amount": 4990}]
    # Sent a moment before the redemption: seconds, not hours, and the same for both figures.
    waited = campaign["time_to_conversion"]
    assert 0 <= waited["median_seconds"] == waited["p90_seconds"] < 60
    template = _ok(client.get(f"/v1/templates/{ids['template']}/stats"))
    [variant] = template["variants"]
    [version] = variant["versions"]
    assert version["version_id"] == converted["template_version_id"]
    for figures in (template["total"], variant["stats"], version["stats"]):
        assert (figures["sent"], figures["converted"], figures["conversions"]) == (2, 1, 1)


def test_the_same_redemption_counts_once_and_revenue_once_per_scope(client: Client) -> None:
    ids = _setup(client, channels=2)  # two messages carry the code: both get the mark
    both = _send_code(client, ids, "cy", "CY-1")
    order = {"id": "2002", "amount": 1000, "currency": "USD"}
    answers = [_redeem(client, "CY-1", id="redeem-cy", order=order) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 202]
    for message_id in both:
        message = _ok(client.get(f"/v1/messages/{message_id}"))
        assert message["conversion_amount"] == 1000  # added once, not three times
    [redemption] = _ok(client.get("/v1/redemptions"))["redemptions"]
    assert sorted(redemption["message_ids"]) == sorted(both)
    stats = _ok(client.get(f"/v1/distributions/{ids['distribution']}/stats"))
    assert (stats["converted"], stats["conversions"]) == (2, 1)
    assert stats["revenue"] == [{"currency": "USD", "amount": 1000}]


def test_a_redemption_of_a_code_never_sent_is_kept_unattributed(client: Client) -> None:
    ids = _setup(client)
    _send_code(client, ids, "dee", "DEE-1")
    _ok(_redeem(client, "NOBODY-1", order={"amount": 500, "currency": "EUR"}), 202)
    _ok(_redeem(client, "DEE-1"), 202)
    unattributed = _ok(client.get("/v1/redemptions", params={"attributed": "false"}))
    assert [r["code"] for r in unattributed["redemptions"]] == ["NOBODY-1"]
    assert unattributed["redemptions"][0]["message_ids"] == []
    attributed = _ok(client.get("/v1/redemptions", params={"attributed": "true"}))
    assert [r["code"] for r in attributed["redemptions"]] == ["DEE-1"]
    stats = _ok(client.get(f"/v1/distributions/{ids['distribution']}/stats"))
    assert (stats["conversions"], stats["revenue"]) == (1, [])  # DEE-1's had no order


def test_bad_redemptions_are_422_naming_the_field(client: Client) -> None:
    missing = client.post(
        "/v1/events", json={"type": "code.redeemed", "customer": {"source_id": "x"}}
    )
    assert missing.status_code == 422, missing.text
    assert [e["field"] for e in missing.json()["errors"]] == ["code"]
    for amount in ("12.50", -1, 1.5, True, 2**70):
        bad = _redeem(client, "X-1", order={"amount": amount})
        assert bad.status_code == 422, (amount, bad.text)
        assert [e["field"] for e in bad.json()["errors"]] == ["order.amount"]
    currency = _redeem(client, "X-1", order={"amount": 1, "currency": 978})
    assert [e["field"] for e in currency.json()["errors"]] == ["order.currency"]
    assert _ok(client.get("/v1/redemptions"))["redemptions"] == []


def _voucherify_redemption(code: str, redemption_id: str, at: str, envelope: str) -> Any:
    body = copy.deepcopy(VOUCHERIFY_REDEMPTION)
    body["id"] = envelope
    body["created_at"] = at
    body["data"]["object"]["id"] = redemption_id
    body["data"]["object"]["voucher"]["code"] = code
    body["data"]["object"]["order"]["currency"] = "EUR"
    return body


def test_a_signed_voucherify_redemption_marks_the_message_once(client: Client) -> None:
    ids = _setup(client)
    [message] = _send_code(client, ids, "eve", "FRIEND-EVE")
    path = connect_voucherify(client, None)
    legacy = _voucherify_redemption("FRIEND-EVE", "r_eve_1", _now(), "evcus_eve_1")
    _ok(post_webhook(client, path, *signed_body(legacy)))
    # The same redemption again: a new envelope of the old version, and the v2024 one.
    again = _voucherify_redemption("FRIEND-EVE", "r_eve_1", _now(), "evcus_eve_2")
    _ok(post_webhook(client, path, *signed_body(again)))
    v2024 = copy.deepcopy(VOUCHERIFY_V2024_REDEMPTION)
    v2024["created_at"] = _now()
    v2024["event"]["id"] = "evcus_eve_3"
    v2024["data"]["redemption"]["id"] = "r_eve_1"
    v2024["data"]["voucher"]["code"] = "FRIEND-EVE"
    v2024["data"]["customer"] = copy.deepcopy(legacy["data"]["object"]["customer"])
    _ok(post_webhook(client, path, *signed_body(v2024)))

    converted = _ok(client.get(f"/v1/messages/{message}"))
    assert (converted["conversion_amount"], converted["conversion_currency"]) == (12900, "EUR")
    [redemption] = _ok(client.get("/v1/redemptions"))["redemptions"]
    assert (redemption["code"], redemption["message_ids"]) == ("FRIEND-EVE", [message])
    assert redemption["order_id"] == "1001"  # the order's source_id, the shop's own number


def test_a_message_sent_after_the_redemption_gets_no_credit(client: Client) -> None:
    ids = _setup(client)
    [message] = _send_code(client, ids, "fay", "FAY-1")
    path = connect_voucherify(client, None)
    earlier = _voucherify_redemption("FAY-1", "r_fay_1", _now(-timedelta(hours=1)), "evcus_fay")
    _ok(post_webhook(client, path, *signed_body(earlier)))
    assert _ok(client.get(f"/v1/messages/{message}"))["converted_at"] is None
    [redemption] = _ok(client.get("/v1/redemptions"))["redemptions"]
    assert redemption["attributed"] is False


def test_a_bulk_sent_message_is_credited_with_its_code(client: Client) -> None:
    add_readers(client, 2)
    invite = start_invite(client, "capture", 2)
    messages = _wait(
        client,
        lambda ms: len(ms) == 2 and all(m["status"] == "sent" for m in ms),
        "all sent",
        bulk_job_id=invite.job_id,
    )
    assert all(m["code"] for m in messages)
    first = messages[0]
    _ok(_redeem(client, first["code"], order={"amount": 2500, "currency": "EUR"}), 202)
    credited = _ok(client.get(f"/v1/messages/{first['id']}"))
    assert credited["conversion_amount"] == 2500
    campaign = first["campaign_id"]
    stats = _ok(client.get(f"/v1/campaigns/{campaign}/stats"))
    assert (stats["sent"], stats["converted"], stats["conversions"]) == (2, 1, 1)


def test_message_converted_reaches_a_subscriber(
    client: Client, receiver: tuple[Receiver, str]
) -> None:
    api, base = receiver
    hook_path = f"/hooks/{time.monotonic_ns()}"
    created = _ok(
        client.post(
            "/v1/webhooks", json={"url": base + hook_path, "event_types": ["message.converted"]}
        ),
        201,
    )
    api.secrets[hook_path] = created["secret"]
    ids = _setup(client)
    [message] = _send_code(client, ids, "gus", "GUS-1")
    _ok(_redeem(client, "GUS-1", order={"id": "o-9", "amount": 700, "currency": "EUR"}), 202)
    deadline = time.monotonic() + 10
    while not [r for r in api.received if r.path == hook_path] and time.monotonic() < deadline:
        time.sleep(0.02)
    [call] = [r for r in api.received if r.path == hook_path]
    assert call.event["type"] == "message.converted"
    data = call.event["data"]
    assert (data["id"], data["code"], data["amount"], data["currency"]) == (
        message,
        "GUS-1",
        700,
        "EUR",
    )


def test_another_project_neither_sees_nor_affects_the_redemptions(
    client: Client, app_database: Database
) -> None:
    ids = _setup(client)
    [message] = _send_code(client, ids, "hal", "HAL-1")
    _ok(_redeem(client, "OWN-1"), 202)
    [mine] = _ok(client.get("/v1/redemptions"))["redemptions"]
    own_headers = dict(client.headers)
    other = make_project(app_database)
    client.headers.clear()
    client.headers.update(other.headers)
    try:
        _ok(_redeem(client, "HAL-1", order={"amount": 100, "currency": "EUR"}), 202)
        [theirs] = _ok(client.get("/v1/redemptions"))["redemptions"]
        assert (theirs["code"], theirs["attributed"]) == ("HAL-1", False)
        assert client.get(f"/v1/redemptions/{mine['id']}").status_code == 404
        assert client.get(f"/v1/campaigns/{ids['campaign']}/stats").status_code == 404
        assert client.get(f"/v1/templates/{ids['template']}/stats").status_code == 404
    finally:
        client.headers.clear()
        client.headers.update(own_headers)
    assert _ok(client.get(f"/v1/messages/{message}"))["converted_at"] is None
    assert [r["id"] for r in _ok(client.get("/v1/redemptions"))["redemptions"]] == [mine["id"]]


def test_erasing_the_customer_leaves_no_code_or_order_in_redemptions(client: Client) -> None:
    ids = _setup(client)
    [message] = _send_code(client, ids, "ida", "IDA-1")
    body = {
        "type": "code.redeemed",
        "customer": {"source_id": "ida"},
        "code": "IDA-1",
        "order": {"id": "ord-ida", "amount": 3000, "currency": "EUR"},
    }
    _ok(client.post("/v1/events", json=body), 202)
    customer = _ok(client.get("/v1/customers/ida"))["id"]
    assert client.delete(f"/v1/customers/{customer}").status_code == 204
    [redemption] = _ok(client.get("/v1/redemptions"))["redemptions"]
    assert (redemption["code"], redemption["order_id"]) == ("", None)
    assert redemption["amount"] == 3000  # the figures stay; nothing names the person
    assert _ok(client.get(f"/v1/messages/{message}"))["code"] is None
    stats = _ok(client.get(f"/v1/distributions/{ids['distribution']}/stats"))
    assert stats["revenue"] == [{"currency": "EUR", "amount": 3000}]


def test_a_code_redeemed_twice_adds_both_orders_and_keeps_the_first_time(client: Client) -> None:
    ids = _setup(client)
    [message] = _send_code(client, ids, "jo", "JO-MULTI")
    _ok(_redeem(client, "JO-MULTI", id="jo-1", order={"amount": 1000, "currency": "EUR"}), 202)
    first = _ok(client.get(f"/v1/messages/{message}"))["converted_at"]
    _ok(_redeem(client, "JO-MULTI", id="jo-2", order={"amount": 250, "currency": "EUR"}), 202)
    again = _ok(client.get(f"/v1/messages/{message}"))
    assert (again["converted_at"], again["conversion_amount"]) == (first, 1250)
    stats = _ok(client.get(f"/v1/distributions/{ids['distribution']}/stats"))
    assert (stats["converted"], stats["conversions"]) == (1, 2)
    assert stats["revenue"] == [{"currency": "EUR", "amount": 1250}]


def test_a_message_that_was_not_sent_gets_no_credit(client: Client) -> None:
    ids = _setup(client)
    # No address: the message fails, carrying nothing; nothing is credited.
    answer = _ok(
        client.post(
            "/v1/events",
            json={
                "type": "code.assigned",
                "customer": {"source_id": "kim"},
                "campaign": {"id": ids["campaign"]},
                "code": "KIM-1",
            },
        ),
        202,
    )
    [failed] = answer["deliveries"]
    assert failed["status"] == "failed"
    _ok(_redeem(client, "KIM-1"), 202)
    assert _ok(client.get(f"/v1/messages/{failed['id']}"))["converted_at"] is None
    [redemption] = _ok(client.get("/v1/redemptions"))["redemptions"]
    assert redemption["attributed"] is False


def test_figures_per_day_add_up_to_the_totals_and_export_as_csv(client: Client) -> None:
    ids = _setup(client)
    for who in ("dee", "eli", "fay"):
        _send_code(client, ids, who, f"{who.upper()}-9")
    _ok(_redeem(client, "DEE-9", id="day-1", order={"amount": 1200, "currency": "EUR"}), 202)
    _ok(_redeem(client, "ELI-9", id="day-2", order={"amount": 800, "currency": "USD"}), 202)
    today = datetime.now(UTC).date().isoformat()

    for scope in (f"campaigns/{ids['campaign']}", f"distributions/{ids['distribution']}"):
        [day] = _ok(client.get(f"/v1/{scope}/stats/days"))
        totals = _ok(client.get(f"/v1/{scope}/stats"))
        assert day["day"] == today
        assert (day["messages"], day["sent"], day["converted"], day["conversions"]) == (3, 3, 2, 2)
        assert day["converted"] == totals["converted"]
        assert day["revenue"] == totals["revenue"]
        assert day["revenue"] == [
            {"currency": "EUR", "amount": 1200},
            {"currency": "USD", "amount": 800},
        ]
        exported = client.get(f"/v1/{scope}/stats/days", params={"format": "csv"})
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        assert "attachment" in exported.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(exported.text)))
        assert rows[0] == [
            "day",
            "messages",
            "queued",
            "sent",
            "delivered",
            "failed",
            "bounced",
            "converted",
            "conversions",
            "unsubscribed",
            "revenue_currency",
            "revenue_amount",
        ]
        assert rows[1:] == [
            [today, "3", "0", "3", "0", "0", "0", "2", "2", "0", "EUR", "1200"],
            [today, "3", "0", "3", "0", "0", "0", "2", "2", "0", "USD", "800"],
        ]
    bad = client.get(f"/v1/campaigns/{ids['campaign']}/stats/days", params={"format": "xml"})
    assert bad.status_code in (400, 422)
    assert client.get("/v1/campaigns/camp_nope/stats/days").status_code == 404


def test_metrics_count_redemptions_and_attributed_revenue(client: Client) -> None:
    def metric(text: str, name: str) -> float:
        found = [line for line in text.splitlines() if line.startswith(name + " ")]
        return float(found[0].split()[-1]) if found else 0.0

    before = client.get("/metrics").text
    ids = _setup(client)
    _send_code(client, ids, "gus", "GUS-5")
    _ok(_redeem(client, "GUS-5", id="metric-1", order={"amount": 700, "currency": "CHF"}), 202)
    _ok(_redeem(client, "NOBODY-5", id="metric-2", order={"amount": 300, "currency": "CHF"}), 202)
    after = client.get("/metrics").text
    assert "# TYPE dm_redemptions_total counter" in after
    for attributed in ("true", "false"):
        name = f'dm_redemptions_total{{attributed="{attributed}"}}'
        assert metric(after, name) == metric(before, name) + 1
    chf = 'dm_attributed_revenue_minor_units_total{currency="CHF"}'
    assert metric(after, chf) == metric(before, chf) + 700
