"""A follow-up made in the distribution form ("Wait, then check again": a wait, the code not
redeemed, a recheck condition) and its follow-ups on the distribution's page, in headless
Chromium: a wait the API refuses shown on its field, events posted through the API listed as
waiting and skipped (with the reason), the status filter, the form showing the saved values
again, and a cleared wait removing the follow-up."""

from __future__ import annotations

import secrets
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from distribution.events.follow_ups import run_due_follow_ups
from distribution.models import utcnow
from distribution.outbox import LinkSettings
from tests.builders import publish_template
from tests.test_browser.accessibility import assert_accessible, assert_fits
from tests.test_browser.conftest import ARTIFACTS, SECRET, Console, Site, ok

pytestmark = pytest.mark.browser

WIDTHS = (1440, 390)


def _shoot(tab: Page, part: Locator, name: str) -> None:
    """Pictures of ``part`` at a laptop's and a phone's width, to look at (artifacts/)."""
    size = tab.viewport_size or {"width": 1440, "height": 900}
    ARTIFACTS.mkdir(exist_ok=True)
    for width in WIDTHS:
        tab.set_viewport_size({"width": width, "height": size["height"]})
        part.screenshot(path=str(ARTIFACTS / f"followups-{name}-{width}.png"))
    tab.set_viewport_size(size)


def _assigned(api: httpx.Client, who: str, email: str, code: str) -> None:
    answer = ok(
        api.post(
            "/v1/events",
            json={
                "type": "code.assigned",
                "customer": {"source_id": who, "name": f"{who} Lovelace", "email": email},
                "code": {"code": code},
            },
        )
    )
    assert answer["deliveries"] == []  # a delayed distribution writes nothing yet


