"""``/ui/v1``: the public API for the signed-in browser (session, CSRF token, roles)."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from distribution.storage.db import Database
from tests.conftest import ProjectCredentials
from tests.test_web.ui_sign_in import header_token, make_user, sign_in
from web.ui.gateway import needed_role


@pytest.fixture
def browser(app: Litestar) -> TestClient[Litestar]:
    """A client with its own cookie jar (no lifespan: the app is shared by the session)."""
    return TestClient(app, base_url="http://127.0.0.1")


def _signed_in(
    browser: TestClient[Litestar], database: Database, project: ProjectCredentials, role: str
) -> dict[str, str]:
    """Sign in a new user of ``role``; the header a page's script sends with unsafe calls."""
    person = make_user(database, project, role)
    assert sign_in(browser, person.email).status_code == 303  # type: ignore[attr-defined]
    return {"X-CSRF-Token": header_token(browser)}


def test_without_a_session_the_gateway_answers_401_problem(browser: TestClient[Litestar]) -> None:
    answer = browser.get("/ui/v1/customers")
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
    # API keys do not open the gateway: it is the session's door only.
    assert browser.get("/ui/v1/customers", headers={"X-App-Id": "x"}).status_code == 401


def test_an_editor_works_through_the_same_api_as_a_key(
    browser: TestClient[Litestar],
    client: TestClient[Litestar],
    app_database: Database,
    api_project: ProjectCredentials,
) -> None:
    csrf = _signed_in(browser, app_database, api_project, "editor")
    body = {"source_id": "gw-1", "name": "Ada Lovelace", "email": "ada@example.com"}
    forged = browser.post("/ui/v1/customers", json=body, headers={"X-CSRF-Token": "forged"})
    assert forged.status_code == 403
    created = browser.post("/ui/v1/customers", json=body, headers=csrf)
    assert created.status_code == 200, created.text  # an upsert, as Voucherify's
    # The same customer, in the same project, seen through the key-authenticated API.
    seen = client.get(f"/v1/customers/{created.json()['id']}")
    assert seen.status_code == 200
    assert seen.json()["source_id"] == "gw-1"
    # Bad input gets the API's own problem details.
    bad = browser.post("/ui/v1/customers", json={"email": "not an address"}, headers=csrf)
    assert bad.status_code == 422
    assert bad.json()["errors"]


def test_a_viewer_reads_and_changes_nothing(
    browser: TestClient[Litestar], app_database: Database, api_project: ProjectCredentials
) -> None:
    csrf = _signed_in(browser, app_database, api_project, "viewer")
    assert browser.get("/ui/v1/customers").status_code == 200
    refused = browser.post("/ui/v1/customers", json={"source_id": "v-1"}, headers=csrf)
    assert refused.status_code == 403
    assert "editor role" in refused.json()["detail"]


def test_only_admins_change_providers_and_keys(
    browser: TestClient[Litestar], app_database: Database, api_project: ProjectCredentials
) -> None:
    csrf = _signed_in(browser, app_database, api_project, "editor")
    provider = {"name": "cap", "kind": "capture", "config": {}}
    assert browser.post("/ui/v1/providers", json=provider, headers=csrf).status_code == 403
    assert browser.get("/ui/v1/providers").status_code == 200  # reading is allowed
    admin = TestClient(browser.app, base_url="http://127.0.0.1")
    admin_csrf = _signed_in(admin, app_database, api_project, "admin")
    created = admin.post("/ui/v1/providers", json=provider, headers=admin_csrf)
    assert created.status_code == 201, created.text


def test_the_role_rule() -> None:
    assert needed_role("GET", "/v1/providers") == "viewer"
    assert needed_role("POST", "/v1/templates") == "editor"
    assert needed_role("DELETE", "/v1/api-keys/key_1") == "admin"
    assert needed_role("POST", "/v1/settings/inbound-webhook-secret") == "admin"
    assert needed_role("POST", "/v1/providersx") == "editor"  # a prefix, not a substring


def test_the_gateway_is_not_in_the_api_document(client: TestClient[Litestar]) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    assert "/v1/customers" in paths
    assert not [p for p in paths if p.startswith("/ui/")]
