"""The bulk invite wizard, bulk send outcomes, "Send now" and the Home page, in Chromium.

Campaigns, codes, customers, segments and templates are seeded through the real ``/v1`` API
(their own pages are other pages' tests); the flows under test run from the UI alone and their
results are checked through the API and the SMTP inbox.
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, FilePayload, Page, expect
from sqlmodel import col, select

from distribution.accounts.projects import create_project
from distribution.accounts.users import create_user
from distribution.models import Code
from tests.builders import publish_template
from tests.test_browser.accessibility import assert_accessible, assert_fits
from tests.test_browser.conftest import PASSWORD, WAIT_MS, Console, Site, ok, sign_in

pytestmark = pytest.mark.browser


def _pool(api: httpx.Client, campaign: str, name: str, codes: int, threshold: int = 0) -> str:
    body: dict[str, Any] = {"campaign": campaign, "name": name}
    if threshold:
        body["low_stock_threshold"] = threshold
    pool = str(ok(api.post("/v1/code-pools", json=body))["id"])
    ok(api.post(f"/v1/code-pools/{pool}/codes/generate", json={"count": codes, "length": 10}))
    return pool


def _customers(api: httpx.Client, tag: str, count: int) -> list[str]:
    ids = []
    for i in range(count):
        person = {
            "source_id": f"{tag}-{i}",
            "email": f"{tag}-{i}@example.com",
            "name": f"Guest {i} {tag}",
            "metadata": {"wave": tag},
        }
        ids.append(str(ok(api.post("/v1/customers", json=person))["id"]))
    return ids


def _started_job(
    site: Site, api: httpx.Client, tag: str, provider: str, delay: float, audience: int
) -> str:
    template = publish_template(
        site.database, site.project_id, subject="Invite", body="<p>{{ code.code }}</p>"
    )
    campaign = ok(api.post("/v1/campaigns", json={"name": f"Outcome {tag}"}))["id"]
    _pool(api, campaign, "p", audience)
    people = _customers(api, tag, audience)
    job = api.post(
        "/v1/bulk-sends",
        json={
            "campaign": campaign,
            "audience": {"customers": people},
            "channels": [{"channel": "email", "template": template, "provider": provider}],
            "send_delay_seconds": delay,
        },
    )
    return str(ok(job)["id"])


def _refuser(site: Site, api: httpx.Client, tag: str) -> str:
    """A webhook provider whose receiver answers 404: a permanent refusal of every message."""
    name = f"refuser-{tag}"
    ok(
        api.post(
            "/v1/providers",
            json={
                "name": name,
                "kind": "webhook",
                "config": {
                    "url": site.url + "/no-such-receiver",
                    "secret": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
                    "channels": ["email"],
                },
            },
        )
    )
    return name


def test_the_wizard_checks_refuses_a_short_pool_then_sends_unique_codes(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    tag = secrets.token_hex(3)
    campaign = ok(api.post("/v1/campaigns", json={"name": f"Spring invite {tag}"}))["id"]
    small = _pool(api, campaign, f"Small {tag}", 2)
    big = _pool(api, campaign, f"Big {tag}", 5)
    people = _customers(api, tag, 3)
    segment = ok(
        api.post(
            "/v1/segments",
            json={
                "name": f"Wave {tag}",
                "filter": {"field": "metadata.wave", "op": "eq", "value": tag},
            },
        )
    )["id"]
    template = publish_template(
        site.database,
        site.project_id,
        subject=f"Your invite {tag}",
        body="<p>Hello {{ customer.name }}, your code is {{ code.code }}</p>",
    )

    tab.goto(site.url + "/bulk-sends")
    tab.get_by_role("link", name="New bulk invite").click()
    expect(tab.get_by_role("heading", name="New bulk invite")).to_be_visible()
    assert_accessible(tab, "bulk invite wizard, empty")
    tab.get_by_label("Campaign").select_option(campaign)
    tab.get_by_label("Code pool").select_option(small)
    tab.get_by_label("A segment").check()
    tab.get_by_label("Segment", exact=True).select_option(segment)
    tab.get_by_label("Channel", exact=True).select_option("email")
    tab.get_by_label("Template").select_option(template)
    tab.get_by_label("Provider").select_option("local-smtp")
    start = tab.get_by_role("button", name="Start the bulk invite")
    expect(start).to_be_disabled()
    # A second channel can be added and removed; the last one cannot be removed.
    expect(tab.get_by_role("button", name="Remove channel 1")).to_be_hidden()
    tab.get_by_role("button", name="Add a channel").click()
    expect(tab.locator(".channel-row")).to_have_count(2)
    tab.get_by_role("button", name="Remove channel 2").click()
    expect(tab.locator(".channel-row")).to_have_count(1)
    expect(tab.get_by_role("button", name="Remove channel 1")).to_be_hidden()

    # The small pool: a blocking problem, in red, and the send cannot start.
    tab.get_by_role("button", name="Check before sending").click()
    blocking = tab.locator("#bw-checklist .check-bad")
    expect(blocking).to_contain_text("the pool has 2 codes but the audience needs 3")
    expect(tab.locator("#bw-verdict")).to_contain_text("blocking problem")
    expect(start).to_be_disabled()
    assert_accessible(tab, "bulk invite wizard, preflight with a blocking problem")

    # The bigger pool: the check must run again, then it is ready with a rendered sample.
    tab.get_by_label("Code pool").select_option(big)
    expect(tab.locator("#bw-report")).to_contain_text("check again")
    tab.get_by_role("button", name="Check before sending").click()
    expect(tab.locator("#bw-verdict")).to_have_text("Ready to send.")
    expect(tab.locator("#bw-checklist .check-bad")).to_have_count(0)
    expect(tab.locator("#bw-checklist")).to_contain_text("3 customers in the audience")
    expect(tab.locator("#bw-checklist")).to_contain_text("3 messages can be sent")
    tab.locator(".sample summary").first.click()
    expect(tab.locator(".sample").first).to_contain_text(f"Your invite {tag}")
    tab.get_by_label("Now").check()
    expect(tab.locator("#bw-summary")).to_contain_text("3 messages (Email) to 3 customers")
    expect(tab.locator("#bw-summary")).to_contain_text("goes out now")
    assert_accessible(tab, "bulk invite wizard, ready to confirm")
    assert_fits(tab, "bulk invite wizard")
    start.click()

    tab.wait_for_url("**/bulk-sends/bulk_*")
    expect(tab.locator('[data-field="status"]')).to_have_text("completed", timeout=WAIT_MS)
    expect(tab.locator('#bulk-counts [data-field="sent"]')).to_have_text("3")
    expect(tab.get_by_role("heading", level=1)).to_contain_text(f"Spring invite {tag}")
    job = tab.url.rsplit("/", 1)[1]

    # Through the API and the database: the job, one unique code each, a message each.
    progress = ok(api.get(f"/v1/bulk-sends/{job}"))
    assert (progress["status"], progress["outcome"]) == ("completed", "completed")
    assert progress["options"]["pool_id"] == big
    assert progress["audience"]["segment_id"] == segment
    with site.database.reader() as session:
        held = session.exec(select(Code).where(col(Code.customer_id).in_(people))).all()
    assert sorted(c.customer_id or "" for c in held) == sorted(people)
    assert len({c.code for c in held}) == 3
    assert {c.pool_id for c in held} == {big}
    for code in held:
        to = f"{tag}-{people.index(code.customer_id or '')}@example.com"
        arrived = [m for m in site.inbox if to in str(m["To"])]
        assert len(arrived) == 1, to
        assert code.code in str(arrived[0].get_body(("html",)).get_content())  # type: ignore[union-attr]
    assert not console.errors, console.errors


def test_a_job_whose_sends_all_fail_shows_as_failed_with_its_counts(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    tag = secrets.token_hex(3)
    refuser = _refuser(site, api, tag)
    job = _started_job(site, api, tag, refuser, delay=0, audience=2)
    tab.goto(site.url + f"/bulk-sends/{job}")
    status = tab.locator('[data-field="status"]')
    expect(status).to_have_text("failed", timeout=WAIT_MS)
    expect(status).to_have_class("badge st-failed")
    expect(tab.locator('#bulk-counts [data-field="failed"]')).to_have_text("2")
    expect(tab.locator('#bulk-counts [data-field="sent"]')).to_have_text("0")
    progress = ok(api.get(f"/v1/bulk-sends/{job}"))
    assert (progress["status"], progress["outcome"]) == ("completed", "failed")

    tab.goto(site.url + "/bulk-sends")
    row = tab.locator(f'tr[data-job="{job}"]')
    expect(row.locator('[data-field="outcome"]')).to_have_text("failed")
    expect(row.locator('[data-field="failed"]')).to_have_text("2")
    expect(row.locator('[data-field="sent"]')).to_have_text("0")
    expect(row.get_by_role("link")).to_have_text(f"Outcome {tag}")
    assert_accessible(tab, "bulk sends list")
    assert_fits(tab, "bulk sends list")
    assert not console.errors, console.errors


def test_send_now_asks_first_because_it_ends_the_cancel_window(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    tag = secrets.token_hex(3)
    job = _started_job(site, api, tag, "capture", delay=600, audience=2)
    tab.goto(site.url + f"/bulk-sends/{job}")
    expect(tab.locator('#bulk-counts [data-field="waiting"]')).to_have_text("2", timeout=WAIT_MS)
    send_now = tab.get_by_role("button", name="Send now")
    asked: list[str] = []

    def refuse(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    tab.once("dialog", refuse)
    send_now.click()
    expect(send_now).to_be_visible()
    [question] = asked
    assert "can no longer be cancelled" in question
    assert ok(api.get(f"/v1/bulk-sends/{job}"))["progress"]["messages"] == {"queued": 2}

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    tab.once("dialog", accept)
    send_now.click()
    expect(tab.locator('[data-field="status"]')).to_have_text("completed", timeout=WAIT_MS)
    assert len(asked) == 2
    assert ok(api.get(f"/v1/bulk-sends/{job}"))["progress"]["messages"] == {"sent": 2}
    assert not console.errors, console.errors


#: How Home groups delivery statuses (sent, failed); the rest it shows as waiting or skipped.
SENT = ("sent", "delivered")
FAILED = ("failed", "bounced", "unknown")


def _last_day(api: httpx.Client) -> dict[str, dict[str, int]]:
    """Sent and failed messages of the last 24 h by channel, counted through the API."""
    since = (datetime.now(UTC) - timedelta(hours=24)).isoformat()
    counts: dict[str, dict[str, int]] = {}
    after: str | None = None
    while True:
        params: dict[str, Any] = {"created_after": since, "limit": 100}
        if after:
            params["starting_after"] = after
        found = ok(api.get("/v1/messages", params=params))
        for message in found["messages"]:
            row = counts.setdefault(message["channel"], {"sent": 0, "failed": 0})
            for group, statuses in (("sent", SENT), ("failed", FAILED)):
                row[group] += message["status"] in statuses
        if not found["has_more"]:
            return counts
        after = found["next_cursor"]


def test_home_shows_the_last_day_failing_providers_low_pools_and_scheduled_sends(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    tag = secrets.token_hex(3)
    refuser = _refuser(site, api, tag)
    failed_job = _started_job(site, api, tag, refuser, delay=0, audience=2)
    tab.goto(site.url + f"/bulk-sends/{failed_job}")
    expect(tab.locator('[data-field="status"]')).to_have_text("failed", timeout=WAIT_MS)
    campaign = ok(api.post("/v1/campaigns", json={"name": f"Low stock {tag}"}))["id"]
    low_pool = _pool(api, campaign, f"Nearly empty {tag}", 3, threshold=10)
    template = publish_template(site.database, site.project_id, body="<p>{{ code.code }}</p>")
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    scheduled = ok(
        api.post(
            "/v1/bulk-sends",
            json={
                "campaign": campaign,
                "audience": {"customers": _customers(api, tag + "s", 1)},
                "channels": [{"channel": "email", "template": template, "provider": "capture"}],
                "scheduled_at": later,
            },
        )
    )["id"]
    expected = _last_day(api)
    assert expected["email"]["failed"] >= 2

    tab.goto(site.url + "/bulk-sends")
    tab.get_by_role("link", name="Home").click()
    expect(tab.get_by_role("heading", name="Today")).to_be_visible()
    for channel, counts in expected.items():
        row = tab.locator(f'#home-channels tr[data-channel="{channel}"]')
        expect(row.locator('[data-field="sent"]')).to_have_text(str(counts["sent"]))
        expect(row.locator('[data-field="failed"]')).to_have_text(str(counts["failed"]))
    provider = tab.locator(f'#home-providers li[data-provider="{refuser}"]')
    expect(provider).to_contain_text("2 failed messages")
    low = tab.locator(f'#home-low-pools li[data-pool="{low_pool}"]')
    expect(low).to_contain_text(f"Low stock {tag} · Nearly empty {tag}")
    expect(low).to_contain_text("3 codes left, below its threshold of 10")
    job = tab.locator(f'#home-jobs li[data-job="{scheduled}"]')
    expect(job).to_contain_text("scheduled")
    expect(job.locator("time")).not_to_have_text(later)  # shown in the one date format
    expect(tab.locator("#home-setup")).to_have_count(0)  # this project is set up
    assert_accessible(tab, "home with attention items")
    assert_fits(tab, "home")
    job.get_by_role("link", name=f"Low stock {tag}").click()
    tab.wait_for_url(f"**/bulk-sends/{scheduled}")
    assert not console.errors, console.errors


def test_home_of_a_new_project_says_what_to_set_up_first(browser: Browser, site: Site) -> None:
    email = f"new-{secrets.token_hex(3)}@example.com"
    with site.database.session() as session:
        project = create_project(session, f"fresh-{secrets.token_hex(3)}")
        create_user(session, project.id, email, "admin", PASSWORD)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    tab = context.new_page()
    try:
        sign_in(tab, site, email)
        setup = tab.locator("#home-setup")
        expect(setup.get_by_role("heading")).to_have_text("Set up your project")
        steps = setup.locator("li")
        expect(steps).to_have_count(4)
        expect(steps.nth(0)).to_contain_text("Connect an email or SMS provider")
        expect(steps.nth(0).get_by_role("link")).to_have_attribute("href", "/providers")
        expect(steps.nth(3).get_by_role("link", name="New bulk invite")).to_be_visible()
        expect(setup.locator(".todo")).to_have_count(4)
        expect(tab.locator("#home-today")).to_contain_text("No messages in the last 24 hours")
        expect(tab.locator("#home-all-well")).to_be_visible()
        expect(tab.locator("#home-jobs")).to_contain_text("None running")
        assert_accessible(tab, "home of a new project")
        tab.goto(site.url + "/bulk-sends/new")
        expect(tab.locator("#wizard-empty")).to_contain_text("create a campaign")
        assert_accessible(tab, "bulk invite wizard with nothing to send yet")
    finally:
        context.close()


def test_the_wizard_with_picked_customers_scheduled_in_the_viewers_time_zone(
    browser: Browser, signed_in: BrowserContext, site: Site, api: httpx.Client
) -> None:
    context = browser.new_context(
        viewport={"width": 1440, "height": 900},
        timezone_id="America/New_York",
        storage_state=signed_in.storage_state(),
    )
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    try:
        tag = secrets.token_hex(3)
        campaign = ok(api.post("/v1/campaigns", json={"name": f"Picked {tag}"}))["id"]
        _pool(api, campaign, f"Pool {tag}", 5)
        people = _customers(api, tag, 3)
        template = publish_template(
            site.database, site.project_id, channel="sms", body="Your code {{ code.code }}"
        )
        tab.goto(site.url + "/bulk-sends/new")
        tab.get_by_label("Campaign").select_option(campaign)
        tab.get_by_label("Customers I pick").check()
        tab.get_by_label("Channel", exact=True).select_option("sms")
        tab.get_by_label("Template").select_option(template)
        tab.get_by_label("Provider").select_option("capture")

        # Nobody picked yet: the API's error is shown at the customer search, tied to it.
        tab.get_by_role("button", name="Check before sending").click()
        search = tab.get_by_label("Find customers by name, email or source id")
        expect(search).to_have_attribute("aria-invalid", "true")
        expect(tab.locator(".field-error")).to_have_text("must not be empty")
        assert_accessible(tab, "bulk invite wizard with a field error")

        search.fill(f"Guest 0 {tag}")
        search.press("Enter")
        tab.get_by_role("button", name=f"Pick Guest 0 {tag} · {tag}-0@example.com").click()
        search.fill(f"Guest 2 {tag}")
        tab.get_by_role("button", name="Search").click()
        tab.get_by_role("button", name=f"Pick Guest 2 {tag} · {tag}-2@example.com").click()
        expect(tab.locator("#bw-picked-count")).to_have_text("2")
        tab.get_by_role("button", name="Check before sending").click()
        # Customers without a phone: nothing sendable on SMS, so the send cannot start.
        expect(tab.locator("#bw-checklist")).to_contain_text("2 customers have no address")
        blocking = tab.locator("#bw-checklist .check-bad")
        expect(blocking.filter(has_text="0 messages can be sent")).to_have_count(1)
        expect(blocking.filter(has_text="Nothing can be sent")).to_have_count(1)
        expect(tab.get_by_role("button", name="Start the bulk invite")).to_be_disabled()
        assert_accessible(tab, "bulk invite wizard with nothing sendable")

        email = publish_template(
            site.database, site.project_id, subject="Hi", body="<p>{{ code.code }}</p>"
        )
        tab.reload()  # the new template is offered once the page is loaded again
        tab.get_by_label("Campaign").select_option(campaign)
        tab.get_by_label("Customers I pick").check()
        search.fill(tag)
        search.press("Enter")
        for i in (0, 2):
            tab.get_by_role("button", name=f"Pick Guest {i} {tag} · {tag}-{i}@example.com").click()
        tab.get_by_label("Template").select_option(email)
        tab.get_by_label("Provider").select_option("capture")
        tab.get_by_role("button", name="Check before sending").click()
        expect(tab.locator("#bw-verdict")).to_have_text("Ready to send.")
        tab.get_by_label("At a time").check()
        expect(tab.locator("#bw-zone")).to_have_text("America/New_York")
        tab.get_by_label("Start at").fill("2030-01-02T09:30")
        expect(tab.locator("#bw-summary")).to_contain_text("to 2 customers")
        # The viewer's wall-clock time, in the one date format (whatever the browser's locale).
        expect(tab.locator("#bw-summary")).to_contain_text(re.compile(r"starts at .*2030.*09:30"))
        tab.get_by_role("button", name="Start the bulk invite").click()
        tab.wait_for_url("**/bulk-sends/bulk_*")
        expect(tab.locator('[data-field="status"]')).to_have_text("scheduled")
        job = ok(api.get("/v1/bulk-sends/" + tab.url.rsplit("/", 1)[1]))
        assert job["scheduled_at"].startswith("2030-01-02T14:30:00")  # 09:30 in New York
        assert job["audience"]["customers"] == 2
        assert job["channels"][0]["channel"] == "email"
        cancelled = api.post(f"/v1/bulk-sends/{job['id']}/cancel", json={})
        assert ok(cancelled)["status"] == "cancelled"
        assert people  # the third customer was not picked
        assert not errors, errors
    finally:
        context.close()


def test_the_wizard_with_a_csv_upload_creates_the_customers_and_sends(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    tag = secrets.token_hex(3)
    campaign = ok(api.post("/v1/campaigns", json={"name": f"Upload {tag}"}))["id"]
    _pool(api, campaign, f"Pool {tag}", 4)
    template = publish_template(
        site.database, site.project_id, subject="Hi", body="<p>{{ code.code }}</p>"
    )
    rows = "\n".join(f"csv-{tag}-{i},csv-{tag}-{i}@example.com,Ann {i}" for i in range(2))
    tab.goto(site.url + "/bulk-sends/new")
    tab.get_by_label("Campaign").select_option(campaign)
    tab.get_by_label("A CSV file of customers").check()
    upload: FilePayload = {
        "name": "guests.csv",
        "mimeType": "text/csv",
        "buffer": f"source_id,email,name\n{rows}\n".encode(),
    }
    tab.get_by_label("CSV file", exact=True).set_input_files(files=upload)
    tab.get_by_label("Template").select_option(template)
    tab.get_by_label("Provider").select_option("capture")
    tab.get_by_role("button", name="Check before sending").click()
    expect(tab.locator("#bw-verdict")).to_have_text("Ready to send.")
    expect(tab.locator("#bw-checklist")).to_contain_text("2 customers in the audience")
    # The dry run created nobody.
    assert ok(api.get("/v1/customers", params={"q": f"csv-{tag}"}))["customers"] == []
    tab.get_by_label("Now").check()
    tab.get_by_role("button", name="Start the bulk invite").click()
    tab.wait_for_url("**/bulk-sends/bulk_*")
    expect(tab.locator('[data-field="status"]')).to_have_text("completed", timeout=WAIT_MS)
    created = ok(api.get("/v1/customers", params={"q": f"csv-{tag}"}))["customers"]
    assert sorted(c["email"] for c in created) == [f"csv-{tag}-{i}@example.com" for i in range(2)]
    job = ok(api.get("/v1/bulk-sends/" + tab.url.rsplit("/", 1)[1]))
    assert job["progress"]["messages"] == {"sent": 2}
    assert not console.errors, console.errors
