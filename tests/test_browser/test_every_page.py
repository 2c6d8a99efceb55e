"""Every page the app serves, found from its routes: axe-core finds no serious or critical
violation at 1440 and 390 px and nothing scrolls sideways at 1024 or 390 px, as an admin, as a
viewer and in an empty project. A page added without a place here fails the first test.

The README's tour screenshots are taken here, of a small shop set up through the API: set
``DM_TOUR_DIR=docs/tour`` to write them there (``make screenshots``); otherwise they go to a
temporary directory and are only checked to be pictures.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from distribution.accounts.projects import create_project
from distribution.accounts.users import create_user
from tests.test_browser.accessibility import assert_accessible, assert_fits
from tests.test_browser.conftest import (
    PASSWORD,
    WAIT_MS,
    Site,
    api_client,
    ok,
    signed_in_context,
)

pytestmark = pytest.mark.browser

REFERRAL_EMAIL = "\n".join(
    [
        '<mjml><mj-body background-color="#f4f4f7"><mj-section background-color="#ffffff">',
        "<mj-column>",
        '<mj-text font-size="22px" font-weight="700">',
        "{{ customer.first_name }}, give your friends 20% off</mj-text>",
        "<mj-text>Share your code <strong>{{ code.code }}</strong>: your friends get 20% off",
        "their first order, and you get $15 when they buy.</mj-text>",
        '<mj-button background-color="#1f6feb" href="{{ code.referral_link }}">',
        "Share your link</mj-button>",
        '<mj-text font-size="12px" color="#555555">',
        '<a href="{{ links.unsubscribe_url }}">Unsubscribe</a></mj-text>',
        "</mj-column></mj-section></mj-body></mjml>",
    ]
)
PEOPLE = [
    ("ada", "Ada Lovelace", "vip"),
    ("grace", "Grace Hopper", "vip"),
    ("alan", "Alan Turing", "regular"),
    ("katherine", "Katherine Johnson", "vip"),
    ("edsger", "Edsger Dijkstra", "regular"),
]


@dataclass(frozen=True)
class Shop:
    """A project set up as a marketer would, and the ids its pages are reached by."""

    project_id: str
    admin: str
    viewer: str
    ids: dict[str, str]


@pytest.fixture(scope="module")
def shop(site: Site) -> Shop:
    tag = secrets.token_hex(3)
    admin, viewer = f"owner-{tag}@example.com", f"analyst-{tag}@example.com"
    with site.database.session() as session:
        project = create_project(session, f"Acme Shoes {tag}")
        create_user(session, project.id, admin, "admin", PASSWORD)
        create_user(session, project.id, viewer, "viewer", PASSWORD)
    with api_client(site, project.id) as api:
        ids = _set_up(site, api)
    return Shop(project.id, admin, viewer, ids)


def _set_up(site: Site, api: httpx.Client) -> dict[str, str]:
    ok(
        api.post(
            "/v1/providers",
            json={
                "name": "shop-mail",
                "kind": "smtp",
                "config": {
                    "host": "127.0.0.1",
                    "port": site.smtp_port,
                    "security": "none",
                    "from_email": "hello@acme.example",
                    "from_name": "Acme Shoes",
                },
                "rate_per_second": 20,
            },
        )
    )
    campaign = ok(
        api.post(
            "/v1/campaigns",
            json={
                "name": "Spring referral",
                "referral_url_template": "https://acme.example/r/{code}",
            },
        )
    )["id"]
    pool = ok(
        api.post(
            "/v1/code-pools",
            json={"campaign": campaign, "name": "Main pool", "low_stock_threshold": 50},
        )
    )["id"]
    ok(
        api.post(
            f"/v1/code-pools/{pool}/codes/generate", json={"count": 120, "pattern": "ACME-####"}
        )
    )
    customers = [
        ok(
            api.post(
                "/v1/customers",
                json={
                    "source_id": who,
                    "name": name,
                    "email": f"{who}@example.com",
                    "metadata": {"tier": tier},
                },
            )
        )["id"]
        for who, name, tier in PEOPLE
    ]
    segment = ok(
        api.post(
            "/v1/segments",
            json={
                "name": "VIP customers",
                "filter": {"field": "metadata.tier", "op": "eq", "value": "vip"},
            },
        )
    )["id"]
    template = ok(
        api.post(
            "/v1/templates",
            json={
                "name": "Referral invite",
                "channel": "email",
                "category": "marketing",
                "body_format": "mjml",
                "subject": "{{ customer.first_name }}, give 20% and get $15",
                "body": REFERRAL_EMAIL,
            },
        )
    )
    variant = template["variants"][0]
    version = variant["latest_draft"]["id"]
    ok(api.post(f"/v1/templates/{template['id']}/publish", json={"version_id": version}))
    channels = [{"channel": "email", "template": template["id"], "provider": "shop-mail"}]
    distribution = ok(
        api.post(
            "/v1/distributions",
            json={
                "name": "Send the referral code",
                "trigger": "code.assigned",
                "channels": channels,
            },
        )
    )["id"]
    ok(api.post(f"/v1/code-pools/{pool}/assign", json={"customer": "ada"}))
    job = ok(
        api.post(
            "/v1/bulk-sends",
            json={
                "campaign": campaign,
                "pool": pool,
                "audience": {"segment": segment},
                "channels": channels,
                "send_delay_seconds": 0,
            },
        )
    )["id"]
    message = _wait_for_message(api, customers[0])
    html = ok(api.get(f"/v1/messages/{message}"))["content"]["html"]
    unsubscribe = re.search(r'href="[^"]*(/u/[^"]+)"', html)
    assert unsubscribe, html
    return {
        "campaign_id": campaign,
        "customer_id": customers[0],
        "segment_id": segment,
        "template_id": template["id"],
        "variant_id": variant["id"],
        "version_id": version,
        "distribution_id": distribution,
        "job_id": job,
        "name": "shop-mail",
        "token": unsubscribe.group(1).removeprefix("/u/"),
    }


def _wait_for_message(api: httpx.Client, customer: str) -> str:
    """The customer's first message once the worker has sent it."""
    for _ in range(300):
        found = ok(api.get("/v1/messages", params={"customer_id": customer}))["messages"]
        sent = [m for m in found if m["status"] == "sent"]
        if sent:
            return str(sent[0]["id"])
        time.sleep(0.1)  # the in-process worker sends it
    raise AssertionError(f"no message was sent to {customer}: {found}")


