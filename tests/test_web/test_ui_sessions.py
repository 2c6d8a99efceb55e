"""Editor sessions over HTTP: revocation on sign-out, idle and absolute lifetimes, sign-in to
one of several projects. The app's clock is moved by the test, never patched."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from distribution.accounts.users import create_user, reset_password
from distribution.models import utcnow
from distribution.storage.db import Database
from tests.conftest import ProjectCredentials, make_project
from tests.test_web.ui_sign_in import PASSWORD, csrf_of, header_token, make_user, sign_in
from web.app import create_app
from web.settings import Settings

Client = TestClient[Litestar]


class Clock:
    """The time the app sees; tests move it forward."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def clocked_app(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, clock: Clock
) -> Litestar:
    """An app of its own whose sign-ins are timed by ``clock`` (12 h at most, 30 min idle)."""
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("sessions"),
        secret_key="test-secret-key",
        migrate_on_start=False,
        run_worker=False,
        session_max_age=12 * 3600,
        session_idle_timeout=30 * 60,
    )
    return create_app(settings, clock=clock)


def browser_of(app: Litestar) -> Client:
    return TestClient(app, base_url="http://127.0.0.1")


def signed_in(client: Client) -> bool:
    response = client.get("/customers", follow_redirects=False)
    assert response.status_code in (200, 303), response.text
    return response.status_code == 200


def test_a_copied_cookie_stops_working_after_sign_out(
    app: Litestar, app_database: Database, api_project: ProjectCredentials
) -> None:
    person = make_user(app_database, api_project, "editor")
    owner, thief = browser_of(app), browser_of(app)
    sign_in(owner, person.email)
    thief.cookies.set("dm_session", owner.cookies["dm_session"])
    assert signed_in(thief)
    out = owner.post("/logout", data={"csrf_token": header_token(owner)}, follow_redirects=False)
    assert out.status_code == 303
    assert not signed_in(thief)
    assert thief.get("/ui/api/customers").status_code == 401


def test_a_password_reset_ends_the_users_sessions(
    app: Litestar, app_database: Database, api_project: ProjectCredentials
) -> None:
    person = make_user(app_database, api_project, "viewer")
    browser = browser_of(app)
    sign_in(browser, person.email)
    assert signed_in(browser)
    with app_database.session() as session:
        reset_password(session, api_project.project.id, person.email)
    assert not signed_in(browser)


def test_use_renews_an_idle_session_and_idleness_ends_it(
    clocked_app: Litestar, clock: Clock, app_database: Database, api_project: ProjectCredentials
) -> None:
    browser = browser_of(clocked_app)
    sign_in(browser, make_user(app_database, api_project, "viewer").email)
    clock.advance(minutes=25)
    assert signed_in(browser)
    clock.advance(minutes=25)  # 50 minutes after sign-in, 25 after the last request
    assert signed_in(browser)
    clock.advance(minutes=31)
    assert not signed_in(browser)


def test_a_busy_session_ends_at_its_absolute_lifetime(
    clocked_app: Litestar, clock: Clock, app_database: Database, api_project: ProjectCredentials
) -> None:
    browser = browser_of(clocked_app)
    sign_in(browser, make_user(app_database, api_project, "viewer").email)
    started = clock.now
    while clock.now + timedelta(minutes=25) < started + timedelta(hours=12):
        clock.advance(minutes=25)
        assert signed_in(browser), clock.now - started
    # The last request renewed the idle timeout past the 12 hours; the lifetime still ends it.
    clock.now = started + timedelta(hours=12)
    assert not signed_in(browser)
    assert browser.get("/ui/api/customers").status_code == 401


