"""Deliveries, distributions and bulk sends in the UI, on the server side.

Pages per role, the live feed's JSON with its cursor, message detail, distribution counts over a
window, bulk-send progress and buttons (editors only, CSRF required), and projects kept apart.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import update

from distribution.models import Delivery, utcnow
from distribution.outbox.messages import MESSAGE_ID_PREFIX, changed_messages
from distribution.storage.db import Database
from distribution.storage.ids import first_id_at
from tests.builders import publish_template
from tests.conftest import ProjectCredentials, make_project
from tests.test_web.ui_sign_in import header_token, make_user, sign_in
from web.ui.feeds_views import duration_text
from web.ui.follow_ups_view import FOLLOW_UPS_SHOWN

Client = TestClient[Litestar]


def _wait_until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _ui(app: Litestar, database: Database, project: ProjectCredentials, role: str) -> Client:
    """A signed-in browser-like client (own cookie jar) for a new user of the project."""
    client = TestClient(app, base_url="http://127.0.0.1")
    person = make_user(database, project, role)
    assert sign_in(client, person.email).status_code == 303  # type: ignore[attr-defined]
    return client


def _distribution(client: Client, database: Database, project: ProjectCredentials) -> str:
    template = publish_template(database, project.project.id, subject="Hi", body="<p>Hello</p>")
    created = client.post(
        "/v1/distributions",
        json={
            "name": "Welcome",
            "trigger": "customer.welcomed",
            "channels": [{"channel": "email", "template": template, "provider": "capture"}],
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _event(client: Client, source_id: str) -> str:
    answer = client.post(
        "/v1/events",
        json={
            "type": "customer.welcomed",
            "customer": {"source_id": source_id, "email": f"{source_id}@example.com"},
        },
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["deliveries"][0]["id"])


def _feed(ui: Client, **query: str) -> dict[str, Any]:
    answer = ui.get("/ui/api/deliveries", params=query)
    assert answer.status_code == 200, answer.text
    feed: dict[str, Any] = answer.json()
    return feed


def _sent(ui: Client, message_id: str) -> bool:
    return any(r["id"] == message_id and r["status"] == "sent" for r in _feed(ui)["rows"])


def _bulk_job(client: Client, database: Database, project: ProjectCredentials) -> str:
    """A bulk send to three customers whose messages wait out a 10-minute window."""
    template = publish_template(
        database, project.project.id, subject="Hi", body="<p>{{ code.code }}</p>"
    )
    campaign = client.post("/v1/campaigns", json={"name": "Invite"}).json()["id"]
    pool = client.post("/v1/code-pools", json={"campaign": campaign, "name": "p"}).json()["id"]
    client.post(f"/v1/code-pools/{pool}/codes/generate", json={"count": 5, "length": 10})
    for i in range(3):
        client.post("/v1/customers", json={"source_id": f"u{i}", "email": f"u{i}@example.com"})
    started = client.post(
        "/v1/bulk-sends",
        json={
            "campaign": campaign,
            "audience": {"customers": ["u0", "u1", "u2"]},
            "channels": [{"channel": "email", "template": template, "provider": "capture"}],
            "send_delay_seconds": 600,
        },
    )
    assert started.status_code == 202, started.text
    return str(started.json()["id"])


def test_pages_render_for_every_role_with_links_in_the_navigation(
    app: Litestar, app_database: Database, api_project: ProjectCredentials, client: Client
) -> None:
    distribution = _distribution(client, app_database, api_project)
    for role in ("viewer", "editor", "admin"):
        ui = _ui(app, app_database, api_project, role)
        for path in ("/deliveries", "/distributions", "/bulk-sends"):
            page = ui.get(path)
            assert page.status_code == 200, (role, path, page.text)
            assert f'href="{path}" aria-current="page"' in page.text
            assert "<script>" not in page.text  # the CSP allows no inline script
        detail = ui.get(f"/distributions/{distribution}?window=7d")
        assert detail.status_code == 200
        assert "customer.welcomed" in detail.text
        assert f"/ui/api/distributions/{distribution}/counts?window=7d" in detail.text


def test_pages_and_feed_need_sign_in(app: Litestar) -> None:
    anonymous = TestClient(app, base_url="http://127.0.0.1")
    page = anonymous.get("/deliveries", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")
    assert anonymous.get("/ui/api/deliveries").status_code == 401


def test_feed_lists_the_newest_then_what_changed_since_the_cursor(
    app: Litestar, app_database: Database, api_project: ProjectCredentials, client: Client
) -> None:
    distribution = _distribution(client, app_database, api_project)
    ui = _ui(app, app_database, api_project, "viewer")
    opened = _feed(ui)  # nothing yet: later polls start from the floor
    assert opened["rows"] == []
    first = _event(client, "ana")
    _wait_until(lambda: _sent(ui, first), "the first message to be sent")
    since_opened = _feed(ui, cursor=opened["cursor"], from_id=opened["floor"])
    assert [r["id"] for r in since_opened["rows"]] == [first]
    start = _feed(ui)
    assert [r["id"] for r in start["rows"]] == [first]
    row = start["rows"][0]
    assert row["recipient"] == "ana@example.com"  # whole, as GET /v1/messages shows it
    assert row["distribution"] == "Welcome"
    assert row["distribution_id"] == distribution
    assert row["channel"] == "email"
    assert row["template"]

    # The first message last changed long ago: a poll from now on only brings the second.
    with app_database.session() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == first)  # type: ignore[arg-type]
            .values(updated_at=utcnow() - timedelta(hours=1))
        )
    second = _event(client, "bo")
    _wait_until(lambda: _sent(ui, second), "the second message to be sent")
    changes = _feed(ui, cursor=start["cursor"], from_id=first)
    assert [r["id"] for r in changes["rows"]] == [second]
    assert changes["gone"] == []
    assert changes["cursor"] >= start["cursor"]

    # With a status filter, a row on screen that left the status is named in ``gone``.
    queued_view = _feed(ui, status="queued", cursor=start["cursor"], from_id=first)
    assert queued_view["rows"] == []
    assert queued_view["gone"] == [second]
    assert [r["id"] for r in _feed(ui, status="sent")["rows"]] == [second, first]
    assert _feed(ui, channel="sms")["rows"] == []
    assert [r["id"] for r in _feed(ui, distribution=distribution)["rows"]] == [second, first]


def test_message_detail_has_rendered_content_and_history(
    app: Litestar, app_database: Database, api_project: ProjectCredentials, client: Client
) -> None:
    _distribution(client, app_database, api_project)
    ui = _ui(app, app_database, api_project, "viewer")
    message = _event(client, "cy")
    _wait_until(lambda: _sent(ui, message), "the message to be sent")
    detail = ui.get(f"/ui/api/deliveries/{message}")
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["content"]["subject"] == "Hi"
    assert "Hello" in body["content"]["html"]
    assert body["history"][0]["status"] == "queued"
    assert body["history"][-1]["status"] == "sent"
    assert body["provider_message_id"]
    assert body["provider_status"] is None  # capture has no word of its own
    assert ui.get("/ui/api/deliveries/msg_nope").status_code == 404


def test_distribution_counts_over_a_window(
    app: Litestar, app_database: Database, api_project: ProjectCredentials, client: Client
) -> None:
    distribution = _distribution(client, app_database, api_project)
    ui = _ui(app, app_database, api_project, "viewer")
    message = _event(client, "di")
    _wait_until(lambda: _sent(ui, message), "the message to be sent")
    counts = ui.get(f"/ui/api/distributions/{distribution}/counts", params={"window": "24h"})
    assert counts.status_code == 200, counts.text
    assert counts.json()["total"]["sent"] == 1
    assert counts.json()["total"]["failed"] == 0
    assert counts.json()["messages"] == 1
    # Created two days ago, the message leaves the 24 h window and stays in the 7 d one.
    with app_database.session() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == message)  # type: ignore[arg-type]
            .values(created_at=utcnow() - timedelta(days=2))
        )
    day = ui.get(f"/ui/api/distributions/{distribution}/counts?window=24h").json()
    week = ui.get(f"/ui/api/distributions/{distribution}/counts?window=7d").json()
    assert day["messages"] == 0
    assert week["total"]["sent"] == 1
    listing = ui.get("/distributions?window=7d").text
    assert re.search(r'data-status="sent">sent <b>1</b>', listing)
    assert "Welcome" in listing
    assert re.search(
        r'<td class="num" data-status="sent">1</td>',
        ui.get(f"/distributions/{distribution}?window=30d").text,
    )


def test_bad_filters_and_windows_are_problems_naming_the_field(
    app: Litestar, app_database: Database, api_project: ProjectCredentials, client: Client
) -> None:
    distribution = _distribution(client, app_database, api_project)
    ui = _ui(app, app_database, api_project, "viewer")
    for query, field in (
        ({"status": "nope"}, "status"),
        ({"channel": "fax"}, "channel"),
        ({"cursor": "yesterday", "from_id": "msg_1"}, "cursor"),
    ):
        answer = ui.get("/ui/api/deliveries", params=query)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["errors"][0]["field"] == field
    counts = ui.get(f"/ui/api/distributions/{distribution}/counts?window=1y")
    assert counts.status_code == 422
    assert counts.json()["errors"][0]["field"] == "window"
    assert ui.get("/distributions?window=1y").status_code == 400
    assert ui.get("/bulk-sends/bulk_nope").status_code == 404
    assert ui.get("/distributions/dist_nope").status_code == 404


def test_bulk_send_page_progress_and_buttons_by_role(
    app: Litestar, app_database: Database, api_project: ProjectCredentials, client: Client
) -> None:
    job = _bulk_job(client, app_database, api_project)
    viewer = _ui(app, app_database, api_project, "viewer")
    editor = _ui(app, app_database, api_project, "editor")
    prepared = _wait_until(
        lambda: (p := viewer.get(f"/ui/api/bulk-sends/{job}").json())["prepared"] == 3 and p,
        "the job to prepare its three recipients",
    )
    assert prepared["audience"] == 3
    assert prepared["waiting"] == 3  # the messages wait out the window
    assert prepared["actions"] == {"pause": True, "resume": False, "cancel": True, "send_now": True}
    assert prepared["preflight"]["audience"] == 3

    listing = viewer.get("/bulk-sends").text
    assert f'href="/bulk-sends/{job}"' in listing
    viewer_page = viewer.get(f"/bulk-sends/{job}").text
    assert 'id="done-bar"' in viewer_page
    assert "data-action=" not in viewer_page  # viewers get no buttons
    assert 'data-action="pause"' in editor.get(f"/bulk-sends/{job}").text

    token = header_token(viewer)
    for action in ("pause", "send-now"):
        refused = viewer.post(f"/ui/api/bulk-sends/{job}/{action}", headers={"X-CSRF-Token": token})
        assert refused.status_code == 403, refused.text
    refused = viewer.post(
        f"/ui/api/bulk-sends/{job}/cancel", json={}, headers={"X-CSRF-Token": token}
    )
    assert refused.status_code == 403
    assert viewer.get(f"/ui/api/bulk-sends/{job}").json()["status"] not in ("paused", "cancelled")

    headers = {"X-CSRF-Token": header_token(editor)}
    paused = editor.post(f"/ui/api/bulk-sends/{job}/pause", headers=headers)
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    assert paused.json()["actions"]["resume"] is True
    resumed = editor.post(f"/ui/api/bulk-sends/{job}/resume", headers=headers)
    assert resumed.json()["status"] != "paused"
    cancelled = editor.post(
        f"/ui/api/bulk-sends/{job}/cancel", json={"release_codes": True}, headers=headers
    )
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "cancelled"
    assert body["cancelled"] == 3
    assert body["codes_released"] == 3
    assert body["actions"] == {"pause": False, "resume": False, "cancel": False, "send_now": False}
    again = editor.post(f"/ui/api/bulk-sends/{job}/resume", headers=headers)
    assert again.status_code == 409


def test_bulk_actions_need_the_csrf_token(
    app: Litestar, app_database: Database, api_project: ProjectCredentials, client: Client
) -> None:
    job = _bulk_job(client, app_database, api_project)
    editor = _ui(app, app_database, api_project, "editor")
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        answer = editor.post(f"/ui/api/bulk-sends/{job}/pause", headers=headers)
        assert answer.status_code == 403, answer.text
    assert editor.get(f"/ui/api/bulk-sends/{job}").json()["status"] != "paused"
    bad = editor.post(
        f"/ui/api/bulk-sends/{job}/cancel",
        json={"release_codes": "yes"},
        headers={"X-CSRF-Token": header_token(editor)},
    )
    assert bad.status_code in (400, 422), bad.text


def test_one_project_sees_nothing_of_another(
    app: Litestar, app_database: Database, api_project: ProjectCredentials, client: Client
) -> None:
    distribution = _distribution(client, app_database, api_project)
    message = _event(client, "eve")
    job = _bulk_job(client, app_database, api_project)
    owner = _ui(app, app_database, api_project, "admin")
    _wait_until(lambda: _sent(owner, message), "the message to be sent")

    other = _ui(app, app_database, make_project(app_database), "admin")
    assert _feed(other)["rows"] == []
    assert _feed(other, cursor="2000-01-01T00:00:00Z", from_id="")["rows"] == []
    assert other.get(f"/ui/api/deliveries/{message}").status_code == 404
    assert other.get(f"/ui/api/distributions/{distribution}/counts").status_code == 404
    assert other.get(f"/distributions/{distribution}").status_code == 404
    assert "Welcome" not in other.get("/distributions").text
    assert job not in other.get("/bulk-sends").text
    assert other.get(f"/bulk-sends/{job}").status_code == 404
    assert other.get(f"/ui/api/bulk-sends/{job}").status_code == 404
    headers = {"X-CSRF-Token": header_token(other)}
    assert other.post(f"/ui/api/bulk-sends/{job}/pause", headers=headers).status_code == 404
    cancel = other.post(f"/ui/api/bulk-sends/{job}/cancel", json={}, headers=headers)
    assert cancel.status_code == 404
    assert owner.get(f"/ui/api/bulk-sends/{job}").json()["status"] != "cancelled"


def test_durations_read_as_a_person_says_them() -> None:
    assert duration_text(None) == "—"
    assert duration_text(44.6) == "45 s"
    assert duration_text(200) == "3 min 20 s"
    assert duration_text(7500) == "2 h 5 min"


def test_the_feed_stops_following_messages_created_over_an_hour_ago(
    app: Litestar, app_database: Database, api_project: ProjectCredentials
) -> None:
    ui = _ui(app, app_database, api_project, "viewer")
    opened = _feed(ui)
    made = utcnow() - timedelta(hours=2)
    old_id = first_id_at(MESSAGE_ID_PREFIX, made) + "0" * 20
    with app_database.session() as session:
        session.add(
            Delivery(
                id=old_id,
                project_id=api_project.project.id,
                idempotency_key="old",
                channel="email",
                provider="capture",
                recipient="old@example.com",
                status="bounced",
                created_at=made,
                updated_at=utcnow(),  # it changed just now
            )
        )
    with app_database.reader() as session:
        everything = changed_messages(session, api_project.project.id, since=made, from_id=old_id)
        recent = changed_messages(
            session,
            api_project.project.id,
            since=made,
            from_id=old_id,
            created_since=utcnow() - timedelta(hours=1),
        )
    assert [m.id for m in everything.rows] == [old_id]
    assert recent.rows == []
    assert _feed(ui, cursor=opened["cursor"], from_id=old_id)["rows"] == []
    assert [r["id"] for r in _feed(ui, status="bounced")["rows"]] == [old_id]  # on reload


def test_send_now_ends_the_waiting_window(
    app: Litestar, app_database: Database, api_project: ProjectCredentials, client: Client
) -> None:
    job = _bulk_job(client, app_database, api_project)
    editor = _ui(app, app_database, api_project, "editor")
    _wait_until(
        lambda: editor.get(f"/ui/api/bulk-sends/{job}").json()["prepared"] == 3,
        "the job to prepare its recipients",
    )
    answer = editor.post(
        f"/ui/api/bulk-sends/{job}/send-now", headers={"X-CSRF-Token": header_token(editor)}
    )
    assert answer.status_code == 200, answer.text
    done = _wait_until(
        lambda: (
            (j := editor.get(f"/ui/api/bulk-sends/{job}").json())["status"] == "completed" and j
        ),
        "the job to complete",
    )
    assert done["sent"] == 3
    assert done["done_percent"] == 100
    assert done["actions"] == {"pause": False, "resume": False, "cancel": False, "send_now": False}


def test_bulk_sends_are_named_by_their_campaign_in_the_feed_and_pages(
    app: Litestar, app_database: Database, api_project: ProjectCredentials, client: Client
) -> None:
    job = _bulk_job(client, app_database, api_project)
    viewer = _ui(app, app_database, api_project, "viewer")
    rows = _wait_until(
        lambda: [r for r in _feed(viewer)["rows"] if r["bulk_job_id"] == job],
        "the bulk send's messages in the feed",
    )
    assert {r["bulk_job"] for r in rows} == {"Invite"}
    assert viewer.get(f"/ui/api/deliveries/{rows[0]['id']}").json()["bulk_job"] == "Invite"
    assert viewer.get(f"/ui/api/bulk-sends/{job}").json()["name"] == "Invite"
    assert f'<a href="/bulk-sends/{job}">Invite</a>' in viewer.get("/bulk-sends").text
    assert "Bulk send: Invite" in viewer.get(f"/bulk-sends/{job}").text
    # A distribution's messages name no bulk send.
    _distribution(client, app_database, api_project)
    message = _event(client, "dora")
    assert viewer.get(f"/ui/api/deliveries/{message}").json()["bulk_job"] is None


def test_error_pages_keep_the_frame_once_the_user_is_known(
    app: Litestar, app_database: Database, api_project: ProjectCredentials
) -> None:
    viewer = _ui(app, app_database, api_project, "viewer")
    missing = viewer.get("/distributions/dist_nope")
    assert missing.status_code == 404
    assert 'aria-label="Main"' in missing.text
    assert 'id="menu-toggle"' in missing.text
    assert 'name="csrf_token"' in missing.text  # the Sign out form works from here
    refused = viewer.get("/users")
    assert refused.status_code == 403
    assert 'aria-label="Main"' in refused.text
    # Before anyone is known (a sign-in without its token) the page has no frame.
    anonymous = TestClient(app, base_url="http://127.0.0.1")
    forged = anonymous.post("/login", data={"email": "a@example.com", "password": "x"})
    assert forged.status_code == 403
    assert 'aria-label="Main"' not in forged.text


def test_an_unknown_page_is_an_error_page_for_browsers_and_a_problem_for_the_api(
    app: Litestar,
) -> None:
    browser = TestClient(app, base_url="http://127.0.0.1")
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = browser.get("/no-such-page", headers=html)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in page.text
    assert '<html lang="en">' in page.text
    for path in ("/v1/no-such-thing", "/ui/v1/no-such-thing", "/ui/static/nope.js"):
        answer = browser.get(path, headers=html)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("application/problem+json"), path
    assert (
        browser.get("/no-such-page").headers["content-type"].startswith("application/problem+json")
    )


def test_a_delayed_distribution_page_lists_its_follow_ups_filtered_and_paged(
    app: Litestar, app_database: Database, api_project: ProjectCredentials, client: Client
) -> None:
    template = publish_template(app_database, api_project.project.id, subject="Hi", body="<p/>")
    created = client.post(
        "/v1/distributions",
        json={
            "name": "Still unused",
            "trigger": "code.assigned",
            "channels": [{"channel": "email", "template": template, "provider": "capture"}],
            "delay": "PT1H",
        },
    )
    assert created.status_code == 201, created.text
    distribution = created.json()["id"]
    ui = _ui(app, app_database, api_project, "viewer")
    page = f"/distributions/{distribution}"
    assert "No follow-up yet" in ui.get(page).text
    for n in range(FOLLOW_UPS_SHOWN + 1):
        answer = client.post(
            "/v1/events",
            json={
                "type": "code.assigned",
                "customer": {"source_id": f"fu{n}", "name": f"Waiter {n}"},
                "code": {"code": f"FU-{n}"},
            },
        )
        assert answer.status_code == 202, answer.text

    first = ui.get(page).text
    assert first.count('<span class="badge st-waiting">waiting</span>') == FOLLOW_UPS_SHOWN
    newest = re.search(r'<a href="/customers/(cust_\w+)">Waiter (\d+)</a>', first)
    assert newest is not None
    assert newest.group(2) == str(FOLLOW_UPS_SHOWN)  # newest first
    older = re.search(r'href="([^"]*follow_ups_after=fup_\w+)#follow-ups">Older', first)
    assert older is not None
    rest = ui.get(older.group(1).replace("&amp;", "&")).text
    assert re.findall(r">Waiter (\d+)</a>", rest) == ["0"]
    assert "Newest follow-ups" in rest
    assert "Older follow-ups" not in rest
    assert "No sent follow-up." in ui.get(page, params={"follow_ups": "sent"}).text
    # An unknown status reads as all, as the redemptions page's filter does.
    anything = ui.get(page, params={"follow_ups": "lost"})
    assert anything.status_code == 200
    assert 'aria-current="page">All</a>' in anything.text

    undelayed = _distribution(client, app_database, api_project)
    assert 'id="follow-ups"' not in ui.get(f"/distributions/{undelayed}").text