def _url(route: str, ids: dict[str, str]) -> str:
    """The route with each ``{name:type}`` filled from ``ids``."""
    return re.sub(r"\{(\w+):\w+\}", lambda m: ids[m.group(1)], route)


#: The ids the shop gives the pages' routes.
_IDS = {
    "campaign_id",
    "customer_id",
    "segment_id",
    "template_id",
    "variant_id",
    "version_id",
    "distribution_id",
    "job_id",
    "name",
    "token",
}
#: Pages a signed-out visitor sees; every other page is for signed-in users.
_PUBLIC = {"/login", "/u/{token:str}"}


def _preflight(tab: Page) -> None:
    tab.get_by_role("button", name="Check before sending").click()
    expect(tab.locator("#bw-checklist")).to_be_visible(timeout=WAIT_MS)
    tab.locator("#bw-check-title").evaluate("node => node.scrollIntoView()")


#: The tour: page -> (file name, width, what to do before the picture), what a newcomer sees.
_TOUR: dict[str, tuple[str, int, Callable[[Page], None] | None]] = {
    "/templates/{template_id:str}/variants/{variant_id:str}": ("editor", 1440, None),
    "/segments/{segment_id:str}": ("segment", 1440, None),
    "/bulk-sends/new": ("bulk-wizard", 1440, _preflight),
    "/customers/{customer_id:str}": ("customer-phone", 390, None),
}


@pytest.fixture(scope="module")
def tour_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("DM_TOUR_DIR")
    path = Path(chosen) if chosen else tmp_path_factory.mktemp("tour")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _visit(tab: Page, url: str) -> None:
    answer = tab.goto(url, wait_until="networkidle")
    assert answer is not None, url
    assert answer.status < 500, url
    expect(tab.get_by_role("heading", level=1).first).to_be_visible(timeout=WAIT_MS)


def _sweep(tab: Page, site: Site, routes: set[str], ids: dict[str, str], who: str) -> None:
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    for route in sorted(routes):
        _visit(tab, site.url + _url(route, ids))
        assert_accessible(tab, f"{route} ({who})")
        assert_fits(tab, f"{route} ({who})")
    assert not errors, errors


def test_every_route_has_a_page_in_the_sweep(site: Site) -> None:
    assert "/" in site.page_routes, site.page_routes
    assert "/customers/{customer_id:str}" in site.page_routes, site.page_routes
    for route in site.page_routes:
        unknown = set(re.findall(r"\{(\w+):\w+\}", route)) - _IDS
        assert not unknown, f"{route}: give the sweep's shop an id for {sorted(unknown)}"


def test_every_page_as_an_admin_with_the_tour_screenshots(
    browser: Browser, site: Site, shop: Shop, tour_dir: Path
) -> None:
    assert set(shop.ids) == _IDS
    context = signed_in_context(browser, site, shop.admin)
    tab = context.new_page()
    _sweep(tab, site, set(site.page_routes) - _PUBLIC, shop.ids, "admin")
    for route, (name, width, prepare) in _TOUR.items():
        tab.set_viewport_size({"width": width, "height": 900})
        _visit(tab, site.url + _url(route, shop.ids))
        if prepare:
            prepare(tab)
        tab.wait_for_timeout(500)  # the editor's first preview, the live counts
        shot = tour_dir / f"{name}.png"
        tab.screenshot(path=shot)
        assert shot.read_bytes().startswith(b"\x89PNG"), shot
    context.close()


def test_every_page_as_a_viewer(browser: Browser, site: Site, shop: Shop) -> None:
    context = signed_in_context(browser, site, shop.viewer)
    _sweep(context.new_page(), site, set(site.page_routes) - _PUBLIC, shop.ids, "viewer")
    context.close()


def test_the_public_pages_signed_out(browser: Browser, site: Site, shop: Shop) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    _sweep(context.new_page(), site, set(_PUBLIC), shop.ids, "signed out")
    context.close()


def test_every_list_page_empty(empty_admin: BrowserContext, site: Site) -> None:
    lists = {route for route in site.page_routes if "{" not in route} - _PUBLIC
    _sweep(empty_admin.new_page(), site, lists, {}, "empty project")
