"""Campaigns, code pools and customers in headless Chromium, from the UI alone; each result is
then checked through the public API with a key of the site's project."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from distribution.accounts.projects import create_api_key
from tests.test_browser.accessibility import assert_accessible
from tests.test_browser.conftest import Console, Site

pytestmark = pytest.mark.browser

#: Generous: the machine is shared; these are waits, not timing checks.
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def api(site: Site) -> Iterator[httpx.Client]:
    """An API client with a key of the site's project."""
    with site.database.session() as session:
        key = create_api_key(session, site.project_id, name=f"catalog-{secrets.token_hex(3)}")
        headers = {"X-App-Id": key.key.app_id, "X-App-Token": key.token}
    with httpx.Client(base_url=site.url, headers=headers, timeout=30) as client:
        yield client


def _ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json()


def test_a_campaign_with_a_pool_generated_and_imported_codes(
    page: tuple[Page, Console], site: Site, api: httpx.Client, tmp_path: Path
) -> None:
    tab, console = page
    name = f"Spring {secrets.token_hex(3)}"
    tab.goto(site.url + "/campaigns")
    expect(tab.locator("#campaigns-state")).to_be_visible()
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
    card.get_by_text("Generate codes from a pattern", exact=True).click()
    card.get_by_label("How many codes").fill("5")
    card.get_by_label("Pattern").fill("SP-##?")
    expect(card.locator('[data-field="combinations"]')).to_have_text("2,600")
    examples = card.locator('[data-field="examples"] li')
    expect(examples).to_have_count(5)
    for text in examples.all_inner_texts():
        assert re.fullmatch(r"SP-\d\d[A-Z]", text), text
    card.get_by_label("Pattern").fill("SP")  # no placeholder: the error shows at the field
    expect(card.locator(f"#{pool_id}-pattern-error")).to_contain_text("needs at least one")
    expect(card.get_by_label("Pattern")).to_have_attribute("aria-invalid", "true")
    assert_accessible(tab, "a pool with a generation error at its field")
    card.get_by_label("Pattern").fill("SP-##?")
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

    # A code goes out: the gauge follows the API after a reload; the threshold is edited.
    _ok(api.post("/v1/customers", json={"source_id": f"c-{pool_id}"}))
    _ok(api.post(f"/v1/code-pools/{pool_id}/assign", json={"customer": f"c-{pool_id}"}))
    tab.reload()
    card = tab.locator(".pool-card")
    counts = _ok(api.get(f"/v1/code-pools/{pool_id}"))
    assert (counts["total"], counts["assigned"], counts["available"]) == (7, 1, 6)
    for key in ("total", "assigned", "available", "revoked"):
        expect(card.locator(f'[data-field="{key}"]')).to_have_text(str(counts[key]))
    expect(card.locator('[data-field="low"]')).to_be_hidden()
    card.get_by_label("Low-stock threshold").fill("10")
    card.get_by_role("button", name="Save threshold").click()
    expect(card.locator('[data-field="low_stock_threshold"]')).to_have_text("10")
    expect(card.locator('[data-field="low"]')).to_have_text("Low stock")
    assert _ok(api.get(f"/v1/code-pools/{pool_id}"))["low_stock_threshold"] == 10
    assert _ok(api.get(f"/v1/campaigns/{campaign_id}"))["referral_url_template"] == (
        "https://shop.example.com/r/{code}?via=mail"
    )

    tab.goto(site.url + "/campaigns")
    row = tab.locator(f'tr[data-campaign="{campaign_id}"]')
    expect(row.get_by_role("link", name=name)).to_be_visible()
    expect(row.locator('[data-field="pools"]')).to_have_text("1")
    expect(row.locator('[data-field="available"]')).to_have_text("6")
    assert_accessible(tab, "the campaigns list")
    assert not console.errors, console.errors
