"""The editor's pages and UI API on the server side: sign-in, CSRF, rate limit, roles, headers."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from distribution.accounts.users import authenticate_user
from distribution.storage.db import Database
from distribution.template_store import create_template
from tests.conftest import ProjectCredentials
from tests.test_web.ui_sign_in import PASSWORD, csrf_of, header_token, make_user, sign_in
from web.cli import _dev_admin
from web.cli import main as dm
from web.settings import Settings
from web.ui.session import LoginRateLimiter, RoleGuard, session_config


@pytest.fixture
def browser(app: Litestar) -> TestClient[Litestar]:
    """A client with its own cookie jar (no lifespan: the app is shared by the session)."""
    return TestClient(app, base_url="http://127.0.0.1")


@pytest.fixture
def template_id(app_database: Database, api_project: ProjectCredentials) -> str:
    with app_database.session() as session:
        saved = create_template(
            session, api_project.project.id, name="Welcome", channel="email", category="marketing"
        )
    return saved.version.template_id


def test_login_page_has_csp_and_csrf(browser: TestClient[Litestar]) -> None:
    response = browser.get("/login")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert csrf_of(response.text)
    assert "<script>" not in response.text  # only external scripts: CSP allows no inline ones


def test_sign_in_sets_a_protected_session_cookie(
    browser: TestClient[Litestar], app_database: Database, api_project: ProjectCredentials
) -> None:
    person = make_user(app_database, api_project, "editor")
    response = sign_in(browser, person.email.upper())  # emails compare lower-cased
    assert response.status_code == 303  # type: ignore[attr-defined]
    assert response.headers["location"] == "/customers"  # type: ignore[attr-defined]
    cookie = response.headers["set-cookie"]  # type: ignore[attr-defined]
    assert cookie.startswith("dm_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # served over http in this test
    page = browser.get("/customers")
    assert page.status_code == 200
    assert person.email in page.text


def test_session_cookie_is_secure_behind_https(tmp_path: Path) -> None:
    def settings(url: str) -> Settings:
        return Settings(database_url="sqlite://", data_dir=tmp_path, secret_key="k", public_url=url)

    assert session_config(settings("https://dm.example.com")).secure is True
    assert session_config(settings("http://127.0.0.1:8000")).secure is False
    assert (
        session_config(settings("https://a")).secret
        != session_config(
            Settings(database_url="sqlite://", data_dir=tmp_path, secret_key="other")
        ).secret
    )


def test_wrong_password_is_refused_without_a_session(
    browser: TestClient[Litestar], app_database: Database, api_project: ProjectCredentials
) -> None:
    person = make_user(app_database, api_project, "viewer")
    response = sign_in(browser, person.email, "not the password")
    assert response.status_code == 401  # type: ignore[attr-defined]
    assert "Wrong email or password" in response.text  # type: ignore[attr-defined]
    unknown = sign_in(browser, "nobody@example.com")
    assert unknown.status_code == 401  # type: ignore[attr-defined]
    assert browser.get("/customers", follow_redirects=False).status_code == 303


def test_login_attempts_are_rate_limited(
    browser: TestClient[Litestar], app_database: Database, api_project: ProjectCredentials
) -> None:
    person = make_user(app_database, api_project, "viewer")
    for _ in range(5):
        assert sign_in(browser, person.email, "wrong password!").status_code == 401  # type: ignore[attr-defined]
    blocked = sign_in(browser, person.email)  # even the right password waits now
    assert blocked.status_code == 429  # type: ignore[attr-defined]
    assert int(blocked.headers["retry-after"]) > 0  # type: ignore[attr-defined]
    assert "Too many attempts" in blocked.text  # type: ignore[attr-defined]
    # Another email from the same address is not blocked.
    other = make_user(app_database, api_project, "viewer")
    assert sign_in(browser, other.email).status_code == 303  # type: ignore[attr-defined]


def test_rate_limiter_window_and_reset() -> None:
    limiter = LoginRateLimiter(limit=2, window=60)
    limiter.failed("a@example.com", "1.2.3.4")
    assert limiter.retry_after("a@example.com", "1.2.3.4") == 0
    limiter.failed("A@example.com", "1.2.3.4")
    assert limiter.retry_after("a@example.com", "1.2.3.4") > 0
    assert limiter.retry_after("a@example.com", "5.6.7.8") == 0
    limiter.succeeded("a@example.com", "1.2.3.4")
    assert limiter.retry_after("a@example.com", "1.2.3.4") == 0
    expired = LoginRateLimiter(limit=1, window=0.0)
    expired.failed("b@example.com", "ip")
    assert expired.retry_after("b@example.com", "ip") == 0


def test_csrf_is_required_on_forms_and_json(
    browser: TestClient[Litestar], app_database: Database, api_project: ProjectCredentials
) -> None:
    person = make_user(app_database, api_project, "editor")
    browser.get("/login")
    no_token = browser.post(
        "/login", data={"email": person.email, "password": PASSWORD}, follow_redirects=False
    )
    assert no_token.status_code == 403
    assert "form expired" in no_token.text
    assert sign_in(browser, person.email).status_code == 303  # type: ignore[attr-defined]
    body = {"channel": "sms", "body": "Hi"}
    refused = browser.post("/ui/api/preview", json=body)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    wrong = browser.post("/ui/api/preview", json=body, headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    ok = browser.post("/ui/api/preview", json=body, headers={"X-CSRF-Token": header_token(browser)})
    assert ok.status_code == 200
    assert ok.json()["sms"]["segments"] == 1


def test_sign_out_ends_the_session(
    browser: TestClient[Litestar], app_database: Database, api_project: ProjectCredentials
) -> None:
    person = make_user(app_database, api_project, "viewer")
    sign_in(browser, person.email)
    token = header_token(browser)
    out = browser.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert browser.get("/customers", follow_redirects=False).status_code == 303


def test_pages_need_sign_in(browser: TestClient[Litestar]) -> None:
    response = browser.get("/templates/?q=x", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
    assert browser.get("/ui/api/customers").status_code == 401
    assert browser.get("/login?next=//evil.example").status_code == 200


@pytest.mark.parametrize("role", ["viewer", "editor", "admin"])
def test_pages_render_for_each_role(
    role: str,
    browser: TestClient[Litestar],
    app_database: Database,
    api_project: ProjectCredentials,
    template_id: str,
) -> None:
    person = make_user(app_database, api_project, role)
    sign_in(browser, person.email)
    listing = browser.get("/templates/?q=Wel&channel=email&status=draft")
    assert listing.status_code == 200
    assert "Welcome" in listing.text
    assert listing.headers["content-security-policy"]
    detail = browser.get(f"/templates/{template_id}")
    assert detail.status_code == 200
    editor_link = re.search(r'href="(/templates/[^"]+/variants/[^"]+)"', detail.text)
    assert editor_link
    editor = browser.get(editor_link.group(1))
    assert editor.status_code == 200
    assert 'sandbox=""' in editor.text
    assert ('id="save-btn"' in editor.text) == (role != "viewer")
    assert browser.get("/customers?q=ada").status_code == 200
    assert browser.get("/segments").status_code == 200
    users = browser.get("/users")
    assert users.status_code == (200 if role == "admin" else 403)
    assert ('href="/users"' in listing.text) == (role == "admin")


def test_viewer_cannot_save_but_editor_can(
    app: Litestar, app_database: Database, api_project: ProjectCredentials, template_id: str
) -> None:
    editor_page = None
    for role, expected in (("viewer", 403), ("editor", 201)):
        client = TestClient(app, base_url="http://127.0.0.1")
        sign_in(client, make_user(app_database, api_project, role).email)
        editor_page = client.get(f"/templates/{template_id}").text
        link = re.search(r'href="/templates/([^/"]+)/variants/([^"]+)"', editor_page)
        assert link
        token = header_token(client)
        # The editor saves through the public API (the /ui/v1 gateway), the variant by its key.
        assert link.group(1) == template_id
        saved = client.post(
            f"/ui/v1/templates/{template_id}/versions",
            json={
                "subject": "Hi",
                "body": "<p>{{ links.unsubscribe_url }}</p>",
                "body_format": "html",
            },
            headers={"X-CSRF-Token": token},
        )
        assert saved.status_code == expected, saved.text
        if role == "editor":
            version = saved.json()["version"]
            assert version["created_by"].startswith("editor-")
            assert version["status"] == "draft"
            published = client.post(
                f"/ui/v1/templates/{template_id}/publish",
                json={"version_id": version["id"]},
                headers={"X-CSRF-Token": token},
            )
            assert published.status_code == 200, published.text
            assert published.json()["status"] == "live"


#: What each role may not do: editors' and admins' routes, everything else is for viewers too.
ROLE_ROUTES = {
    ("POST", "/ui/api/test-send"): "editor",
    ("POST", "/ui/api/bulk-sends/{job_id:str}/{action:str}"): "editor",
    ("GET", "/bulk-sends/new"): "editor",
    ("GET", "/users"): "admin",
    ("POST", "/users"): "admin",
    ("POST", "/users/{user_id:str}"): "admin",
    ("GET", "/settings"): "admin",
    ("GET", "/providers/new"): "admin",
}


def test_roles_are_route_guards(app: Litestar) -> None:
    guarded = {
        (method, route.path): guard.needed
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for method, (handler, _model) in route.route_handler_map.items()
        for guard in handler.resolve_guards()
        if isinstance(guard, RoleGuard)
    }
    assert guarded == ROLE_ROUTES


@pytest.mark.parametrize(("method", "path"), sorted(ROLE_ROUTES))
def test_a_viewer_is_refused_before_the_request_is_read(
    method: str,
    path: str,
    browser: TestClient[Litestar],
    app_database: Database,
    api_project: ProjectCredentials,
) -> None:
    sign_in(browser, make_user(app_database, api_project, "viewer").email)
    url = re.sub(r"\{(\w+):str\}", lambda found: found.group(1), path)
    answer = browser.request(
        method,
        url,
        content=b"{not json",
        headers={"X-CSRF-Token": header_token(browser), "Content-Type": "application/json"},
    )
    assert answer.status_code == 403, answer.text
    assert "needs the " + ROLE_ROUTES[(method, path)] + " role" in answer.text


def test_preview_reports_errors_and_refuses_bad_input(
    browser: TestClient[Litestar], app_database: Database, api_project: ProjectCredentials
) -> None:
    sign_in(browser, make_user(app_database, api_project, "viewer").email)
    headers = {"X-CSRF-Token": header_token(browser)}
    broken = browser.post(
        "/ui/api/preview",
        json={
            "channel": "email",
            "subject": "Hi",
            "body": "<p>ok</p>\n{% if %}",
            "body_format": "html",
        },
        headers=headers,
    )
    assert broken.status_code == 200
    [error] = broken.json()["errors"]
    assert error["line"] == 2
    assert error["part"] == "body"
    fine = browser.post(
        "/ui/api/preview",
        json={
            "channel": "email",
            "subject": "Hi {{ customer.first_name }}",
            "body": "<p>{{ event.data.nickname }}</p>",
            "body_format": "html",
            "context": {"customer": {"first_name": "Ana"}},
        },
        headers=headers,
    )
    assert fine.json()["subject"] == "Hi Ana"
    assert fine.json()["missing"] == ["event.data.nickname"]
    for bad in ({"channel": "fax", "body": "x"}, {"channel": "email"}, ["not", "an", "object"]):
        answer = browser.post("/ui/api/preview", json=bad, headers=headers)
        assert answer.status_code in (400, 422), answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "source",
    [
        {
            "channel": "email",
            "subject": "Hi {{ customer.first_name }}",
            "body": "<p>{{ customer.first_name }}</p>",
            "body_format": "html",
        },
        {"channel": "sms", "body": "Hi {{ customer.first_name }} \u2764"},
        {"channel": "sms", "body": "{% if %}"},
    ],
    ids=["email", "sms", "broken"],
)
def test_editor_and_api_previews_answer_alike(
    source: dict[str, str],
    browser: TestClient[Litestar],
    client: TestClient[Litestar],
    app_database: Database,
    api_project: ProjectCredentials,
) -> None:
    sample = {"customer": {"first_name": "Ana"}}
    api = client.post("/v1/templates/preview", json={**source, "sample": sample})
    sign_in(browser, make_user(app_database, api_project, "viewer").email)
    editor = browser.post(
        "/ui/api/preview",
        json={**source, "context": sample},
        headers={"X-CSRF-Token": header_token(browser)},
    )
    assert api.status_code == editor.status_code == 200
    assert editor.json() == api.json()


def test_admin_adds_a_user_who_can_sign_in(
    app: Litestar, app_database: Database, api_project: ProjectCredentials
) -> None:
    admin = TestClient(app, base_url="http://127.0.0.1")
    sign_in(admin, make_user(app_database, api_project, "admin").email)
    token = header_token(admin)
    email = f"new-{secrets.token_hex(3)}@example.com"
    added = admin.post("/users", data={"email": email, "role": "editor", "csrf_token": token})
    assert added.status_code == 200
    password = re.search(r'<code id="new-password">([^<]+)</code>', added.text)
    assert password
    newcomer = TestClient(app, base_url="http://127.0.0.1")
    assert sign_in(newcomer, email, password.group(1)).status_code == 303  # type: ignore[attr-defined]
    user_id = re.search(
        r'action="/users/([^"]+)"[^>]*>\s*<input[^>]+>\s*<label[^>]*>Role of ' + re.escape(email),
        added.text,
    )
    assert user_id
    disabled = admin.post(
        f"/users/{user_id.group(1)}",
        data={"disabled": "1", "csrf_token": token},
        follow_redirects=False,
    )
    assert disabled.status_code == 303
    # The open session ends at once: the user row is read on every request.
    assert newcomer.get("/customers", follow_redirects=False).status_code == 303


def test_dm_users_create_prints_a_generated_password(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    api_project: ProjectCredentials,
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DM_DATA_DIR", str(tmp_path))
    email = f"cli-{secrets.token_hex(3)}@example.com"
    assert (
        dm(["users", "create", email, "--project", api_project.project.name, "--role", "admin"])
        == 0
    )
    out = capsys.readouterr().out
    assert f"created admin {email}" in out
    assert re.search(r"password: \S{16,}", out)
    assert dm(["users", "create", email, "--project", api_project.project.name]) == 1


def test_dev_admin_keeps_its_password_in_the_data_dir(
    app_database: Database, tmp_path: Path, api_project: ProjectCredentials
) -> None:
    settings = Settings(database_url=app_database.url, data_dir=tmp_path, secret_key="k")
    first = _dev_admin(settings, app_database, api_project.project.name)
    assert _dev_admin(settings, app_database, api_project.project.name) == first
    assert json.loads((tmp_path / "dev-admin.json").read_text())["password"] == first
    (tmp_path / "dev-admin.json").unlink()  # lost: the admin gets a new password that works
    second = _dev_admin(settings, app_database, api_project.project.name)
    assert second != first
    with app_database.session() as session:
        assert authenticate_user(session, "admin@example.com", second).role == "admin"


def test_sample_customer_resolution_and_capture_test_send(
    app: Litestar,
    client: TestClient[Litestar],
    app_database: Database,
    api_project: ProjectCredentials,
    template_id: str,
) -> None:
    created = client.post(
        "/v1/customers",
        json={"source_id": "ui-1", "name": "Ada Lovelace", "email": "ada@example.com"},
    )
    assert created.status_code in (200, 201), created.text
    editor = TestClient(app, base_url="http://127.0.0.1")
    sign_in(editor, make_user(app_database, api_project, "editor").email)
    headers = {"X-CSRF-Token": header_token(editor)}
    [found] = editor.get("/ui/api/customers?q=lovelace").json()
    context = editor.get(f"/ui/api/customers/{found['id']}/context").json()
    assert context["customer"]["first_name"] == "Ada"
    assert context["code"]["code"]  # the rest stays sample data
    # Nothing is live yet, so no variant would be chosen; the answer says why.
    resolved = editor.post(
        f"/ui/api/templates/{template_id}/resolve", json={"locale": "pt-BR"}, headers=headers
    )
    assert resolved.status_code == 200
    assert resolved.json()["variant_id"] is None
    sent = editor.post(
        "/ui/api/test-send",
        json={
            "channel": "email",
            "to": "ada@example.com",
            "provider": "capture",
            "subject": "Hi {{ customer.first_name }}",
            "body": "<p>Code {{ code.code }}</p>",
            "body_format": "html",
            "context": context,
        },
        headers=headers,
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "sent"
    assert sent.json()["provider_status"] is None  # capture has no word of its own
    captured = app.state.providers.captured(api_project.project.id).messages
    assert captured[-1].message.subject == "Hi Ada"
    assert captured[-1].message.to == "ada@example.com"
    bad = editor.post(
        "/ui/api/test-send",
        json={"channel": "sms", "to": "not a phone", "body": "x", "provider": "capture"},
        headers=headers,
    )
    assert bad.status_code == 422
    viewer = TestClient(app, base_url="http://127.0.0.1")
    sign_in(viewer, make_user(app_database, api_project, "viewer").email)
    refused = viewer.post(
        "/ui/api/test-send",
        json={"channel": "sms", "to": "+14155552671", "body": "x"},
        headers={"X-CSRF-Token": header_token(viewer)},
    )
    assert refused.status_code == 403
