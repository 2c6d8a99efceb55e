"""The live pages in headless Chromium: the delivery feed, distribution counts, a bulk send.

Events and bulk sends go in through the real ``/v1`` API of the served app; the pages must
follow them without a reload.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from distribution.accounts.projects import create_api_key
from tests.builders import publish_template
from tests.test_browser.conftest import Console, Site

pytestmark = pytest.mark.browser

#: Generous: the machine is shared and the worker polls; these are waits, not timing checks.
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def api(site: Site) -> Iterator[httpx.Client]:
    """An API client with a key of the site's project."""
    with site.database.session() as session:
        key = create_api_key(session, site.project_id, name=f"feeds-{secrets.token_hex(3)}")
        headers = {"X-App-Id": key.key.app_id, "X-App-Token": key.token}
    with httpx.Client(base_url=site.url, headers=headers, timeout=30) as client:
        yield client


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json()


def _distribution(site: Site, api: httpx.Client, trigger: str) -> str:
    template = publish_template(
        site.database, site.project_id, subject="Welcome aboard", body="<p>Glad you came</p>"
    )
    created = api.post(
        "/v1/distributions",
        json={
            "name": f"Welcome {trigger}",
            "trigger": trigger,
            "channels": [{"channel": "email", "template": template, "provider": "capture"}],
        },
    )
    return str(_ok(created)["id"])


def _bulk_send(site: Site, api: httpx.Client, delay: float, audience: int) -> str:
    tag = secrets.token_hex(3)
    template = publish_template(
        site.database, site.project_id, subject="Your invite", body="<p>{{ code.code }}</p>"
    )
    campaign = _ok(api.post("/v1/campaigns", json={"name": f"Invite {tag}"}))["id"]
    pool = _ok(api.post("/v1/code-pools", json={"campaign": campaign, "name": "p"}))["id"]
    _ok(api.post(f"/v1/code-pools/{pool}/codes/generate", json={"count": audience, "length": 12}))
    people = [f"{tag}-{i}" for i in range(audience)]
    for person in people:
        _ok(api.post("/v1/customers", json={"source_id": person, "email": f"{person}@example.com"}))
    job = api.post(
        "/v1/bulk-sends",
        json={
            "campaign": campaign,
            "audience": {"customers": people},
            "channels": [{"channel": "email", "template": template, "provider": "capture"}],
            "send_delay_seconds": delay,
        },
    )
    return str(_ok(job)["id"])


def test_a_posted_event_appears_live_then_shows_sent_and_in_the_counts(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    trigger = f"visitor.arrived.{secrets.token_hex(3)}"
    distribution = _distribution(site, api, trigger)
    tab.goto(site.url + "/deliveries")
    expect(tab.locator("#feed-state")).to_contain_text("Live", timeout=WAIT_MS)
    tab.evaluate("window.notReloaded = true")

    answer = _ok(
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
    job = _bulk_send(site, api, delay=0, audience=12)
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
    job = _bulk_send(site, api, delay=600, audience=5)
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
    progress = _ok(api.get(f"/v1/bulk-sends/{job}"))
    assert progress["status"] == "cancelled"
    assert progress["progress"]["messages"] == {"cancelled": 5}
    assert progress["counts"]["codes_released"] == 5
    assert not console.errors, console.errors
