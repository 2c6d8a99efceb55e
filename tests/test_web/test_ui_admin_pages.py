"""The providers and settings pages on the server side: who gets which page, with which
buttons, and a provider of another project (or none) is a 404, not a page."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from distribution.storage.db import Database
from distribution.webhooks.subscriptions import EVENT_TYPES
from tests.conftest import ProjectCredentials, make_project
from tests.test_web.ui_sign_in import make_user, sign_in

Client = TestClient[Litestar]


def _ui(app: Litestar, database: Database, project: ProjectCredentials, role: str) -> Client:
    client = TestClient(app, base_url="http://127.0.0.1")
    person = make_user(database, project, role)
    assert sign_in(client, person.email).status_code == 303  # type: ignore[attr-defined]
    return client


def _provider(client: Client, name: str) -> None:
    config = {"host": "127.0.0.1", "port": 2525, "security": "none", "from_email": "a@example.com"}
    answer = client.post("/v1/providers", json={"name": name, "kind": "smtp", "config": config})
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize("role", ["viewer", "editor", "admin"])
def test_everyone_reads_providers_and_only_admins_get_the_buttons(
    role: str,
    app: Litestar,
    app_database: Database,
    api_project: ProjectCredentials,
    client: Client,
) -> None:
    _provider(client, "relay")
    ui = _ui(app, app_database, api_project, role)
    listing = ui.get("/providers")
    assert listing.status_code == 200
    assert ('href="/providers/new"' in listing.text) == (role == "admin")
    assert f'data-can-change="{"true" if role == "admin" else "false"}"' in listing.text
    detail = ui.get("/providers/relay")
    assert detail.status_code == 200
    assert "<h1>relay</h1>" in detail.text
    assert ('data-action="check"' in detail.text) == (role == "admin")
    assert ui.get("/providers/new").status_code == (200 if role == "admin" else 403)
    assert ui.get("/settings").status_code == (200 if role == "admin" else 403)


def test_a_provider_of_another_project_is_not_found(
    app: Litestar, app_database: Database, api_project: ProjectCredentials, client: Client
) -> None:
    _provider(client, "theirs")
    other = make_project(app_database)
    ui = _ui(app, app_database, other, "admin")
    assert ui.get("/providers/theirs").status_code == 404
    assert ui.get("/providers/nothing-here").status_code == 404


def test_settings_offers_every_event_type_to_subscribe_to(
    app: Litestar, app_database: Database, api_project: ProjectCredentials
) -> None:
    page = _ui(app, app_database, api_project, "admin").get("/settings")
    assert page.status_code == 200
    for event_type in (*EVENT_TYPES, "*"):
        assert f'name="event_types" value="{event_type}"' in page.text
    assert '<script src="/ui/static/settings.js" defer>' in page.text
