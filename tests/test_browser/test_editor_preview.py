"""The message as the recipient sees it, in the editor's preview: the inbox row, the real widths
of desktop (600 px) and phone (375 px) mail, dark mode, the plain-text tab on its own, and an SMS
with its segment breaks and the characters that force UCS-2 named."""

from __future__ import annotations

import pytest
from playwright.sync_api import Frame, Page, expect

from tests.test_browser.accessibility import assert_accessible
from tests.test_browser.conftest import WAIT_MS, Console, Site, new_template
from tests.test_browser.editor_page import EditorPage

pytestmark = pytest.mark.browser

PLAIN = (
    "<mjml><mj-body><mj-section><mj-column>"
    '<mj-text color="#111111">Hi {{ customer.first_name }}, your code is {{ code.code }}</mj-text>'
    "</mj-column></mj-section></mj-body></mjml>"
)
OWN_DARK = (
    "<mjml><mj-head><mj-style>@media (prefers-color-scheme: dark) "
    "{ body, .dark-aware { background: #000001 !important; } }</mj-style></mj-head>"
    '<mj-body><mj-section css-class="dark-aware"><mj-column><mj-text>Hello</mj-text>'
    "</mj-column></mj-section></mj-body></mjml>"
)
# What the preview's own document says about itself.
_WIDTH = "innerWidth"
_FILTER = "getComputedStyle(document.documentElement).filter"
_BACKGROUND = "getComputedStyle(document.body).backgroundColor"


def _frame(tab: Page) -> Frame:
    handle = tab.wait_for_selector("#preview-frame", state="attached")
    frame = handle.content_frame() if handle else None
    assert frame is not None
    return frame


def _until(tab: Page, expression: str) -> None:
    """Wait until ``expression`` is true in the preview's document (it is re-rendered). Polled
    from here: the frame runs no script (sandbox), so Playwright's in-page waits never run."""
    for _ in range(WAIT_MS // 100):
        if _frame(tab).evaluate(expression):
            return
        tab.wait_for_timeout(100)
    raise AssertionError(f"never true in the preview: {expression}")


def _open(tab: Page, site: Site, name: str, body: str, subject: str) -> EditorPage:
    template_id, _ = new_template(site, name, "email", body, subject)
    editor = EditorPage(tab, site)
    editor.open(template_id)
    return editor


def test_the_inbox_row_real_widths_and_the_plain_text_tab(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, console = page
    editor = _open(tab, site, "Inbox row", PLAIN, "Your code, {{ customer.first_name }}")
    row = tab.locator("#inbox-row")
    expect(row.locator("#inbox-from")).not_to_be_empty()
    expect(row.locator("#preview-subject")).to_have_text("Your code, Ana")
    # The preheader: the opening text of the body, as an inbox shows it beside the subject.
    expect(row.locator("#inbox-preheader")).to_contain_text("Hi Ana, your code is ANA-7K2Q")
    frame = tab.frame_locator("#preview-frame")
    expect(frame.locator("body")).to_contain_text("your code is ANA-7K2Q")
    # Laid out at 600 px as a desktop client does, zoomed out when the column is narrower.
    assert _frame(tab).evaluate(_WIDTH) == 600
    editor.show("Mobile")
    _until(tab, f"{_WIDTH} === 375")
    # Plain text shows the text part alone: the frame is hidden, not below it.
    editor.show("Plain text")
    expect(editor.text_part).to_contain_text("your code is ANA-7K2Q")
    expect(tab.locator("#preview-email")).to_be_hidden()
    editor.show("Desktop")
    expect(tab.locator("#preview-email")).to_be_visible()
    assert_accessible(tab, "the editor's preview with its inbox row")
    assert not console.errors, console.errors


def test_dark_mode_inverts_a_plain_email_and_uses_an_emails_own_dark_styles(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, _ = page
    _open(tab, site, "Dark plain", PLAIN, "Hello")
    assert "invert" not in _frame(tab).evaluate(_FILTER)
    tab.get_by_label("Dark mode").check()
    _until(tab, f"{_FILTER}.includes('invert')")

    _open(tab, site, "Dark aware", OWN_DARK, "Hello")
    tab.get_by_label("Dark mode").check()
    _until(tab, f"{_BACKGROUND} === 'rgb(0, 0, 1)'")
    assert "invert" not in _frame(tab).evaluate(_FILTER)
    tab.get_by_label("Dark mode").uncheck()
    _until(tab, f"{_BACKGROUND} !== 'rgb(0, 0, 1)'")


def test_an_sms_shows_where_each_segment_starts_and_names_ucs2_characters(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, _ = page
    template_id, _ = new_template(site, "Segments", "sms", "a" * 150 + " {{ 'b' * 20 }} 🎉")
    editor = EditorPage(tab, site)
    editor.open(template_id)
    expect(editor.sms_segments).to_have_text("3")
    breaks = editor.sms_bubble.locator(".seg-break")
    expect(breaks).to_have_count(2)
    expect(breaks.nth(0)).to_have_attribute("data-segment", "2")
    expect(breaks.nth(0)).to_have_attribute("aria-label", "segment 2 starts here")
    # The text of the bubble stays the message: the numbers are drawn by CSS.
    expect(editor.sms_bubble).to_have_text("a" * 150 + " " + "b" * 20 + " 🎉")
    expect(editor.sms_ucs2).to_contain_text("U+1F389 PARTY POPPER")
    assert_accessible(tab, "an SMS with segment breaks and a UCS-2 character")
