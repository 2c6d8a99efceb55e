"""``/v1/distributions`` with a date trigger's schedule and a follow-up's delay and recheck."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from distribution.events.follow_ups import run_due_follow_ups
from distribution.models import utcnow
from distribution.outbox import LinkSettings
from distribution.storage.db import Database
from tests.builders import publish_template
from tests.conftest import ProjectCredentials

Client = TestClient[Litestar]


def _rule(template: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "Birthday",
        "trigger": "customer.date",
        "channels": [{"channel": "email", "template": template, "provider": "capture"}],
        "schedule": {"field": "birthdate", "offset_days": -3, "at": "09:00"},
        **extra,
    }


def test_a_schedule_a_delay_and_a_recheck_are_stored_and_listed(
    client: Client, app_database: Database, api_project: ProjectCredentials
) -> None:
    template = publish_template(app_database, api_project.project.id)
    answer = client.post("/v1/distributions", json=_rule(template))
    assert answer.status_code == 201, answer.text
    reminder = _rule(
        template,
        name="Reminder",
        trigger="code.assigned",
        schedule=None,
        delay="P2D",
        recheck={"code": "not_redeemed"},
    )
    assert client.post("/v1/distributions", json=reminder).status_code == 201
    listed = {d["name"]: d for d in client.get("/v1/distributions").json()}
    assert listed["Birthday"]["schedule"] == {
        "field": "birthdate",
        "offset_days": -3,
        "at": "09:00",
    }
    assert listed["Birthday"]["delay_seconds"] is None
    assert listed["Reminder"]["delay_seconds"] == 2 * 24 * 3600
    assert listed["Reminder"]["recheck"] == {"code": "not_redeemed"}


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"schedule": {"field": "birthdate", "at": "25:00"}}, "schedule.at"),
        ({"schedule": {"field": ["x"], "at": "09:00"}}, "schedule.field"),
        (
            {"schedule": {"field": "birthdate", "at": "09:00", "offset_days": "3"}},
            "schedule.offset_days",
        ),
        ({"schedule": None}, "schedule"),
        ({"delay": "two days"}, "delay"),
        ({"delay": 10**12}, "delay"),
        ({"delay": 60, "recheck": {"code": {"no": 1}}}, "recheck.code"),
    ],
)
def test_bad_scheduling_fields_answer_a_problem_naming_the_field(
    client: Client,
    app_database: Database,
    api_project: ProjectCredentials,
    extra: dict[str, Any],
    field: str,
) -> None:
    template = publish_template(app_database, api_project.project.id)
    answer = client.post("/v1/distributions", json=_rule(template, **extra))
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in answer.json()["errors"]]


@pytest.mark.parametrize("extra", [{"delay": [1]}, {"schedule": "tomorrow"}, {"recheck": 3}])
def test_a_wrong_type_is_a_client_error(
    client: Client, app_database: Database, api_project: ProjectCredentials, extra: dict[str, Any]
) -> None:
    template = publish_template(app_database, api_project.project.id)
    answer = client.post("/v1/distributions", json=_rule(template, **extra))
    assert answer.status_code in (400, 422), answer.text


def test_a_delayed_distribution_lists_its_follow_ups(
    client: Client, app_database: Database, api_project: ProjectCredentials
) -> None:
    template = publish_template(app_database, api_project.project.id)
    reminder = _rule(
        template, name="Reminder", trigger="code.assigned", schedule=None, delay="PT1H"
    )
    distribution = client.post("/v1/distributions", json=reminder).json()
    for who in ("ana", "bo", "cy"):
        answer = client.post(
            "/v1/events",
            json={
                "type": "code.assigned",
                "customer": {"source_id": who, "email": f"{who}@example.com"},
                "code": {"code": f"{who.upper()}-1"},
            },
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["deliveries"] == []
    path = f"/v1/distributions/{distribution['id']}/follow-ups"
    first = client.get(path, params={"limit": 2}).json()
    assert [f["status"] for f in first["follow_ups"]] == ["waiting", "waiting"]
    assert first["has_more"] is True
    rest = client.get(path, params={"limit": 2, "starting_after": first["next_cursor"]}).json()
    assert len(rest["follow_ups"]) == 1
    assert rest["has_more"] is False
    assert client.get(path, params={"status": "sent"}).json()["follow_ups"] == []
    wrong = client.get(path, params={"status": "lost"})
    assert wrong.status_code == 422
    assert [e["field"] for e in wrong.json()["errors"]] == ["status"]
    assert client.get("/v1/distributions/dist_none/follow-ups").status_code == 404


LINKS = LinkSettings(public_url="http://127.0.0.1", secret_key="test-secret-key")


def _code_event(client: Client, kind: str, who: str) -> None:
    answer = client.post(
        "/v1/events",
        json={
            "type": kind,
            "customer": {"source_id": who, "email": f"{who}@example.com"},
            "code": {"code": f"{who.upper()}-1"},
        },
    )
    assert answer.status_code == 202, answer.text


def test_follow_ups_are_filtered_by_status_and_paged_within_it(
    client: Client, app_database: Database, api_project: ProjectCredentials
) -> None:
    template = publish_template(app_database, api_project.project.id)
    reminder = _rule(
        template,
        name="Still unused",
        trigger="code.assigned",
        schedule=None,
        delay="P2D",
        recheck={"code": "not_redeemed"},
    )
    distribution = client.post("/v1/distributions", json=reminder).json()
    for who in ("ana", "bo", "cy", "di"):
        _code_event(client, "code.assigned", who)
    for who in ("cy", "di"):
        _code_event(client, "code.redeemed", who)
    run_due_follow_ups(app_database, LINKS, utcnow() + timedelta(days=3))
    _code_event(client, "code.assigned", "ed")  # after the round: still waiting
    path = f"/v1/distributions/{distribution['id']}/follow-ups"

    def listed(**params: Any) -> dict[str, Any]:
        answer = client.get(path, params=params)
        assert answer.status_code == 200, answer.text
        page: dict[str, Any] = answer.json()
        return page

    customers = {c["source_id"]: c["id"] for c in client.get("/v1/customers").json()["customers"]}
    sent = listed(status="sent")["follow_ups"]
    assert [f["customer_id"] for f in sent] == [customers["bo"], customers["ana"]]
    assert all(f["reason"] is None and f["done_at"] for f in sent)
    first = listed(status="skipped", limit=1)
    assert first["has_more"] is True
    rest = listed(status="skipped", limit=1, starting_after=first["next_cursor"])
    assert rest["has_more"] is False
    skipped = first["follow_ups"] + rest["follow_ups"]
    assert [f["reason"] for f in skipped] == [
        "the code DI-1 was redeemed",
        "the code CY-1 was redeemed",
    ]
    [waiting] = listed(status="waiting")["follow_ups"]
    assert waiting["customer_id"] == customers["ed"]
    assert waiting["done_at"] is None
    assert len(listed()["follow_ups"]) == 5


def test_a_cleared_delay_removes_the_follow_up_and_a_bad_wait_says_why(
    client: Client, app_database: Database, api_project: ProjectCredentials
) -> None:
    template = publish_template(app_database, api_project.project.id)
    rule = _rule(
        template,
        name="Reminder",
        trigger="code.assigned",
        schedule=None,
        delay=3600,
        recheck={
            "code": "not_redeemed",
            "conditions": {"field": "email", "op": "exists", "value": True},
        },
    )
    answer = client.post("/v1/distributions", json=rule)
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["recheck"]["conditions"] == {"field": "email", "op": "exists", "value": True}
    cleared = client.put(
        f"/v1/distributions/{created['id']}", json=rule | {"delay": None, "recheck": None}
    )
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["delay_seconds"], cleared.json()["recheck"]) == (None, None)

    def reasons(**extra: Any) -> list[tuple[str, str]]:
        answer = client.put(f"/v1/distributions/{created['id']}", json=rule | extra)
        assert answer.status_code == 422, answer.text
        return [(e["field"], e["reason"]) for e in answer.json()["errors"]]

    assert reasons(delay=None) == [
        ("recheck", "needs a delay: it is checked when the wait is over")
    ]
    assert reasons(delay=0) == [("delay", "must be from 1 second to 90 days")]
    assert reasons(delay=91 * 86400) == [("delay", "must be from 1 second to 90 days")]
    assert reasons(delay="two days") == [
        ("delay", "must be seconds or a duration such as P2D or PT12H")
    ]
    assert reasons(recheck={"conditions": {"field": "email", "op": "near"}})[0][0].startswith(
        "recheck.conditions"
    )
