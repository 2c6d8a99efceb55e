"""The live pages in headless Chromium: the delivery feed, distribution counts, a bulk send.

Events and bulk sends go in through the real ``/v1`` API of the served app; the pages must
follow them without a reload.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.test_browser.accessibility import assert_accessible, assert_fits
from tests.test_browser.conftest import WAIT_MS, Console, Site, api_client, ok
from tests.test_browser.live_data import bulk_send
from tests.test_browser.live_data import distribution as live_distribution

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def api(site: Site) -> Iterator[httpx.Client]:
    """An API client with a key of the site's project."""
    with api_client(site) as client:
        yield client


def test_a_posted_event_appears_live_then_shows_sent_and_in_the_counts(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    trigger = f"visitor.arrived.{secrets.token_hex(3)}"
    distribution = live_distribution(site, api, trigger)
    tab.goto(site.url + "/deliveries")
    expect(tab.locator("#feed-state")).to_contain_text("Live", timeout=WAIT_MS)
    tab.evaluate("window.notReloaded = true")

    answer = ok(
        api.post(
            "/v1/events",
            json={
                "type": trigger,
                "customer": {"source_id": f"v-{trigger}", "email": "visitor@example.com"},
            },
        )
    )
    message = answer["deliveries"][0]["id"]
    row = tab.locator(f'#feed-rows tr[data-id="{message}"]')
    expect(row).to_be_visible(timeout=WAIT_MS)
    expect(row.locator('[data-role="status"]')).to_have_text("sent", timeout=WAIT_MS)
    expect(row).to_contain_text("visitor@example.com")
    expect(row).to_contain_text(f"Welcome {trigger}")
    assert tab.locator("#feed-rows tr").first.get_attribute("data-id") == message  # on top
    assert tab.evaluate("window.notReloaded") is True  # followed without a reload

    row.get_by_text("visitor@example.com").click()  # not the link to the distribution
    dialog = tab.locator("#message-detail")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".history-list")).to_contain_text("sent")
    frame = dialog.locator("iframe")
    assert frame.get_attribute("sandbox") == ""
    expect(tab.frame_locator("#message-detail iframe").get_by_text("Glad you came")).to_be_visible()
    tab.locator("#md-close").click()
    expect(dialog).to_be_hidden()

    tab.goto(site.url + "/distributions")
    counts = tab.locator(f'tr[data-distribution="{distribution}"] [data-status="sent"]')
    expect(counts).to_have_text("sent 1")
    tab.goto(site.url + f"/distributions/{distribution}")
    expect(tab.locator('#distribution-counts td[data-status="sent"]')).to_have_text("1")
    assert not console.errors, console.errors


