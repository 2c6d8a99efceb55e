"""End-to-end fixtures: the real app under uvicorn on 127.0.0.1, a SQLite temp database, and
Debian's Chromium driven by Playwright. A missing browser fails the run, it never skips."""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from litestar import Litestar
from litestar.routes import HTTPRoute
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from distribution.accounts.projects import create_api_key, create_project
from distribution.accounts.users import create_user
from distribution.provider_configs.store import create_provider
from distribution.storage.db import Database
from distribution.storage.secrets import SecretBox
from distribution.template_store import VersionInput, create_template
from providers.address_guard import AddressGuard
from web.app import create_app
from web.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
PASSWORD = "browser test password"
SECRET = "browser-test-secret"


@dataclass(frozen=True)
class Site:
    """The running service and what the tests seeded into it."""

    url: str
    database: Database
    project_id: str
    editor_email: str
    smtp_port: int
    inbox: list[EmailMessage]
    #: The path of every page the app serves (``/customers/{customer_id:str}``...).
    page_routes: frozenset[str]


#: GET routes that are not pages: the APIs, static files, the API document, probes, QR images.
_NOT_PAGES = ("/v1", "/ui/", "/schema", "/health", "/metrics", "/links/")


def _page_routes(app: Litestar) -> frozenset[str]:
    return frozenset(
        route.path
        for route in app.routes
        if isinstance(route, HTTPRoute)
        and "GET" in route.methods
        and not route.path.startswith(_NOT_PAGES)
    )


class Inbox:
    """aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium package "
            "(apt-get install chromium); they do not skip.",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


@pytest.fixture(scope="session")
def site(
    tmp_path_factory: pytest.TempPathFactory, smtp_server: tuple[int, Inbox]
) -> Iterator[Site]:
    data_dir = tmp_path_factory.mktemp("browser-data")
    port = _free_port()
    settings = Settings(
        database_url=f"sqlite:///{data_dir / 'dm.sqlite3'}",
        data_dir=data_dir,
        secret_key=SECRET,
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        allow_private_networks=True,  # the SMTP server is on 127.0.0.1
    )
    app = create_app(settings)
    database: Database = app.state.database
    smtp_port, inbox = smtp_server
    with database.session() as session:
        project = create_project(session, f"browser-{secrets.token_hex(3)}")
        editor = create_user(session, project.id, "editor@example.com", "admin", PASSWORD)
        create_provider(
            session,
            project.id,
            SecretBox(SECRET),
            name="local-smtp",
            guard=AddressGuard(allow_private=True),
            kind="smtp",
            config={
                "host": "127.0.0.1",
                "port": smtp_port,
                "security": "none",
                "from_email": "shop@example.com",
            },
        )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the app did not start under uvicorn")
        time.sleep(0.05)
    yield Site(
        f"http://127.0.0.1:{port}",
        database,
        project.id,
        editor.user.email,
        smtp_port,
        inbox.messages,
        _page_routes(app),
    )
    server.should_exit = True
    thread.join(timeout=10)


# Module scope: Playwright's sync API keeps an event loop running while it is open, which would
# break the asyncio tests that run after this module.
@pytest.fixture(scope="module")
def browser(chromium_path: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


def signed_in_context(browser: Browser, site: Site, email: str) -> BrowserContext:
    """A browser context (1440 px wide) whose session cookie belongs to ``email``."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    sign_in(page, site, email)
    page.close()
    return context


@pytest.fixture(scope="module")
def signed_in(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    """A browser context whose session cookie belongs to the seeded editor (an admin)."""
    context = signed_in_context(browser, site, site.editor_email)
    yield context
    context.close()


@pytest.fixture(scope="module")
def viewer(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    """A browser signed in as a viewer of the seeded project."""
    email = f"viewer-{secrets.token_hex(3)}@example.com"
    with site.database.session() as session:
        create_user(session, site.project_id, email, "viewer", PASSWORD)
    context = signed_in_context(browser, site, email)
    yield context
    context.close()


@pytest.fixture(scope="module")
def empty_admin(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    """A browser signed in as the admin of a project with nothing in it yet."""
    email = f"empty-{secrets.token_hex(3)}@example.com"
    with site.database.session() as session:
        project = create_project(session, f"empty-{secrets.token_hex(3)}")
        create_user(session, project.id, email, "admin", PASSWORD)
    context = signed_in_context(browser, site, email)
    yield context
    context.close()


@dataclass
class Console:
    """What the page said on its console and which errors it raised."""

    messages: list[str]
    errors: list[str]


@pytest.fixture
def page(signed_in: BrowserContext) -> Iterator[tuple[Page, Console]]:
    page = signed_in.new_page()
    console = Console([], [])
    page.on("console", lambda message: console.messages.append(message.text))
    page.on("pageerror", lambda error: console.errors.append(str(error)))
    yield page, console
    page.close()


#: How long a browser test waits for something to appear: generous, the machine is shared and
#: the worker polls; these are waits, not timing checks.
WAIT_MS = 30_000


@contextmanager
def api_client(site: Site, project_id: str | None = None) -> Iterator[httpx.Client]:
    """An API client with a new key of the project (the site's own by default)."""
    with site.database.session() as session:
        key = create_api_key(
            session, project_id or site.project_id, name=f"browser-{secrets.token_hex(3)}"
        )
        headers = {"X-App-Id": key.key.app_id, "X-App-Token": key.token}
    with httpx.Client(base_url=site.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
def api(site: Site) -> Iterator[httpx.Client]:
    """An API client with a key of the site's project, to set up and read back what the UI did."""
    with api_client(site) as client:
        yield client


def ok(response: httpx.Response) -> Any:
    """The JSON of a successful API answer (else the test fails with the answer's text)."""
    assert response.status_code < 300, response.text
    return response.json()


def sign_in(tab: Page, site: Site, email: str) -> None:
    """Sign ``email`` in (with the tests' password) through the sign-in form; lands on Home."""
    tab.goto(site.url + "/login")
    tab.get_by_label("Email").fill(email)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(site.url + "/")


def new_template(
    site: Site, name: str, channel: str, body: str, subject: str | None = None
) -> tuple[str, str]:
    """A template with a first draft; returns its id and the default variant's id."""
    with site.database.session() as session:
        saved = create_template(
            session,
            site.project_id,
            name=name,
            channel=channel,
            category="transactional",
            first_version=VersionInput(
                body=body, subject=subject, body_format="mjml" if channel == "email" else None
            ),
            actor="seed@example.com",
        )
    return saved.version.template_id, saved.variant.id


def write_artifact(name: str, payload: Any) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.write_text(json.dumps(payload, indent=2) if not isinstance(payload, str) else payload)
    return path


__all__ = [
    "ARTIFACTS",
    "WAIT_MS",
    "Console",
    "Site",
    "new_template",
    "ok",
    "sign_in",
    "write_artifact",
]