def test_renewal_does_not_extend_past_the_lifetime(
    clocked_app: Litestar, clock: Clock, app_database: Database, api_project: ProjectCredentials
) -> None:
    browser = browser_of(clocked_app)
    sign_in(browser, make_user(app_database, api_project, "viewer").email)
    started = clock.now
    while clock.now + timedelta(minutes=29) < started + timedelta(hours=12):
        clock.advance(minutes=29)
        assert signed_in(browser)
    clock.now = started + timedelta(hours=11, minutes=59)
    assert signed_in(browser)  # renewed: idle until 12:29, but the lifetime ends at 12:00
    clock.now = started + timedelta(hours=12, seconds=1)
    assert not signed_in(browser)
    # Signing in again starts a new lifetime.
    sign_in(browser, make_user(app_database, api_project, "viewer").email)
    assert signed_in(browser)


def choose_form(html: str) -> dict[str, str]:
    """Project name -> the value of its radio button on the chooser."""
    return {
        name.strip(): value
        for value, name in re.findall(
            r'<input type="radio" name="account" value="([^"]+)"[^>]*>\s*([^<]+)</label>', html
        )
    }


def test_an_email_in_several_projects_picks_the_project(
    clocked_app: Litestar, clock: Clock, app_database: Database
) -> None:
    email = f"both-{secrets.token_hex(4)}@example.com"
    first = make_project(app_database, f"alpha-{secrets.token_hex(3)}")
    second = make_project(app_database, f"beta-{secrets.token_hex(3)}")
    other = make_project(app_database, f"gamma-{secrets.token_hex(3)}")
    with app_database.session() as session:
        create_user(session, first.project.id, email, "viewer", PASSWORD)
        create_user(session, second.project.id, email, "admin", PASSWORD)
        create_user(session, other.project.id, email, "editor", "another password")

    browser = browser_of(clocked_app)
    asked = sign_in(browser, email)
    assert asked.status_code == 200  # type: ignore[attr-defined]
    assert "exists in several projects" in asked.text  # type: ignore[attr-defined]
    choices = choose_form(asked.text)  # type: ignore[attr-defined]
    # Only the projects whose account accepts this password, in the order of their names.
    assert list(choices) == [first.project.name, second.project.name]
    assert not signed_in(browser)  # nothing is chosen for the person

    picked = browser.post(
        "/login/project",
        data={"account": choices[second.project.name], "csrf_token": csrf_of(asked.text)},  # type: ignore[attr-defined]
        follow_redirects=False,
    )
    assert picked.status_code == 303
    assert picked.headers["location"] == "/customers"
    assert browser.get("/users").status_code == 200  # the admin account of the second project
    assert f'title="{second.project.name}"' in browser.get("/customers").text

    # The other password opens the one project whose account has it, without a question.
    direct = browser_of(clocked_app)
    assert sign_in(direct, email, "another password").status_code == 303  # type: ignore[attr-defined]
    assert f'title="{other.project.name}"' in direct.get("/customers").text

    # An account that was not offered, or a choice made too late, signs no one in.
    late = browser_of(clocked_app)
    page = sign_in(late, email).text  # type: ignore[attr-defined]
    forged = late.post(
        "/login/project",
        data={"account": "user_not_offered", "csrf_token": csrf_of(page)},
        follow_redirects=False,
    )
    assert forged.status_code == 401
    clock.advance(minutes=6)
    expired = late.post(
        "/login/project",
        data={"account": choose_form(page)[first.project.name], "csrf_token": csrf_of(page)},
        follow_redirects=False,
    )
    assert expired.status_code == 401
    assert "expired" in expired.text
    assert not signed_in(late)


def test_session_lifetimes_come_from_the_environment(tmp_path: Path) -> None:
    env = {"DM_DATA_DIR": str(tmp_path), "DM_SECRET_KEY": "k"}
    default = Settings.from_env(env)
    assert (default.session_max_age, default.session_idle_timeout) == (43200, 7200)
    chosen = Settings.from_env(
        {**env, "DM_SESSION_MAX_AGE": "3600", "DM_SESSION_IDLE_TIMEOUT": "600"}
    )
    assert (chosen.session_max_age, chosen.session_idle_timeout) == (3600, 600)
    with pytest.raises(ValueError, match="DM_SESSION_MAX_AGE"):
        Settings.from_env({**env, "DM_SESSION_MAX_AGE": "0"})