def test_a_bulk_send_page_follows_progress_to_100_percent(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    job, _ = bulk_send(site, api, delay=0, audience=12)
    tab.goto(site.url + f"/bulk-sends/{job}")
    tab.evaluate("window.notReloaded = true")
    expect(tab.locator('[data-field="status"]')).to_have_text("completed", timeout=WAIT_MS)
    bar = tab.locator("#done-bar")
    expect(bar).to_have_attribute("value", "100")
    expect(tab.locator('[data-field="done_percent_text"]')).to_have_text("100%")
    expect(tab.locator('#bulk-counts [data-field="sent"]')).to_have_text("12")
    expect(tab.locator('#bulk-counts [data-field="audience"]')).to_have_text("12")
    expect(tab.locator("#preflight")).to_contain_text("audience")
    expect(tab.get_by_role("button", name="Pause")).to_be_hidden()
    assert tab.evaluate("window.notReloaded") is True
    tab.goto(site.url + "/bulk-sends")
    expect(tab.locator(f'a[href="/bulk-sends/{job}"]')).to_be_visible()
    assert not console.errors, console.errors


def test_cancel_stops_a_delayed_bulk_send(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    job, _ = bulk_send(site, api, delay=600, audience=5)
    tab.goto(site.url + f"/bulk-sends/{job}")
    expect(tab.locator('#bulk-counts [data-field="waiting"]')).to_have_text("5", timeout=WAIT_MS)
    tab.get_by_text("Cancel…").click()
    tab.get_by_label("Give the codes of unsent recipients back to the pool").check()
    tab.get_by_role("button", name="Cancel the bulk send").click()
    expect(tab.locator('[data-field="status"]')).to_have_text("cancelled", timeout=WAIT_MS)
    expect(tab.locator('#bulk-counts [data-field="cancelled"]')).to_have_text("5")
    expect(tab.locator('#bulk-counts [data-field="sent"]')).to_have_text("0")
    expect(tab.locator("#bulk-message")).to_contain_text("Done: cancel")
    expect(tab.get_by_text("Cancel…")).to_be_hidden()
    expect(tab.get_by_role("button", name="Send now")).to_be_hidden()
    progress = ok(api.get(f"/v1/bulk-sends/{job}"))
    assert progress["status"] == "cancelled"
    assert progress["progress"]["messages"] == {"cancelled": 5}
    assert progress["counts"]["codes_released"] == 5
    assert not console.errors, console.errors


def test_a_redemption_marks_the_message_converted_in_the_feed_and_the_counts(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    trigger = f"code.given.{secrets.token_hex(3)}"
    code = f"CODE-{secrets.token_hex(3)}"
    distribution = live_distribution(site, api, trigger)
    answer = ok(
        api.post(
            "/v1/events",
            json={
                "type": trigger,
                "customer": {"source_id": f"r-{trigger}", "email": "redeemer@example.com"},
                "code": code,
            },
        )
    )
    message = answer["deliveries"][0]["id"]
    tab.goto(site.url + "/deliveries")
    row = tab.locator(f'#feed-rows tr[data-id="{message}"]')
    expect(row.locator('[data-role="status"]')).to_have_text("sent", timeout=WAIT_MS)
    expect(row.locator('[data-role="converted"]')).to_have_count(0)

    redeemed = {
        "type": "code.redeemed",
        "customer": {"source_id": f"r-{trigger}"},
        "code": code,
        "order": {"id": "o-1", "amount": 4990, "currency": "EUR"},
    }
    ok(api.post("/v1/events", json=redeemed))
    expect(row.locator('[data-role="converted"]')).to_have_text(
        "converted · €49.90", timeout=WAIT_MS
    )
    row.get_by_text("redeemer@example.com").click()
    dialog = tab.locator("#message-detail")
    expect(dialog.locator('[data-role="converted"]')).to_contain_text("€49.90")
    tab.locator("#md-close").click()

    tab.goto(site.url + f"/distributions/{distribution}")
    expect(tab.locator('#conversions [data-field="converted"]')).to_have_text("1")
    expect(tab.locator('#conversions [data-field="revenue"]')).to_have_text("€49.90")
    tab.goto(site.url + "/distributions")
    converted = tab.locator(f'tr[data-distribution="{distribution}"] [data-role="converted"]')
    expect(converted).to_contain_text("converted 1 · €49.90")

    # The redemptions page lists it credited to the message, and a stranger's code to none.
    stranger = f"NOBODY-{secrets.token_hex(3)}"
    ok(api.post("/v1/events", json={**redeemed, "code": stranger, "order": {"id": "o-2"}}))
    tab.goto(site.url + "/deliveries")
    tab.get_by_role("link", name="Redemptions").click()
    credited = tab.locator("#redemptions-table tr", has_text=code)
    expect(credited).to_contain_text(message)
    expect(credited).to_contain_text("€49.90")
    expect(tab.locator("#redemptions-table tr", has_text=stranger)).to_contain_text("none")
    assert_accessible(tab, "the redemptions page")
    assert_fits(tab, "the redemptions page")
    tab.get_by_role("link", name="Credited to none").click()
    expect(tab.locator("#redemptions-table tr", has_text=stranger)).to_have_count(1)
    expect(tab.locator("#redemptions-table tr", has_text=code)).to_have_count(0)
    tab.get_by_role("link", name="Credited to a message").click()
    expect(tab.locator("#redemptions-table tr", has_text=code)).to_have_count(1)
    expect(tab.locator("#redemptions-table tr", has_text=stranger)).to_have_count(0)
    assert not console.errors, console.errors
