"""A/B tests of template versions over the API: the split by weight, stable per customer, the
results per arm, and the winner published in one call."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient
from sqlmodel import select

from distribution.models import Delivery
from distribution.storage.db import Database
from templates import ab_arm
from tests.conftest import make_project
from tests.test_distributed.workers import post_invite, prepare_invite
from tests.test_web.api_templates import published_template
from tests.test_web.bulk_invite import FINAL, add_readers, bulk_send

Client = TestClient[Litestar]


def _version(client: Client, template_id: str, subject: str) -> str:
    saved = client.post(
        f"/v1/templates/{template_id}/versions",
        json={"body_format": "html", "subject": subject, "body": "<p>Hi {{ customer.name }}</p>"},
    )
    assert saved.status_code == 201, saved.text
    return str(saved.json()["version"]["id"])


def _tested_template(client: Client) -> tuple[str, str, str, str]:
    """A template whose live version "A" is tested against a draft "B": (template, variant,
    version A, version B)."""
    template_id = published_template(
        client, {"body_format": "html", "subject": "A", "body": "<p>Hi {{ customer.name }}</p>"}
    )
    detail = client.get(f"/v1/templates/{template_id}").json()
    variant = detail["variants"][0]
    return (
        template_id,
        variant["id"],
        variant["live_version"]["id"],
        _version(client, template_id, "B"),
    )


def _rule(template_id: str, trigger: str) -> dict[str, Any]:
    return {
        "name": f"AB {trigger}",
        "trigger": trigger,
        "channels": [{"channel": "email", "template": template_id, "provider": "capture"}],
    }


def _send(client: Client, trigger: str, person: str) -> dict[str, Any]:
    customer = {"source_id": person, "email": f"{person}@example.com", "name": person}
    event = {"type": trigger, "customer": customer}
    answer = client.post("/v1/events", json=event)
    assert answer.status_code == 202, answer.text
    [delivery] = answer.json()["deliveries"]
    detail: dict[str, Any] = client.get(f"/v1/messages/{delivery['id']}").json()
    assert detail["status"] != "failed", detail
    return detail


def test_sends_split_by_weight_and_each_customer_keeps_their_arm(client: Client) -> None:
    template_id, variant_id, version_a, version_b = _tested_template(client)
    started = client.put(
        f"/v1/templates/{template_id}/variants/{variant_id}/ab-test",
        json={
            "arms": [{"version_id": version_a, "weight": 1}, {"version_id": version_b, "weight": 3}]
        },
    )
    assert started.status_code == 200, started.text
    assert [a["weight"] for a in started.json()["arms"]] == [1, 3]
    client.post("/v1/distributions", json=_rule(template_id, "ab.split"))

    subjects: Counter[str] = Counter()
    for number in range(80):
        message = _send(client, "ab.split", f"ab-{number}")
        expected = ["A", "B"][ab_arm(variant_id, message["customer_id"], [1, 3])]
        assert message["content"]["subject"] == expected
        assert _send(client, "ab.split", f"ab-{number}")["content"]["subject"] == expected
        subjects[expected] += 1
    # A quarter and three quarters, as the weights say (80 customers: 20 and 60 expected).
    assert 8 <= subjects["A"] <= 34
    assert subjects["A"] + subjects["B"] == 80

    results = client.get(f"/v1/templates/{template_id}/variants/{variant_id}/ab-test").json()
    by_version = {arm["version_id"]: arm for arm in results["arms"]}
    assert by_version[version_a]["messages"] == 2 * subjects["A"]
    assert by_version[version_b]["messages"] == 2 * subjects["B"]
    assert {arm["converted"] for arm in results["arms"]} == {0}
    # Every arm's message was sent: a redemption of the code one of them carried converts it.


def test_the_winner_is_published_in_one_call_and_the_test_ends(client: Client) -> None:
    template_id, variant_id, version_a, version_b = _tested_template(client)
    arms = [{"version_id": version_a}, {"version_id": version_b}]
    path = f"/v1/templates/{template_id}/variants/{variant_id}/ab-test"
    assert client.put(path, json={"arms": arms}).status_code == 200
    ended = client.post(f"{path}/end", json={"winner": version_b})
    assert ended.status_code == 200, ended.text
    assert ended.json() is None
    variant = client.get(f"/v1/templates/{template_id}").json()["variants"][0]
    assert variant["live_version"]["id"] == version_b
    client.post("/v1/distributions", json=_rule(template_id, "ab.after"))
    assert {_send(client, "ab.after", f"w-{n}")["content"]["subject"] for n in range(6)} == {"B"}
    assert client.get(path).status_code == 409
    assert client.post(f"{path}/end", json={"winner": None}).status_code == 409

    # A winner that was live before is restored as a new live version.
    assert client.put(
        path, json={"arms": [{"version_id": version_b}, {"version_id": version_a}]}
    ).is_success
    assert client.post(f"{path}/end", json={"winner": version_a}).status_code == 200
    live = client.get(f"/v1/templates/{template_id}").json()["variants"][0]["live_version"]
    assert live["subject"] == "A"
    assert live["id"] not in (version_a, version_b)


def test_bad_tests_are_refused_naming_the_arm(client: Client) -> None:
    template_id, variant_id, version_a, version_b = _tested_template(client)
    path = f"/v1/templates/{template_id}/variants/{variant_id}/ab-test"
    one = client.put(path, json={"arms": [{"version_id": version_a}]})
    assert one.status_code == 422
    assert [e["field"] for e in one.json()["errors"]] == ["arms"]
    twice = client.put(path, json={"arms": [{"version_id": version_a}, {"version_id": version_a}]})
    assert [e["field"] for e in twice.json()["errors"]] == ["arms[1].version_id"]
    broken = _version(client, template_id, "{{ customer.name ")
    refused = client.put(path, json={"arms": [{"version_id": version_a}, {"version_id": broken}]})
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["arms[1].version_id"]
    other = _tested_template(client)[3]
    foreign = client.put(path, json={"arms": [{"version_id": version_a}, {"version_id": other}]})
    assert [e["field"] for e in foreign.json()["errors"]] == ["arms[1].version_id"]
    heavy = client.put(
        path, json={"arms": [{"version_id": version_a, "weight": 0}, {"version_id": version_b}]}
    )
    assert heavy.status_code in (400, 422)
    assert "weight" in heavy.text
    stray = client.post(f"{path}/end", json={"winner": version_b})
    assert stray.status_code == 409


def test_another_project_cannot_see_or_start_a_test(client: Client, app_database: Database) -> None:
    template_id, variant_id, version_a, version_b = _tested_template(client)
    path = f"/v1/templates/{template_id}/variants/{variant_id}/ab-test"
    arms = {"arms": [{"version_id": version_a}, {"version_id": version_b}]}
    assert client.put(path, json=arms).status_code == 200
    headers = make_project(app_database).headers
    assert client.get(path, headers=headers).status_code == 404
    assert client.put(path, json=arms, headers=headers).status_code == 404
    ended = client.post(f"{path}/end", json={"winner": version_b}, headers=headers)
    assert ended.status_code == 404
    assert client.get(path).status_code == 200


def test_a_bulk_send_splits_its_recipients_as_events_do(
    client: Client, app_database: Database
) -> None:
    add_readers(client, 60)
    request = prepare_invite(client, "capture", 60)
    template_id = request["channels"][0]["template"]
    variant = client.get(f"/v1/templates/{template_id}").json()["variants"][0]
    live = variant["live_version"]["id"]
    challenger = client.post(
        f"/v1/templates/{template_id}/versions",
        json={"body_format": "html", "subject": "Invite B", "body": "<p>{{ code.code }}</p>"},
    ).json()["version"]["id"]
    arms = {"arms": [{"version_id": live}, {"version_id": challenger}]}
    assert client.put(
        f"/v1/templates/{template_id}/variants/{variant['id']}/ab-test", json=arms
    ).is_success
    job = post_invite(client, request, 60)
    deadline = time.monotonic() + 60
    while bulk_send(client, job.job_id)["status"] not in FINAL:
        assert time.monotonic() < deadline, bulk_send(client, job.job_id)
        time.sleep(0.1)
    with app_database.reader() as session:
        rows = session.exec(
            select(Delivery.customer_id, Delivery.template_version_id).where(
                Delivery.bulk_job_id == job.job_id
            )
        ).all()
    assert len(rows) == 60
    for customer_id, version_id in rows:
        assert customer_id is not None
        assert version_id == [live, challenger][ab_arm(variant["id"], customer_id, [1, 1])]
    assert {version_id for _, version_id in rows} == {live, challenger}


def _sent(client: Client, message_id: str) -> None:
    deadline = time.monotonic() + 20
    while client.get(f"/v1/messages/{message_id}").json()["status"] != "sent":
        assert time.monotonic() < deadline, client.get(f"/v1/messages/{message_id}").json()
        time.sleep(0.05)


def test_each_arm_counts_the_redemptions_of_the_codes_it_carried(client: Client) -> None:
    template_id, variant_id, version_a, version_b = _tested_template(client)
    path = f"/v1/templates/{template_id}/variants/{variant_id}/ab-test"
    arms = {"arms": [{"version_id": version_a}, {"version_id": version_b}]}
    assert client.put(path, json=arms).is_success
    client.post("/v1/distributions", json=_rule(template_id, "ab.convert"))
    arm_of: dict[str, str] = {}
    for number in range(12):
        person = f"conv-{number}"
        event = {
            "type": "ab.convert",
            "customer": {"source_id": person, "email": f"{person}@example.com", "name": person},
            "code": {"code": f"AB-{number}"},
        }
        [delivery] = client.post("/v1/events", json=event).json()["deliveries"]
        _sent(client, delivery["id"])
        customer_id = client.get(f"/v1/messages/{delivery['id']}").json()["customer_id"]
        arm_of[f"AB-{number}"] = [version_a, version_b][ab_arm(variant_id, customer_id, [1, 1])]
    redeemed = [f"AB-{n}" for n in range(5)]
    for code in redeemed:
        answer = client.post(
            "/v1/events",
            json={
                "type": "code.redeemed",
                "customer": {"source_id": "shopper"},  # a friend redeems the referral code
                "code": code,
                "order": {"id": f"order-{code}", "amount": 1500, "currency": "EUR"},
            },
        )
        assert answer.status_code == 202, answer.text

    results = {a["version_id"]: a for a in client.get(path).json()["arms"]}
    for version in (version_a, version_b):
        arm = results[version]
        won = sum(1 for code in redeemed if arm_of[code] == version)
        sent = sum(1 for v in arm_of.values() if v == version)
        assert (arm["sent"], arm["converted"], arm["conversions"]) == (sent, won, won)
        assert arm["revenue"] == ([{"currency": "EUR", "amount": 1500 * won}] if won else [])
        assert arm["conversion_rate"] == won / sent
        low, high = arm["conversion_interval"]
        assert low <= won / sent <= high
