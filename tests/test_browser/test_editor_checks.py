"""The editor's checks as a marketer meets them: the problems panel predicts Publish, MJML and
variable warnings sit at their lines, and each defect once found in the editor stays fixed (an
unknown variable told from a missing value, null printing "None", an MJML body with Format HTML,
the Google Fonts link, the sample QR image, an SMS test to a formatted number, the variant
question taking any text)."""

from __future__ import annotations

import secrets

import httpx
import pytest
from playwright.sync_api import Page, expect

from distribution.template_store import VersionInput, create_template
from tests.test_browser.accessibility import assert_accessible
from tests.test_browser.conftest import WAIT_MS, Console, Site, new_template, ok
from tests.test_browser.editor_page import EditorPage

pytestmark = pytest.mark.browser


def _mjml(inner: str) -> str:
    head, tail = (
        "<mjml><mj-body><mj-section><mj-column>",
        "</mj-column></mj-section></mj-body></mjml>",
    )
    return f"{head}\n{inner}\n{tail}"


def _open(tab: Page, site: Site, body: str, *, category: str = "transactional") -> EditorPage:
    with site.database.session() as session:
        saved = create_template(
            session,
            site.project_id,
            name=f"Checks {secrets.token_hex(3)}",
            channel="email",
            category=category,
            first_version=VersionInput(body=body, subject="Hello", body_format="mjml"),
            actor="seed@example.com",
        )
    editor = EditorPage(tab, site)
    editor.open(saved.version.template_id)
    return editor


def _problem(tab: Page, code: str) -> str:
    item = tab.locator(f'#problems li[data-code="{code}"]')
    expect(item).to_have_count(1, timeout=WAIT_MS)
    return item.inner_text()


def test_the_panel_names_what_publish_would_refuse_before_publishing(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, console = page
    editor = _open(tab, site, _mjml("<mj-text>Buy now</mj-text>"), category="marketing")
    listed = _problem(tab, "unsubscribe-link")
    expect(tab.locator("#no-problems")).to_be_hidden()
    tab.get_by_role("button", name="Publish").click()
    # Publish says the same thing the panel already said.
    expect(editor.status).to_contain_text("unsubscribe", timeout=WAIT_MS)
    assert "unsubscribe" in listed.lower()
    # With the link, the panel is clear of errors and Publish goes through.
    editor.replace_code(
        _mjml('<mj-text>Buy now <a href="{{ links.unsubscribe_url }}">Unsubscribe</a></mj-text>')
    )
    expect(tab.locator('#problems li[data-code="unsubscribe-link"]')).to_have_count(0)
    expect(tab.locator("#error-list li")).to_have_count(0)
    tab.get_by_role("button", name="Publish").click()
    expect(editor.status).to_contain_text("Published", timeout=WAIT_MS)
    assert_accessible(tab, "the editor after a refusal was fixed")
    assert not console.errors, console.errors


def test_mjml_and_variable_warnings_at_their_lines(page: tuple[Page, Console], site: Site) -> None:
    tab, _ = page
    body = (
        "<mjml><mj-body><mj-section><mj-column>\n"
        "<mj-foo>x</mj-foo>\n"
        '<mj-text colour="red">{{ coupon.code }} {{ customer.nickname }}</mj-text>\n'
        "</mj-column></mj-section></mj-body></mjml>"
    )
    editor = _open(tab, site, body)
    # The variables panel offers the names sends fill (it once offered one they did not).
    expect(tab.locator("#variables")).to_contain_text("referral_link")
    assert "line 2" in _problem(tab, "mjml-unknown-tag")
    assert "line 3" in _problem(tab, "mjml-unknown-attribute")
    # An MJML parse error is listed once, its place said once.
    editor.replace_code(body + "\n<mj-foo>")
    parse_error = _problem(tab, "invalid-mjml")
    assert parse_error.count("line 5") == 1, parse_error
    expect(tab.locator("#error-list li", has_text="never closed")).to_have_count(1)
    editor.replace_code(body)
    expect(tab.locator('#problems li[data-code="invalid-mjml"]')).to_have_count(0)
    # A name no send provides is an unknown variable, not a value missing from the sample.
    unknown = tab.locator('#problems li[data-code="unknown-variable"]')
    expect(unknown).to_have_count(2)
    expect(unknown.first).to_contain_text("coupon.code")
    expect(tab.locator("#missing-list")).not_to_contain_text("coupon.code")
    # The lines carry amber marks in the gutter; a click on the item goes to the line.
    marks = tab.locator(".code[data-part=body] .cm-lineNumbers .cm-gutterElement.warn")
    expect(marks).to_have_text(["2", "3"])
    tab.locator('#problems li[data-code="mjml-unknown-tag"] button').click()
    expect(editor.body).to_be_focused()
    assert_accessible(tab, "the editor with warnings at their lines")


def test_null_prints_nothing_and_an_mjml_body_with_format_html_is_named(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, _ = page
    editor = _open(tab, site, _mjml("<mj-text>Hi {{ customer.first_name }}!</mj-text>"))
    tab.locator("#panel-sample summary").click()
    sample = tab.locator("#sample-json")
    sample.fill('{"customer": {"first_name": null}}')
    _problem(tab, "null-value")
    expect(editor.preview.locator("body")).to_contain_text("Hi !")
    expect(editor.preview.locator("body")).not_to_contain_text("None")
    tab.locator("#sample-reset").click()
    tab.get_by_label("Format").select_option("html")
    assert "Format to MJML" in _problem(tab, "mjml-as-html")


def test_the_preview_links_no_web_font_and_shows_the_sample_qr_code(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, _ = page
    editor = _open(tab, site, _mjml('<mj-image src="{{ code.qr_url }}" alt="Your code" />'))
    assert "fonts.googleapis.com" not in editor.srcdoc()
    image = editor.preview.get_by_role("img", name="Your code")
    expect(image).to_be_visible()
    # The sample QR code is an image the service serves, so it loads in the preview.
    tab.wait_for_timeout(300)
    width = image.evaluate("(img) => img.complete ? img.naturalWidth : -1")
    assert width > 0, width


def test_an_sms_test_goes_to_a_number_written_as_people_write_it(
    page: tuple[Page, Console], site: Site, api: httpx.Client
) -> None:
    tab, _ = page
    template_id, _ = new_template(site, f"Test SMS {secrets.token_hex(3)}", "sms", "Hi there")
    editor = EditorPage(tab, site)
    editor.open(template_id)
    tab.locator("#panel-test summary").click()
    tab.get_by_label("Phone number").fill("+1 415 555 2671")
    tab.get_by_role("button", name="Send test").click()
    expect(editor.test_result).to_contain_text("sent", timeout=WAIT_MS)
    tests = ok(api.get("/v1/messages", params={"test": "true", "channel": "sms"}))["messages"]
    assert "+14155552671" in [m["recipient"] for m in tests], tests


def test_which_variant_is_chosen_refuses_what_is_no_locale(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, _ = page
    _open(tab, site, _mjml("<mj-text>Hi</mj-text>"))
    tab.locator("#panel-variant summary").click()
    tab.get_by_label("Locale").fill("not a locale!!")
    tab.get_by_role("button", name="Check").click()
    expect(tab.locator("#resolve-result")).to_contain_text("locale", timeout=WAIT_MS)
    tab.get_by_label("Locale").fill("pt-BR")
    tab.get_by_role("button", name="Check").click()
    expect(tab.locator("#resolve-result")).not_to_contain_text("not a", timeout=WAIT_MS)
