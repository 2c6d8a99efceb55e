"""An A/B test in headless Chromium: started from the template's page, a refusal shown at the
arm, results read, the winner published; each step checked in the database."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import Dialog, Page, expect

from distribution.template_store import (
    VersionInput,
    add_version,
    get_template_detail,
    publish_version,
)
from tests.test_browser.accessibility import assert_accessible, assert_fits
from tests.test_browser.conftest import WAIT_MS, Console, Site, new_template

pytestmark = pytest.mark.browser

SMS = "Hi {{ customer.first_name }}, your code is {{ code.code }}"
CHALLENGER = "{{ customer.first_name }}, {{ code.code }} is yours"


def test_start_a_test_read_its_arms_and_publish_the_winner(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, console = page
    template_id, variant_id = new_template(site, f"AB {secrets.token_hex(3)}", "sms", SMS)
    with site.database.session() as session:
        first = get_template_detail(session, site.project_id, template_id).versions[0]
        publish_version(session, site.project_id, template_id, first.id)
        challenger = add_version(
            session, site.project_id, template_id, VersionInput(body=CHALLENGER)
        ).version
    tab.goto(f"{site.url}/templates/{template_id}")
    expect(tab.locator("#ab-none")).to_contain_text("No A/B test is running")
    tab.locator("summary", has_text="Start an A/B test").click()
    assert_accessible(tab, "the A/B test form")
    # The same version twice: refused, the reason beside the second arm.
    tab.get_by_label("Version 1", exact=True).select_option(label=f"v{first.number}")
    tab.get_by_label("Version 2", exact=True).select_option(label=f"v{first.number}")
    tab.get_by_role("button", name="Start the test").click()
    expect(tab.locator("[id='ab-version-1'] + .field-error")).to_contain_text("already an arm")
    tab.get_by_label("Version 2", exact=True).select_option(label=f"v{challenger.number}")
    tab.get_by_label("Weight of version 2").fill("3")
    tab.get_by_role("button", name="Start the test").click()
    section = tab.locator(f".ab-test[data-variant='{variant_id}']")
    expect(section).to_contain_text("75%", timeout=WAIT_MS)
    expect(section.locator("[data-field=messages]").first).to_have_text("0", timeout=WAIT_MS)
    expect(section.locator("[data-field=conversion]").first).to_have_text("—")
    with site.database.reader() as session:
        detail = get_template_detail(session, site.project_id, template_id)
    assert detail.variants[0].variant.ab_arms == [
        {"version_id": first.id, "weight": 1},
        {"version_id": challenger.id, "weight": 3},
    ]
    assert_fits(tab, "a template's page with an A/B test")
    assert_accessible(tab, "a template's page with an A/B test")

    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    tab.once("dialog", accept)
    section.get_by_role("button", name=f"Publish v{challenger.number} as the winner").click()
    expect(tab.locator("#ab-none")).to_be_visible(timeout=WAIT_MS)
    assert "goes live" in asked[0]
    with site.database.reader() as session:
        variant = get_template_detail(session, site.project_id, template_id).variants[0]
    assert variant.live is not None
    assert variant.live.id == challenger.id
    assert variant.variant.ab_arms is None
    assert not console.errors
