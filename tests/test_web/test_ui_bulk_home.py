"""Home and the bulk invite wizard on the server side: signing in lands on Home, which counts
the last 24 h by channel and lists low pools for every role; the wizard is for editors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from litestar import Litestar
from litestar.testing import TestClient

from distribution.storage.db import Database
from tests.builders import publish_template
from tests.conftest import ProjectCredentials
from tests.test_web.ui_sign_in import PASSWORD, csrf_of, make_user, sign_in

Client = TestClient[Litestar]


def _browser(app: Litestar) -> Client:
    return TestClient(app, base_url="http://127.0.0.1")


def test_signing_in_without_a_target_lands_on_home(
    app: Litestar, app_database: Database, api_project: ProjectCredentials
) -> None:
    person = make_user(app_database, api_project, "viewer")
    browser = _browser(app)
    token = csrf_of(browser.get("/login").text)
    answer = browser.post(
        "/login",
        data={"email": person.email, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    home = browser.get("/")
    assert home.status_code == 200
    assert '<a href="/" aria-current="page">Home</a>' in home.text


def test_home_counts_the_last_day_and_lists_low_pools_for_a_viewer(
    app: Litestar, client: Client, app_database: Database, api_project: ProjectCredentials
) -> None:
    campaign = client.post("/v1/campaigns", json={"name": "Autumn"}).json()["id"]
    pool = client.post(
        "/v1/code-pools", json={"campaign": campaign, "name": "Last few", "low_stock_threshold": 5}
    ).json()["id"]
    client.post(f"/v1/code-pools/{pool}/codes/generate", json={"count": 2, "length": 10})
    # The bulk send takes its code from another campaign: the low pool stays at 2 however far
    # the worker has got when Home is read.
    other = client.post("/v1/campaigns", json={"name": "Winter"}).json()["id"]
    stock = client.post("/v1/code-pools", json={"campaign": other, "name": "Plenty"}).json()["id"]
    client.post(f"/v1/code-pools/{stock}/codes/generate", json={"count": 5, "length": 10})
    template = publish_template(app_database, api_project.project.id, body="<p>{{ code.code }}</p>")
    client.post("/v1/customers", json={"source_id": "h1", "email": "h1@example.com"})
    started = client.post(
        "/v1/bulk-sends",
        json={
            "campaign": other,
            "audience": {"customers": ["h1"]},
            "channels": [{"channel": "email", "template": template, "provider": "capture"}],
            # Scheduled: it stays on Home however fast the worker is.
            "scheduled_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        },
    )
    assert started.status_code == 202, started.text
    person = make_user(app_database, api_project, "viewer")
    browser = _browser(app)
    sign_in(browser, person.email)
    home = browser.get("/").text
    assert re.search(rf'data-pool="{pool}">.*Autumn · Last few.*2 codes left', home, re.S)
    assert f'data-job="{started.json()["id"]}"' in home
    assert 'href="/bulk-sends/new"' not in home  # a viewer is not offered to start one
    assert "Set up your project" not in home


def test_the_wizard_is_for_editors_and_lists_what_can_be_picked(
    app: Litestar, client: Client, app_database: Database, api_project: ProjectCredentials
) -> None:
    campaign = client.post("/v1/campaigns", json={"name": "Winter"}).json()["id"]
    client.post("/v1/code-pools", json={"campaign": campaign, "name": "Main"})
    publish_template(app_database, api_project.project.id)
    viewer, editor = _browser(app), _browser(app)
    sign_in(viewer, make_user(app_database, api_project, "viewer").email)
    sign_in(editor, make_user(app_database, api_project, "editor").email)
    assert viewer.get("/bulk-sends/new").status_code == 403
    assert "New bulk invite" not in viewer.get("/bulk-sends").text
    page = editor.get("/bulk-sends/new")
    assert page.status_code == 200
    assert f'<option value="{campaign}">Winter</option>' in page.text
    assert "Main · 0 codes available" in page.text
    assert '<option value="capture" data-channels="email sms">' in page.text
    assert 'href="/bulk-sends/new"' in editor.get("/bulk-sends").text
