"""Campaigns, code pools and customers in headless Chromium, from the UI alone; each result is
then checked through the public API with a key of the site's project."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from distribution.accounts.users import create_user
from tests.builders import publish_template
from tests.test_browser.accessibility import assert_accessible, assert_fits
from tests.test_browser.conftest import PASSWORD, WAIT_MS, Console, Site, ok, sign_in

pytestmark = pytest.mark.browser


def test_a_campaign_with_a_pool_generated_and_imported_codes(
    page: tuple[Page, Console], site: Site, api: httpx.Client, tmp_path: Path
) -> None:
    tab, console = page
    name = f"Spring {secrets.token_hex(3)}"
    tab.goto(site.url + "/campaigns")
    # Loaded: an empty state, or the campaigns other tests of this site made.
    expect(tab.get_by_text("Loading campaigns…")).to_be_hidden()
    tab.get_by_text("New campaign", exact=True).click()
    assert_accessible(tab, "campaigns with the new-campaign form open")

    tab.get_by_label("Name").fill(name)
    url = tab.get_by_label("Referral URL template")
    url.fill("https://shop.example.com/r/")
    expect(tab.locator("#campaign-url-output")).to_have_text("must contain {code}")
    url.press_sequentially("{code}?via=mail")
    expect(tab.locator("#campaign-url-output")).to_have_text(
        "https://shop.example.com/r/REF-7K2Q?via=mail"
    )
    tab.get_by_role("button", name="Create campaign").click()
    tab.wait_for_url(re.compile(r"/campaigns/camp_"))
    campaign_id = tab.url.rsplit("/", 1)[1]
    expect(tab.locator("#campaign-name")).to_have_text(name)
    expect(tab.locator('#campaign-facts [data-field="example"]')).to_have_text(
        "https://shop.example.com/r/REF-7K2Q?via=mail"
    )
    expect(tab.locator("#pools-empty")).to_be_visible()
    tab.get_by_text("New code pool", exact=True).click()
    assert_accessible(tab, "a campaign without pools, the new-pool form open")

    tab.get_by_label("Name").fill("Main")
    tab.get_by_label("Low-stock threshold (optional)").fill("3")
    tab.get_by_role("button", name="Add pool").click()
    card = tab.locator(".pool-card")
    expect(card.locator("h3")).to_have_text("Main")
    pool_id = card.get_attribute("data-pool")

    # Generate: the dry run's examples and combinations show as the pattern is typed.
    card.locator("summary", has_text="Generate codes").click()
    card.get_by_label("How many codes").fill("5")
    card.get_by_label("Pattern", exact=True).fill("SP-##?")
    expect(card.locator('[data-field="combinations"]')).to_have_text("2,600")
    examples = card.locator('[data-field="examples"] li')
    expect(examples).to_have_count(5)
    for text in examples.all_inner_texts():
        assert re.fullmatch(r"SP-\d\d[A-Z]", text), text
    card.get_by_label("Pattern", exact=True).fill(
        "SP"
    )  # no placeholder: the error shows at the field
    expect(card.locator(f"#{pool_id}-pattern-error")).to_contain_text("needs at least one")
    expect(card.get_by_label("Pattern", exact=True)).to_have_attribute("aria-invalid", "true")
    assert_accessible(tab, "a pool with a generation error at its field")
    # Random characters of a charset, with a prefix and a postfix.
    card.get_by_label("random characters").check()
    expect(card.get_by_label("Pattern", exact=True)).to_be_hidden()
    card.get_by_label("Length").fill("4")
    card.get_by_label("Characters", exact=True).fill("AB")
    card.get_by_label("Prefix").fill("X-")
    card.get_by_label("Postfix").fill("-Z")
    expect(card.locator('[data-field="combinations"]')).to_have_text("16")
    for text in examples.all_inner_texts():
        assert re.fullmatch(r"X-[AB]{4}-Z", text), text
    card.get_by_label("Prefix").fill("")
    card.get_by_label("Postfix").fill("")
    card.get_by_label("Characters", exact=True).fill("")
    card.get_by_label("made from a pattern").check()
    card.get_by_label("Pattern", exact=True).fill("SP-##?")
    expect(card.locator('[data-field="combinations"]')).to_have_text("2,600")
    card.get_by_role("button", name="Generate codes").click()
    expect(card.locator('[data-field="generate-summary"]')).to_have_text("Generated 5 codes.")
    expect(card.locator('[data-field="total"]')).to_have_text("5")

    # Import: one bad row (a space inside) and a duplicate; the good rows are kept.
    csv = tmp_path / "codes.csv"
    csv.write_text("code\nGOOD-1\nBAD ROW\nGOOD-2\nGOOD-1\n")
    card.get_by_text("Import codes from a CSV file", exact=True).click()
    card.get_by_label("CSV file").set_input_files(str(csv))
    card.get_by_role("button", name="Import codes").click()
    expect(card.locator('[data-field="import-summary"]')).to_have_text("Added 2 codes; refused 2.")
    report = card.locator(".report-table tbody tr")
    expect(report).to_have_count(2)
    expect(report.nth(0)).to_contain_text("3")
    expect(report.nth(0)).to_contain_text("BAD ROW")
    expect(report.nth(1)).to_contain_text("GOOD-1")
    assert_accessible(tab, "a pool with the import report and the generation preview")
    assert_fits(tab, "a campaign's page")

    # A code goes out: the gauge follows the API after a reload; the threshold is edited.
    ok(api.post("/v1/customers", json={"source_id": f"c-{pool_id}"}))
    ok(api.post(f"/v1/code-pools/{pool_id}/assign", json={"customer": f"c-{pool_id}"}))
    tab.reload()
    card = tab.locator(".pool-card")
    counts = ok(api.get(f"/v1/code-pools/{pool_id}"))
    assert (counts["total"], counts["assigned"], counts["available"]) == (7, 1, 6)
    for key in ("total", "assigned", "available", "revoked"):
        expect(card.locator(f'[data-field="{key}"]')).to_have_text(str(counts[key]))
    expect(card.locator('[data-field="low"]')).to_be_hidden()
    card.get_by_label("Low-stock threshold").fill("10")
    card.get_by_role("button", name="Save threshold").click()
    expect(card.locator('[data-field="low_stock_threshold"]')).to_have_text("10")
    expect(card.locator('[data-field="low"]')).to_have_text("Low stock")
    assert ok(api.get(f"/v1/code-pools/{pool_id}"))["low_stock_threshold"] == 10
    assert ok(api.get(f"/v1/campaigns/{campaign_id}"))["referral_url_template"] == (
        "https://shop.example.com/r/{code}?via=mail"
    )

    tab.goto(site.url + "/campaigns")
    row = tab.locator(f'tr[data-campaign="{campaign_id}"]')
    expect(row.get_by_role("link", name=name)).to_be_visible()
    expect(row.locator('[data-field="pools"]')).to_have_text("1")
    expect(row.locator('[data-field="available"]')).to_have_text("6")
    assert_accessible(tab, "the campaigns list")
    assert_fits(tab, "the campaigns list")
    assert not console.errors, console.errors


def test_customers_create_with_a_field_error_import_search_and_page(
    page: tuple[Page, Console], site: Site, api: httpx.Client, tmp_path: Path
) -> None:
    tab, console = page
    tag = secrets.token_hex(3)
    tab.goto(site.url + "/customers")
    expect(tab.locator("#customers-state")).not_to_have_text("Loading customers…")
    tab.get_by_text("New customer", exact=True).click()
    form = tab.locator("#new-customer")
    form.get_by_label("Name").fill(f"Ada {tag}")
    form.get_by_label("Email").fill("ada-at-example.com")
    form.get_by_label("Source id").fill(f"ada-{tag}")
    form.get_by_role("button", name="Create customer").click()
    error = tab.locator("#nc-email-error")
    expect(error).to_contain_text("email")
    expect(form.get_by_label("Email")).to_have_attribute("aria-describedby", "nc-email-error")
    assert_accessible(tab, "customers with an email error at its field")
    form.get_by_label("Email").fill(f"ada-{tag}@example.com")
    form.get_by_role("button", name="Create customer").click()
    tab.wait_for_url(re.compile(r"/customers/cust_"))
    expect(tab.locator("#customer-name")).to_have_text(f"Ada {tag}")
    stored = ok(api.get(f"/v1/customers/ada-{tag}"))
    assert (stored["name"], stored["email"]) == (f"Ada {tag}", f"ada-{tag}@example.com")

    tab.goto(site.url + "/customers")
    tab.get_by_text("Import customers from a CSV file", exact=True).click()
    csv = tmp_path / "customers.csv"
    csv.write_text(
        "source_id,name,email\n"
        f"imp1-{tag},Grace {tag},grace-{tag}@example.com\n"
        f"imp2-{tag},Bad {tag},not-an-email\n"
        f"imp3-{tag},Alan {tag},alan-{tag}@example.com\n"
    )
    tab.get_by_label("CSV file").set_input_files(str(csv))
    tab.get_by_role("button", name="Import customers").click()
    expect(tab.locator('[data-field="import-summary"]')).to_have_text(
        "3 rows: 2 created, 0 updated, 1 refused."
    )
    report = tab.locator("#import-result .report-table tbody tr")
    expect(report).to_have_count(1)
    expect(report.first.locator("td").nth(0)).to_have_text("3")
    expect(report.first.locator("td").nth(1)).to_have_text("email")
    assert_accessible(tab, "customers with the import report")
    assert ok(api.get(f"/v1/customers/imp1-{tag}"))["name"] == f"Grace {tag}"
    assert ok(api.get(f"/v1/customers/imp3-{tag}"))["name"] == f"Alan {tag}"
    assert api.get(f"/v1/customers/imp2-{tag}").status_code == 404

    tab.get_by_label("Search").fill(f"grace-{tag}")
    tab.get_by_role("button", name="Search").click()
    rows = tab.locator("#customers-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("link")).to_have_text(f"Grace {tag}")
    tab.get_by_label("Search").fill(f"nobody-{tag}")
    tab.get_by_role("button", name="Search").click()
    expect(tab.locator("#customers-state")).to_contain_text("No customer matches")
    assert_accessible(tab, "customers with a search that finds nobody")
    assert_fits(tab, "the customers page")
    assert not console.errors, console.errors


def test_a_profile_shows_consents_and_a_message_then_erases(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, console = page
    tag = secrets.token_hex(3)
    trigger = f"profile.seen.{tag}"
    template = publish_template(
        site.database, site.project_id, subject="Hello there", body="<p>Hello</p>"
    )
    ok(
        api.post(
            "/v1/distributions",
            json={
                "name": f"Hello {tag}",
                "trigger": trigger,
                "channels": [{"channel": "email", "template": template, "provider": "capture"}],
            },
        )
    )
    customer = ok(
        api.post(
            "/v1/customers",
            json={
                "source_id": f"prof-{tag}",
                "name": f"Bo {tag}",
                "email": f"bo-{tag}@example.com",
            },
        )
    )["id"]
    ok(api.post("/v1/events", json={"type": trigger, "customer": {"id": customer}}))
    template_name = ok(api.get(f"/v1/templates/{template}"))["name"]

    tab.goto(site.url + f"/customers/{customer}")
    expect(tab.locator("#customer-name")).to_have_text(f"Bo {tag}")
    expect(tab.locator('#customer-facts [data-field="email"]')).to_have_text(
        f"bo-{tag}@example.com"
    )
    message = tab.locator('#timeline li[data-kind="message"]')
    expect(message).to_contain_text(f"Email message: {template_name}", timeout=WAIT_MS)
    event = tab.locator('#timeline li[data-kind="event"]')
    expect(event).to_contain_text(f"Event {trigger}")
    expect(event).to_contain_text("from the API · 1 message")
    email = tab.locator('#consents tr[data-channel="email"]')
    expect(email.locator('[data-field="status"]')).to_have_text("subscribed")
    assert_accessible(tab, "a customer's profile with a message")

    email.get_by_role("button", name="Unsubscribe from Email").click()
    expect(email.locator('[data-field="status"]')).to_have_text("unsubscribed")
    expect(tab.locator('#timeline li[data-kind="consent"]')).to_contain_text(
        "Unsubscribed from Email"
    )
    consents = ok(api.get(f"/v1/customers/{customer}/consents"))
    assert consents[0]["status"] == "unsubscribed"
    email.get_by_role("button", name="Resubscribe to Email").click()
    expect(email.locator('[data-field="status"]')).to_have_text("subscribed")
    assert ok(api.get(f"/v1/customers/{customer}/consents"))[0]["status"] == "subscribed"

    tab.get_by_text("Edit", exact=True).click()
    tab.get_by_label("Phone").fill("not a phone")
    tab.get_by_role("button", name="Save changes").click()
    expect(tab.locator("#ec-phone-error")).to_be_visible()
    assert_accessible(tab, "a profile with an edit error at its field")
    tab.get_by_label("Phone").fill("")
    tab.get_by_label("Name").fill(f"Bo Renamed {tag}")
    tab.get_by_role("button", name="Save changes").click()
    expect(tab.locator("#customer-name")).to_have_text(f"Bo Renamed {tag}")
    assert ok(api.get(f"/v1/customers/{customer}"))["name"] == f"Bo Renamed {tag}"

    tab.get_by_role("button", name="Erase customer…").click()
    dialog = tab.locator("#erase-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Only the id is kept")
    assert_accessible(tab, "a profile with the erase dialog open")
    dialog.get_by_role("button", name="Keep the customer").click()
    expect(dialog).to_be_hidden()
    assert api.get(f"/v1/customers/{customer}").status_code == 200
    tab.get_by_role("button", name="Erase customer…").click()
    dialog.get_by_role("button", name="Erase the personal data").click()
    expect(tab.locator("#customer-state")).to_contain_text("Erased")
    assert api.get(f"/v1/customers/{customer}").status_code == 404
    assert_fits(tab, "an erased customer's page")
    assert not console.errors, console.errors


def test_a_viewer_sees_stock_and_profiles_without_change_controls(
    browser: Browser, site: Site, api: httpx.Client
) -> None:
    tag = secrets.token_hex(3)
    email = f"viewer-{tag}@example.com"
    with site.database.session() as session:
        create_user(session, site.project_id, email, "viewer", PASSWORD)
    campaign = ok(api.post("/v1/campaigns", json={"name": f"Seen {tag}"}))["id"]
    pool = ok(api.post("/v1/code-pools", json={"campaign": campaign, "name": "Shown"}))["id"]
    ok(api.post(f"/v1/code-pools/{pool}/codes/generate", json={"count": 4, "length": 9}))
    customer = ok(api.post("/v1/customers", json={"source_id": f"v-{tag}", "name": "Cy"}))["id"]

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        tab = context.new_page()
        sign_in(tab, site, email)
        tab.goto(site.url + f"/campaigns/{campaign}")
        card = tab.locator(f'.pool-card[data-pool="{pool}"]')
        expect(card.locator('[data-field="available"]')).to_have_text("4")
        expect(card.locator("form")).to_have_count(0)
        expect(tab.locator("#new-pool")).to_have_count(0)
        assert_accessible(tab, "a campaign as a viewer")
        tab.goto(site.url + f"/customers/{customer}")
        email_row = tab.locator('#consents tr[data-channel="email"]')
        expect(email_row.locator('[data-field="status"]')).to_have_text("subscribed")
        expect(tab.locator("#consents button")).to_have_count(0)
        expect(tab.locator("#erase-open")).to_have_count(0)
        expect(tab.locator("#edit-customer")).to_have_count(0)
        assert_accessible(tab, "a profile as a viewer")
    finally:
        context.close()
