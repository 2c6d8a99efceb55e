"""The shared frame and the live pages for everyone: axe-core finds no serious or critical
violation (at 1440 and 390 px) in any state, no page scrolls sideways at 1024 or 390 px, the
narrow menu works from the keyboard, and the feed shows names and local times.

States: sign-in with its error, the error pages, Users with an error, the feed with rows and its
message dialog, the narrow menu open; as the seeded admin, as a viewer, and as the admin of an
empty project (the empty states). Every page in its first state is test_every_page.py's.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.test_browser.accessibility import assert_accessible, assert_fits
from tests.test_browser.conftest import WAIT_MS, Site, api_client, ok
from tests.test_browser.live_data import bulk_send, distribution

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Live:
    """What the seeded project holds for the live pages: a sent message of a distribution and
    a finished bulk send of a named campaign."""

    distribution: str
    distribution_name: str
    message: str
    bulk_job: str
    campaign_name: str


@pytest.fixture(scope="module")
def live(site: Site) -> Live:
    trigger = f"a11y.visit.{secrets.token_hex(3)}"
    with api_client(site) as api:
        rule = distribution(site, api, trigger)
        answer = ok(
            api.post(
                "/v1/events",
                json={
                    "type": trigger,
                    "customer": {"source_id": f"v-{trigger}", "email": "reader@example.com"},
                },
            )
        )
        job, campaign = bulk_send(site, api, delay=0, audience=2)
    return Live(rule, f"Welcome {trigger}", answer["deliveries"][0]["id"], job, campaign)


@pytest.fixture(params=["admin", "viewer"])
def someone(
    request: pytest.FixtureRequest, signed_in: BrowserContext, viewer: BrowserContext
) -> Iterator[Page]:
    """A tab of the seeded admin, then of a viewer."""
    context = signed_in if request.param == "admin" else viewer
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    tab.close()
    assert not errors, errors


def _check(tab: Page, what: str) -> None:
    assert_accessible(tab, what)
    assert_fits(tab, what)


def test_the_sign_in_page_and_its_error(browser: Browser, site: Site) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    tab = context.new_page()
    tab.goto(site.url + "/login")
    _check(tab, "sign-in")
    tab.get_by_label("Email").fill(site.editor_email)
    tab.get_by_label("Password").fill("not the password")
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_role("alert")).to_contain_text("Wrong email or password")
    _check(tab, "sign-in with its error")
    context.close()


def test_error_pages_keep_the_frame(someone: Page, site: Site) -> None:
    someone.goto(site.url + "/no-such-page")
    expect(someone.get_by_role("heading", name="Not found")).to_be_visible()
    _check(someone, "unknown page")
    # A page that knew its user keeps the frame, so the nav leads on.
    someone.goto(site.url + "/distributions/no-such-distribution")
    expect(someone.get_by_role("heading", name="Not found")).to_be_visible()
    expect(someone.get_by_role("navigation", name="Main")).to_be_attached()
    _check(someone, "404 page")


def test_users_page_for_an_admin_and_refused_to_a_viewer(
    signed_in: BrowserContext, viewer: BrowserContext, site: Site
) -> None:
    tab = signed_in.new_page()
    tab.goto(site.url + "/users")
    expect(tab.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    _check(tab, "users")
    tab.get_by_label("Email").fill("not-an-email")
    tab.get_by_label("Email").evaluate("node => node.removeAttribute('type')")
    tab.get_by_role("button", name="Add user").click()
    expect(tab.get_by_role("alert")).to_be_visible()
    _check(tab, "users with an error")
    tab.close()
    refused = viewer.new_page()
    refused.goto(site.url + "/users")
    expect(refused.get_by_role("heading", name="Not allowed")).to_be_visible()
    _check(refused, "403 page")
    refused.close()


def test_empty_states_say_what_to_do_next(empty_admin: BrowserContext, site: Site) -> None:
    tab = empty_admin.new_page()
    tab.goto(site.url + "/deliveries")
    expect(tab.locator("#feed-empty")).to_be_visible(timeout=WAIT_MS)
    expect(tab.get_by_role("table")).to_have_count(0)
    _check(tab, "empty deliveries")
    for path in ("/distributions", "/bulk-sends"):
        tab.goto(site.url + path)
        expect(tab.locator("p.empty")).to_be_visible()
    tab.close()


def test_the_feed_and_its_message_dialog(someone: Page, site: Site, live: Live) -> None:
    someone.goto(site.url + "/deliveries")
    row = someone.locator(f'#feed-rows tr[data-id="{live.message}"]')
    expect(row).to_be_visible(timeout=WAIT_MS)
    expect(row).to_contain_text(live.distribution_name)
    # A bulk send is named by its campaign, not by its id.
    bulk_row = someone.locator("#feed-rows tr", has_text=live.campaign_name).first
    expect(bulk_row).to_be_visible(timeout=WAIT_MS)
    expect(bulk_row).not_to_contain_text(live.bulk_job)
    # Times in the one format of dm.when (the relative hint aside, it moves on), with the
    # instant kept in datetime.
    shown, formatted = row.locator("time").evaluate(
        "node => [node.textContent, window.dm.when(node.getAttribute('datetime'))]"
    )
    assert shown.split(" (")[0] == formatted.split(" (")[0], (shown, formatted)
    assert "(" in shown, shown  # a message of a minute ago says so
    _check(someone, "deliveries with rows")
    # On a phone each row is a card whose values carry their column's name.
    someone.set_viewport_size({"width": 390, "height": 900})
    assert row.evaluate("tr => getComputedStyle(tr).display") == "grid"
    label = row.locator("td.when").evaluate("td => getComputedStyle(td, '::before').content")
    assert label == '"Time"', label
    someone.set_viewport_size({"width": 1440, "height": 900})

    row.focus()
    someone.keyboard.press("Enter")
    dialog = someone.locator("#message-detail")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", level=2)).to_contain_text("reader@example.com")
    expect(dialog.locator(".history-list")).to_contain_text("sent", timeout=WAIT_MS)
    expect(dialog).to_contain_text(live.distribution_name)
    _check(someone, "message dialog")
    someone.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_bulk_sends_are_named_and_timed_in_the_one_format(
    someone: Page, site: Site, live: Live
) -> None:
    someone.goto(f"{site.url}/bulk-sends")
    expect(someone.locator("#bulk-table")).to_contain_text(live.campaign_name)
    someone.goto(f"{site.url}/bulk-sends/{live.bulk_job}")
    expect(someone.get_by_role("heading", level=1)).to_contain_text(live.campaign_name)
    # Server-rendered times too are in the one format, in the viewer's time zone.
    started = someone.locator('[data-field="started_at"] time')
    shown, formatted = started.evaluate(
        "node => [node.textContent, window.dm.when(node.getAttribute('datetime'))]"
    )
    assert shown.split(" (")[0] == formatted.split(" (")[0], (shown, formatted)
    assert not shown.endswith("Z"), shown


def test_the_menu_at_390_px_opens_from_the_keyboard(someone: Page, site: Site) -> None:
    someone.set_viewport_size({"width": 390, "height": 800})
    someone.goto(site.url + "/deliveries")
    button = someone.get_by_role("button", name="Menu")
    nav = someone.get_by_role("navigation", name="Main")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    someone.keyboard.press("Tab")  # the skip link
    someone.keyboard.press("Tab")  # the brand
    someone.keyboard.press("Tab")
    expect(button).to_be_focused()
    someone.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(nav).to_be_visible()
    someone.keyboard.press("Tab")
    expect(nav.get_by_role("link", name="Home")).to_be_focused()
    someone.keyboard.press("Tab")
    expect(nav.get_by_role("link", name="Templates")).to_be_focused()
    _check(someone, "menu open")
    someone.keyboard.press("Escape")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_be_focused()
    expect(nav).to_be_hidden()
    # Wide, the nav is always shown and the button is not.
    someone.set_viewport_size({"width": 1440, "height": 800})
    expect(nav).to_be_visible()
    expect(button).to_be_hidden()
