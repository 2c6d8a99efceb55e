"""Managing templates in headless Chromium, from the UI alone, each result checked in the
database through the same functions the API uses: a locale variant, rename, duplicate, archive,
an old version read only."""

from __future__ import annotations

import re
import secrets

import httpx
import pytest
from playwright.sync_api import Dialog, Page, expect

from distribution.accounts.projects import create_api_key
from distribution.template_store import (
    VersionInput,
    add_version,
    get_template_detail,
    list_templates,
)
from tests.test_browser.accessibility import assert_accessible, assert_fits
from tests.test_browser.conftest import WAIT_MS, Console, Site, new_template
from tests.test_browser.editor_page import EditorPage

pytestmark = pytest.mark.browser

FIRST = (
    "<mjml><mj-body><mj-section><mj-column><mj-text>First words</mj-text>"
    "</mj-column></mj-section></mj-body></mjml>"
)
SMS = "Hi {{ customer.first_name }}, your code is {{ code.code }}"


def _name(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(3)}"


def test_add_a_fr_variant_and_see_it_listed(page: tuple[Page, Console], site: Site) -> None:
    tab, console = page
    template_id, _ = new_template(site, _name("Locale"), "sms", SMS)
    tab.goto(f"{site.url}/templates/{template_id}")
    assert_accessible(tab, "a template's page")
    tab.get_by_text("Add a variant").click()
    assert_accessible(tab, "a template's page, the new-variant form open")
    tab.get_by_label("Locale").fill("not a locale!")
    tab.get_by_role("button", name="Add and edit").click()
    expect(tab.locator("#variant-locale-error")).to_contain_text("BCP 47", timeout=WAIT_MS)
    assert_accessible(tab, "the new-variant form refused")
    tab.get_by_label("Locale").fill("fr")
    tab.get_by_role("button", name="Add and edit").click()
    tab.wait_for_url(f"**/templates/{template_id}/variants/**", timeout=WAIT_MS)
    expect(tab.locator("#variant-label")).to_have_text("fr")
    tab.goto(f"{site.url}/templates/{template_id}")
    expect(tab.locator("#variants-table")).to_contain_text("fr")
    with site.database.reader() as session:
        detail = get_template_detail(session, site.project_id, template_id)
    french = [d for d in detail.variants if d.variant.locale == "fr"]
    assert len(french) == 1
    assert french[0].latest_draft is not None
    assert french[0].latest_draft.body == SMS
    assert not console.errors


def test_rename_and_duplicate(page: tuple[Page, Console], site: Site) -> None:
    tab, console = page
    template_id, _ = new_template(site, _name("Rename"), "sms", SMS)
    taken = _name("Taken")
    new_template(site, taken, "sms", SMS)
    tab.goto(f"{site.url}/templates/{template_id}")
    tab.locator("summary", has_text="Rename").click()
    tab.get_by_label("New name").fill(taken)
    tab.get_by_role("button", name="Rename", exact=True).click()
    expect(tab.locator("#rename-form [data-problem]")).to_contain_text("already exists")
    assert_accessible(tab, "the rename form refused")
    renamed = _name("Renamed")
    tab.get_by_label("New name").fill(renamed)
    tab.get_by_role("button", name="Rename", exact=True).click()
    expect(tab.locator("h1")).to_contain_text(renamed, timeout=WAIT_MS)
    tab.locator("summary", has_text="Duplicate").click()
    copy_name = _name("Copy")
    tab.get_by_label("Name of the copy").fill(copy_name)
    tab.get_by_role("button", name="Duplicate", exact=True).click()
    expect(tab.locator("h1")).to_contain_text(copy_name, timeout=WAIT_MS)
    assert tab.url.rstrip("/").split("/")[-1] != template_id
    with site.database.reader() as session:
        assert get_template_detail(session, site.project_id, template_id).template.name == renamed
        found = list_templates(session, site.project_id, q=copy_name).templates
        assert [t.template.name for t in found] == [copy_name]
        copy = get_template_detail(session, site.project_id, found[0].template.id)
    assert [d.latest_draft.body for d in copy.variants if d.latest_draft] == [SMS]
    assert not console.errors


