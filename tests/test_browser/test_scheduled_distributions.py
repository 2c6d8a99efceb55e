"""Date triggers and follow-ups chosen in the guided distribution form, in headless Chromium,
checked through the public API: a birthday three days ahead at 10:30, a reminder that waits two
days and sends only if the code is not redeemed, a wrong date field shown on its field."""

from __future__ import annotations

import secrets

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.builders import publish_template
from tests.test_browser.accessibility import assert_accessible
from tests.test_browser.conftest import Console, Site, ok

pytestmark = pytest.mark.browser


def test_choose_a_birthday_trigger_and_a_follow_up_in_the_form(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    tag = secrets.token_hex(3)
    template = publish_template(site.database, site.project_id, subject="Hi", body="<p>Hi</p>")
    tab.goto(site.url + "/distributions/new")
    tab.get_by_label("Name", exact=True).fill(f"Birthday {tag}")
    expect(tab.locator("#d-schedule")).to_be_hidden()
    tab.get_by_role("button", name="Or send on a date of the customer").click()
    expect(tab.get_by_label("Event type")).to_have_value("customer.date")
    expect(tab.get_by_label("Date of the customer")).to_be_focused()
    assert_accessible(tab, "distribution form, date trigger")
    tab.get_by_label("Date of the customer").fill("shoe_size")
    tab.get_by_label("Days before (−) or after").fill("-3")
    tab.get_by_label("At, the customer's local time").fill("10:30")
    tab.get_by_role("button", name="3. Channels").click()
    tab.get_by_role("button", name="Add email").click()
    tab.get_by_label("Template of channel 1 (Email)").select_option(template)
    tab.get_by_label("Provider of channel 1 (Email)").select_option("capture")
    tab.get_by_role("button", name="4. Recipient and timing").click()
    tab.get_by_label("Wait", exact=True).fill("2")
    tab.get_by_label("Unit").select_option(label="days")
    tab.get_by_label("the event's code has not been redeemed").check()
    assert_accessible(tab, "distribution form, follow-up")
    tab.get_by_role("button", name="5. Activate").click()
    summary = tab.locator("#summary")
    expect(summary).to_contain_text("3 days before shoe_size, at 10:30 local")
    expect(summary).to_contain_text("waits 2 days, then sends only if the event's code has not")

    # The API refuses the field; the form opens step 1 on it.
    tab.get_by_role("button", name="Activate", exact=True).click()
    field = tab.get_by_label("Date of the customer")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_visible()
    field.fill("birthdate")
    tab.get_by_role("button", name="5. Activate").click()
    tab.get_by_role("button", name="Activate", exact=True).click()
    tab.wait_for_url("**/distributions/dist_*")
    expect(tab.locator("dl.facts")).to_contain_text("3 day(s) before birthdate, at 10:30")
    expect(tab.locator("dl.facts")).to_contain_text("the event's code has not been redeemed")

    [stored] = [d for d in ok(api.get("/v1/distributions")) if d["name"] == f"Birthday {tag}"]
    assert stored["trigger"] == "customer.date"
    assert stored["schedule"] == {"field": "birthdate", "offset_days": -3, "at": "10:30"}
    assert stored["delay_seconds"] == 2 * 86400
    assert stored["recheck"] == {"code": "not_redeemed"}

    # Editing shows what was saved, and a save keeps it.
    tab.get_by_role("link", name="Edit").click()
    expect(tab.get_by_label("Date of the customer")).to_have_value("birthdate")
    expect(tab.get_by_label("Days before (−) or after")).to_have_value("-3")
    tab.get_by_role("button", name="4. Recipient and timing").click()
    expect(tab.get_by_label("Wait", exact=True)).to_have_value("2")
    expect(tab.get_by_label("the event's code has not been redeemed")).to_be_checked()
    tab.get_by_label("Wait", exact=True).fill("36")
    tab.get_by_label("Unit").select_option(label="hours")
    tab.get_by_role("button", name="5. Save").click()
    tab.get_by_role("button", name="Save changes").click()
    tab.wait_for_url(f"**/distributions/{stored['id']}")
    again = ok(api.get(f"/v1/distributions/{stored['id']}"))
    assert again["delay_seconds"] == 36 * 3600
    assert again["schedule"] == stored["schedule"]
    assert not console.errors, console.errors