def test_a_follow_up_made_in_the_form_lists_its_follow_ups_and_edits_back(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    tag = secrets.token_hex(3)
    name = f"Still unused {tag}"
    template = publish_template(site.database, site.project_id, subject="Hi", body="<p>Hi</p>")
    tab.goto(site.url + "/distributions/new")
    tab.get_by_label("Name", exact=True).fill(name)
    tab.locator('input[name="trigger-pick"][value="code.assigned"]').check()
    tab.get_by_role("button", name="3. Channels").click()
    tab.get_by_role("button", name="Add email").click()
    tab.get_by_label("Template of channel 1 (Email)").select_option(template)
    tab.get_by_label("Provider of channel 1 (Email)").select_option("capture")

    # The checks appear once there is a wait.
    tab.get_by_role("button", name="4. Recipient and timing").click()
    follow_up = tab.get_by_role("group", name="Wait, then check again")
    expect(follow_up.get_by_label("the event's code has not been redeemed")).to_be_hidden()
    follow_up.get_by_label("Wait", exact=True).fill("91")
    follow_up.get_by_label("Unit").select_option(label="days")
    follow_up.get_by_label("the event's code has not been redeemed").check()
    follow_up.get_by_role("button", name="Add recheck condition").click()
    follow_up.get_by_label("Field of recheck condition 1").select_option("email")
    follow_up.get_by_label("Operator of recheck condition 1").select_option("contains")
    follow_up.get_by_label("Value of recheck condition 1").fill(f"{tag}.example")
    follow_up.get_by_role("button", name="Add recheck condition").click()
    follow_up.get_by_label("Operator of recheck condition 2").select_option("in")
    assert_accessible(tab, "distribution form, wait and recheck")
    assert_fits(tab, "distribution form, wait and recheck")
    _shoot(tab, follow_up, "form")
    tab.get_by_role("button", name="5. Activate").click()
    summary = tab.locator("#summary")
    expect(summary).to_contain_text("waits 91 days, then sends only if the event's code")
    expect(summary).to_contain_text("the customer matches")

    # 91 days and an empty list are refused; the form opens step 4 with each reason at its field.
    tab.get_by_role("button", name="Activate", exact=True).click()
    wait = follow_up.get_by_label("Wait", exact=True)
    expect(wait).to_have_attribute("aria-invalid", "true")
    expect(wait).to_be_visible()
    expect(tab.locator("#d-delay-value-error")).to_have_text("must be from 1 second to 90 days")
    second = follow_up.get_by_label("Value of recheck condition 2")
    expect(second).to_have_attribute("aria-invalid", "true")
    expect(tab.locator("#" + str(second.get_attribute("aria-describedby")))).to_contain_text(
        "non-empty list"
    )
    _shoot(tab, follow_up, "form-refused")
    follow_up.get_by_role("button", name="Remove recheck condition 2").click()
    wait.fill("2")
    tab.get_by_role("button", name="5. Activate").click()
    tab.get_by_role("button", name="Activate", exact=True).click()
    tab.wait_for_url("**/distributions/dist_*")
    distribution = tab.url.rsplit("/", 1)[-1]
    facts = tab.locator("dl.facts")
    expect(facts).to_contain_text("waits 2 days, then sends only if the event's code has not")
    expect(facts).to_contain_text(f"{tag}.example")
    section = tab.locator("#follow-ups")
    expect(section).to_contain_text("No follow-up yet")

    stored = ok(api.get(f"/v1/distributions/{distribution}"))
    assert stored["delay_seconds"] == 2 * 86400
    assert stored["recheck"] == {
        "code": "not_redeemed",
        "conditions": {"field": "email", "op": "contains", "value": f"{tag}.example"},
    }

    # Bo's code is redeemed and his wait settled two days on: skipped, with the reason. Ana's
    # event comes after and waits.
    _assigned(api, f"bo-{tag}", f"bo@{tag}.example", f"BO-{tag}")
    ok(
        api.post(
            "/v1/events",
            json={
                "type": "code.redeemed",
                "code": f"BO-{tag}",
                "customer": {"source_id": f"bo-{tag}"},
            },
        )
    )
    links = LinkSettings(public_url=site.url, secret_key=SECRET)
    settled = run_due_follow_ups(site.database, links, utcnow() + timedelta(days=3))
    assert [(o.status, o.reason) for o in settled] == [
        ("skipped", f"the code BO-{tag} was redeemed")
    ]
    _assigned(api, f"ana-{tag}", f"ana@{tag}.example", f"ANA-{tag}")

    tab.reload()
    rows = section.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("waiting")
    expect(rows.nth(0)).to_contain_text(f"ana-{tag} Lovelace")
    expect(rows.nth(1)).to_contain_text("skipped")
    expect(rows.nth(1)).to_contain_text(f"the code BO-{tag} was redeemed")
    assert_accessible(tab, "distribution page, follow-ups")
    assert_fits(tab, "distribution page, follow-ups")
    _shoot(tab, section, "list")
    section.get_by_role("link", name="Waiting").click()
    expect(section.get_by_role("link", name="Waiting")).to_have_attribute("aria-current", "page")
    expect(rows).to_have_count(1)
    section.get_by_role("link", name="Sent").click()
    expect(section).to_contain_text("No sent follow-up.")
    section.get_by_role("link", name="All").click()
    section.get_by_role("link", name=f"ana-{tag} Lovelace").click()
    tab.wait_for_url("**/customers/cust_*")

    # The form shows what was saved; clearing the wait removes the follow-up.
    tab.goto(site.url + f"/distributions/{distribution}/edit?step=4")
    expect(wait).to_have_value("2")
    expect(follow_up.get_by_label("Unit")).to_have_value("86400")
    expect(follow_up.get_by_label("the event's code has not been redeemed")).to_be_checked()
    expect(follow_up.get_by_label("Value of recheck condition 1")).to_have_value(f"{tag}.example")
    # The preview prepares the deliveries at once, and says they wait.
    tab.get_by_role("button", name="3. Channels").click()
    tab.get_by_label("Customer to preview for").fill(f"ana-{tag}")
    tab.get_by_role("button", name="Find", exact=True).click()
    expect(tab.locator("#preview-note")).to_have_text("1 found.")
    tab.get_by_role("button", name="Show the deliveries it would create").click()
    expect(tab.locator("#preview-note")).to_contain_text(
        "It would create 1 delivery; nothing was sent. With the wait, they are made when it is over"
    )
    tab.get_by_role("button", name="4. Recipient and timing").click()
    wait.fill("")
    expect(follow_up.get_by_label("the event's code has not been redeemed")).to_be_hidden()
    tab.get_by_role("button", name="5. Save").click()
    expect(summary).to_contain_text("no: sends at once")
    tab.get_by_role("button", name="Save changes").click()
    tab.wait_for_url(f"**/distributions/{distribution}")
    again = ok(api.get(f"/v1/distributions/{distribution}"))
    assert again["delay_seconds"] is None
    assert again["recheck"] is None
    expect(facts).not_to_contain_text("Wait, then check again")
    expect(section.locator("tbody tr")).to_have_count(2)  # Ana's still settles; it is listed
    assert not console.errors, console.errors