def test_archive_asks_first_then_leaves_the_list(page: tuple[Page, Console], site: Site) -> None:
    tab, console = page
    name = _name("Archive")
    template_id, _ = new_template(site, name, "sms", SMS)
    tab.goto(f"{site.url}/templates/{template_id}")
    asked: list[str] = []

    def answer(dialog: Dialog, accept: bool) -> None:
        asked.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    tab.once("dialog", lambda d: answer(d, False))
    tab.get_by_role("button", name="Archive…").click()
    expect(tab.locator("h1")).to_contain_text(name)
    assert asked
    assert "stops sending" in asked[0]
    with site.database.reader() as session:
        assert get_template_detail(session, site.project_id, template_id).status != "archived"
    tab.once("dialog", lambda d: answer(d, True))
    tab.get_by_role("button", name="Archive…").click()
    tab.wait_for_url(re.compile(r".*/templates/?$"), timeout=WAIT_MS)
    tab.get_by_label("Search").fill(name)
    tab.get_by_role("button", name="Filter").click()
    expect(tab.locator(".empty")).to_contain_text("No template matches")
    with site.database.reader() as session:
        assert get_template_detail(session, site.project_id, template_id).status == "archived"
    assert not console.errors


def test_open_an_old_version_read_only_and_restore_it(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, console = page
    template_id, variant_id = new_template(
        site, _name("History"), "email", FIRST, subject="Old subject"
    )
    with site.database.session() as session:
        add_version(
            session,
            site.project_id,
            template_id,
            VersionInput(body="<p>Second words</p>", subject="New subject", body_format="html"),
            actor="seed@example.com",
        )
    tab.goto(f"{site.url}/templates/{template_id}")
    tab.get_by_role("link", name="v1", exact=True).click()
    tab.wait_for_url(f"**/templates/{template_id}/versions/**")
    expect(tab.locator("h1")).to_contain_text("version 1")
    expect(tab.locator("#source-body")).to_have_text(FIRST)
    expect(tab.frame_locator("#preview-frame").locator("body")).to_contain_text(
        "First words", timeout=WAIT_MS
    )
    expect(tab.locator("textarea, input:not([type=hidden])")).to_have_count(0)  # read only
    assert_accessible(tab, "an old version, read only")
    tab.get_by_role("button", name="Restore as a new draft").click()
    tab.wait_for_url(f"**/templates/{template_id}/variants/{variant_id}", timeout=WAIT_MS)
    expect(tab.locator("#code-body")).to_have_value(FIRST)
    with site.database.reader() as session:
        detail = get_template_detail(session, site.project_id, template_id)
    assert [v.number for v in detail.versions] == [3, 2, 1]
    assert detail.versions[0].body == FIRST
    # The editor's history opens a version the same way.
    tab.locator("#panel-history summary").click()
    tab.locator('#history li[data-version="2"]').get_by_role("link", name="Open").click()
    tab.wait_for_url(f"**/templates/{template_id}/versions/{detail.versions[1].id}")
    expect(tab.locator("h1")).to_contain_text("version 2")
    assert not console.errors


def test_two_tabs_the_later_save_is_refused_with_the_change_and_keeps_its_text(
    page: tuple[Page, Console], site: Site
) -> None:
    tab_a, console = page
    template_id, variant_id = new_template(site, _name("Shared"), "sms", SMS)
    editor = f"{site.url}/templates/{template_id}/variants/{variant_id}"
    tab_b = tab_a.context.new_page()
    try:
        for tab in (tab_a, tab_b):
            tab.goto(editor)
            tab.wait_for_function("() => Number(document.body.dataset.previews || 0) >= 1")
        EditorPage(tab_a, site).replace_code("A's words {{ code.code }}")
        tab_a.get_by_role("button", name="Save draft").click()
        expect(tab_a.locator("#status")).to_contain_text("Saved draft v2", timeout=WAIT_MS)

        EditorPage(tab_b, site).replace_code("B's words {{ code.code }}")
        tab_b.get_by_role("button", name="Publish").click()
        conflict = tab_b.locator("#conflict")
        expect(conflict).to_be_visible(timeout=WAIT_MS)
        expect(conflict).to_contain_text("Version 2 was saved by")
        expect(tab_b.locator("#conflict-theirs")).to_contain_text("A's words")
        expect(tab_b.locator("#conflict-yours")).to_contain_text("B's words")
        expect(tab_b.locator("#code-body")).to_have_value("B's words {{ code.code }}")
        assert_accessible(tab_b, "the editor with a save conflict")
        with site.database.reader() as session:
            detail = get_template_detail(session, site.project_id, template_id)
        assert [v.body for v in detail.versions] == ["A's words {{ code.code }}", SMS]
        assert detail.variants[0].live is None  # B's publish did not go through either

        tab_b.get_by_role("button", name="Save mine as a new draft on top").click()
        expect(tab_b.locator("#status")).to_contain_text("Saved draft v3", timeout=WAIT_MS)
        expect(conflict).to_be_hidden()
        with site.database.reader() as session:
            detail = get_template_detail(session, site.project_id, template_id)
        assert detail.versions[0].body == "B's words {{ code.code }}"
        assert not console.errors
    finally:
        tab_b.close()


def test_a_stale_tab_cannot_publish_its_older_draft(page: tuple[Page, Console], site: Site) -> None:
    tab_a, console = page
    template_id, variant_id = new_template(site, _name("Race"), "sms", SMS)
    editor = f"{site.url}/templates/{template_id}/variants/{variant_id}"
    tab_b = tab_a.context.new_page()
    try:
        for tab in (tab_a, tab_b):
            tab.goto(editor)
            tab.wait_for_function("() => Number(document.body.dataset.previews || 0) >= 1")
        EditorPage(tab_a, site).replace_code("A's newer words {{ code.code }}")
        tab_a.get_by_role("button", name="Save draft").click()
        expect(tab_a.locator("#status")).to_contain_text("Saved draft v2", timeout=WAIT_MS)
        tab_b.get_by_role("button", name="Publish").click()  # B typed nothing
        expect(tab_b.locator("#conflict")).to_be_visible(timeout=WAIT_MS)
        expect(tab_b.locator("#status")).to_contain_text("Not published")
        with site.database.reader() as session:
            assert get_template_detail(session, site.project_id, template_id).status == "draft"
        assert not console.errors
    finally:
        tab_b.close()


def test_the_editor_passes_axe(page: tuple[Page, Console], site: Site) -> None:
    tab, _ = page
    template_id, variant_id = new_template(site, _name("Axe"), "email", FIRST, subject="Hi")
    tab.goto(f"{site.url}/templates/{template_id}/variants/{variant_id}")
    tab.wait_for_function("() => Number(document.body.dataset.previews || 0) >= 1")
    assert_accessible(tab, "the email editor")
    template_id, variant_id = new_template(site, _name("Axe SMS"), "sms", SMS)
    tab.goto(f"{site.url}/templates/{template_id}/variants/{variant_id}")
    tab.wait_for_function("() => Number(document.body.dataset.previews || 0) >= 1")
    assert_accessible(tab, "the SMS editor")


def test_a_test_send_appears_in_deliveries_and_the_api_marked_as_a_test(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, console = page
    template_id, variant_id = new_template(site, _name("Tested"), "email", FIRST, subject="Hi")
    tab.goto(f"{site.url}/templates/{template_id}/variants/{variant_id}")
    tab.wait_for_function("() => Number(document.body.dataset.previews || 0) >= 1")
    address = f"tester-{secrets.token_hex(3)}@example.com"
    tab.locator("#panel-test summary").click()
    tab.get_by_label("Email address").fill(address)
    tab.get_by_label("Provider").select_option("capture")
    tab.get_by_role("button", name="Send test").click()
    expect(tab.locator("#test-result")).to_contain_text("sent via capture", timeout=WAIT_MS)
    tab.get_by_role("link", name="See it in Deliveries").click()
    tab.wait_for_url("**/deliveries?test=true")
    row = tab.locator("#feed-rows tr", has_text=address)
    expect(row).to_contain_text("test", timeout=WAIT_MS)
    expect(row).to_contain_text("Test send from the editor")
    assert_accessible(tab, "deliveries filtered to test sends")
    row.click()
    expect(tab.locator("#message-detail")).to_be_visible()
    expect(tab.frame_locator("#message-detail iframe").locator("body")).to_contain_text(
        "First words", timeout=WAIT_MS
    )

    with site.database.session() as session:
        key = create_api_key(session, site.project_id, name=f"tests-{secrets.token_hex(3)}")
        headers = {"X-App-Id": key.key.app_id, "X-App-Token": key.token}
    listed = httpx.get(f"{site.url}/v1/messages?test=true", headers=headers, timeout=30)
    assert listed.status_code == 200, listed.text
    mine = [m for m in listed.json()["messages"] if m["recipient"] == address]
    assert len(mine) == 1
    assert mine[0]["test"] is True
    assert mine[0]["template_id"] == template_id
    real = httpx.get(f"{site.url}/v1/messages?test=false", headers=headers, timeout=30).json()
    assert all(m["recipient"] != address for m in real["messages"])
    assert not console.errors


def test_the_templates_list_filled_and_empty(page: tuple[Page, Console], site: Site) -> None:
    tab, console = page
    name = _name("Listed")
    new_template(site, name, "sms", SMS)
    tab.goto(f"{site.url}/templates/?q={name}")
    row = tab.locator("#templates-table tbody tr", has_text=name)
    expect(row).to_have_count(1)
    # The date in the one format (dm.when), not the raw stamp the server wrote.
    expect(row.locator("time")).not_to_contain_text("UTC")
    expect(row.locator("time")).to_have_attribute("title", re.compile(r"Z$"))
    assert_accessible(tab, "the templates list")
    tab.goto(f"{site.url}/templates/?q=nothing-like-this-{secrets.token_hex(3)}")
    expect(tab.locator(".empty")).to_contain_text("No template matches these filters")
    assert_accessible(tab, "the templates list, nothing found")
    assert not console.errors


def test_the_template_pages_fit_narrow_screens(page: tuple[Page, Console], site: Site) -> None:
    tab, _ = page
    template_id, variant_id = new_template(site, _name("Narrow"), "email", FIRST, subject="Hi")
    tab.goto(f"{site.url}/templates/")
    assert_fits(tab, "the templates list")
    tab.goto(f"{site.url}/templates/{template_id}")
    assert_fits(tab, "a template's page")
    tab.get_by_role("link", name="v1", exact=True).click()
    expect(tab.frame_locator("#preview-frame").locator("body")).to_contain_text(
        "First words", timeout=WAIT_MS
    )
    assert_fits(tab, "an old version")
    tab.goto(f"{site.url}/templates/{template_id}/variants/{variant_id}")
    tab.wait_for_function("() => Number(document.body.dataset.previews || 0) >= 1")
    assert_fits(tab, "the editor")


def test_start_a_template_from_the_list(page: tuple[Page, Console], site: Site) -> None:
    tab, console = page
    taken = _name("Existing")
    new_template(site, taken, "sms", SMS)
    tab.goto(f"{site.url}/templates/")
    tab.locator("summary", has_text="New template").click()
    assert_accessible(tab, "the templates list, the new-template form open")
    form = tab.locator("#new-template-form")
    form.get_by_label("Name").fill(taken)
    form.get_by_label("Channel").select_option("sms")
    tab.get_by_role("button", name="Create and edit").click()
    expect(tab.locator("#new-template-form [data-problem]")).to_contain_text("already exists")
    assert_accessible(tab, "the new-template form refused")
    name = _name("Started")
    form.get_by_label("Name").fill(name)
    tab.get_by_role("button", name="Create and edit").click()
    tab.wait_for_url("**/variants/**", timeout=WAIT_MS)
    expect(tab.locator("#template-name")).to_have_text(name)
    with site.database.reader() as session:
        [found] = list_templates(session, site.project_id, q=name).templates
    assert found.template.channel == "sms"
    assert found.template.category == "transactional"
    assert not console.errors
