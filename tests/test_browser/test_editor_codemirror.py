"""The editor's code areas as CodeMirror views, in a real Chromium against the served app.

Typing with the preview following (throttled, one request at a time), completion of the schema's
variables and filters, error markers at the line and column the preview names, the keyboard
rules (Tab indents, Esc then Tab leaves, the Subject is a plain field), insertion of a variable
into the field last worked in, a viewer who cannot change anything, and axe at 1440 and 390 px.
"""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.test_browser.accessibility import assert_accessible, assert_fits
from tests.test_browser.conftest import Console, Site, new_template
from tests.test_browser.editor_page import EditorPage

pytestmark = pytest.mark.browser

MJML = """<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hi {{ customer.first_name }},</mj-text>
        <mj-text>Your code: <strong>{{ code.code }}</strong></mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""
SMS = "Hi {{ customer.first_name }}, your code is {{ code.code }}. " + "More words. " * 20

# Every preview request the page made, from the browser's own resource timing: start and end.
_PREVIEW_REQUESTS = """() => performance.getEntriesByType('resource')
  .filter((e) => e.name.endsWith('/ui/api/preview'))
  .map((e) => [e.startTime, e.responseEnd])"""


def _open(tab: Page, site: Site, name: str, channel: str = "email") -> EditorPage:
    if channel == "email":
        template_id, _ = new_template(site, name, channel, MJML, "Hello {{ customer.first_name }}")
    else:
        template_id, _ = new_template(site, name, channel, SMS)
    editor = EditorPage(tab, site)
    editor.open(template_id)
    return editor


def _focus_is_in(tab: Page, selector: str) -> bool:
    return bool(tab.evaluate(f"() => !!document.activeElement.closest({selector!r})"))


def test_the_preview_follows_continuous_typing(page: tuple[Page, Console], site: Site) -> None:
    tab, console = page
    editor = _open(tab, site, "Follows typing")
    tab.evaluate(
        """() => {
          window.__shown = [];
          new MutationObserver(() => window.__shown.push(
            document.getElementById('preview-frame').srcdoc.match(/Hi ([a-z]*)/)[1])
          ).observe(document.getElementById('preview-frame'),
                    {attributes: true, attributeFilter: ['srcdoc']});
        }"""
    )
    editor.place_cursor_after("Hi ")
    typed = "abcdefghijklmnopqrstuvwxyz"
    editor.page.keyboard.type(typed, delay=100)  # one key every 100 ms, without a pause
    expect(editor.preview.get_by_text(f"Hi {typed}Ana,")).to_be_visible()
    shown: list[str] = tab.evaluate("window.__shown")
    # While the keys kept coming, the preview showed ever longer prefixes of what was typed
    # (a timer reset by each key would show only the first key, then the whole word).
    partial = [text for text in shown if 0 < len(text) < len(typed)]
    assert len(partial) >= 3, shown
    assert all(typed.startswith(text) for text in shown), shown
    assert [len(t) for t in shown] == sorted(len(t) for t in shown), shown  # never older text
    # One request at a time: the next goes once the previous answered, never two out at once.
    requests = tab.evaluate(_PREVIEW_REQUESTS)[1:]  # the first is the page's initial preview
    assert len(requests) >= 4, requests
    for (_, end), (next_start, _) in pairwise(requests):
        assert next_start >= end, requests
    expect(editor.source()).to_have_value(MJML.replace("Hi ", f"Hi {typed}", 1))
    assert not console.errors


def test_completion_of_variables_after_braces_and_filters_after_a_bar(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, console = page
    editor = _open(tab, site, "Completion")
    editor.place_cursor_after("Hi ")
    editor.type("{{ customer.fir")
    options = tab.locator(".cm-tooltip-autocomplete [role=option]")
    expect(options.first).to_contain_text("customer.first_name")
    options.first.click()
    editor.type(" | upp")
    expect(options.first).to_contain_text("upper")
    expect(tab.locator(".cm-tooltip-autocomplete")).not_to_contain_text("customer.")
    # Enter takes the highlighted one (CodeMirror ignores it for 75 ms after the list changes,
    # so that Enter typed in a hurry still breaks the line: a person reads the list first).
    tab.wait_for_timeout(200)
    tab.keyboard.press("Enter")
    editor.type(" }} ")
    expect(editor.preview.get_by_text("Hi ANA Ana,")).to_be_visible()
    # Outside a tag nothing pops up: the template's own text is not Jinja.
    editor.place_cursor_after("Your code")
    editor.type(" cu")
    tab.wait_for_timeout(300)  # long enough for a popup to open, if one were coming
    expect(tab.locator(".cm-tooltip-autocomplete")).to_have_count(0)
    # Ctrl+Space lists the variables inside a tag.
    editor.place_cursor_after("{{ code.")
    tab.keyboard.press("Control+Space")
    expect(tab.locator(".cm-tooltip-autocomplete")).to_contain_text("code.code")
    assert not console.errors


def test_an_error_is_marked_at_its_line_and_column(page: tuple[Page, Console], site: Site) -> None:
    tab, _ = page
    editor = _open(tab, site, "Markers")
    editor.place_cursor_after("Your code: ")
    editor.type("{% if %}")
    line = MJML[: MJML.index("Your code:")].count("\n") + 1
    expect(editor.gutter_mark()).to_have_text(str(line))
    # The underline starts at the column the preview named and covers the tag.
    expect(editor.error_underline()).to_have_text("{% if %}")
    expect(editor.errors.first).to_contain_text(f"line {line}:")
    # Fixed, the markers go.
    for _ in "{% if %}":
        tab.keyboard.press("Backspace")
    expect(editor.gutter_mark()).to_have_count(0)
    expect(editor.error_underline()).to_have_count(0)


def test_tab_indents_esc_then_tab_leaves_and_the_subject_is_a_plain_field(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, _ = page
    editor = _open(tab, site, "Keyboard")
    editor.place_cursor_after("Your code: ")
    tab.keyboard.press("Tab")
    assert _focus_is_in(tab, ".code[data-part=body]")
    expect(editor.source()).to_have_value(MJML.replace("  <mj-text>Your", "    <mj-text>Your"))
    tab.keyboard.press("Escape")
    tab.keyboard.press("Tab")
    assert not _focus_is_in(tab, ".code[data-part=body]")
    expect(editor.source()).to_have_value(MJML.replace("  <mj-text>Your", "    <mj-text>Your"))
    # Tab in the Subject moves on and types nothing (it is one line, not code).
    editor.subject_input.focus()
    tab.keyboard.press("Tab")
    assert not _focus_is_in(tab, "#code-subject")
    expect(editor.subject_input).to_have_value("Hello {{ customer.first_name }}")
    # Shift+Tab from the Format select comes back to the Subject, and Enter there adds no line.
    tab.keyboard.press("Shift+Tab")
    assert _focus_is_in(tab, "#code-subject")


def test_a_variable_goes_into_the_field_last_worked_in(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, _ = page
    editor = _open(tab, site, "Insertion")
    editor.subject_input.click()
    tab.keyboard.press("End")
    editor.type(" at ")
    # Tab on through the body and the text body (Esc, Tab leaves each), to the filter buttons.
    tab.keyboard.press("Tab")  # the Format select
    tab.keyboard.press("Tab")  # the body
    assert _focus_is_in(tab, ".code[data-part=body]")
    tab.keyboard.press("Escape")
    tab.keyboard.press("Tab")  # the text body
    assert _focus_is_in(tab, ".code[data-part=text]")
    tab.keyboard.press("Escape")
    tab.keyboard.press("Tab")
    upper = tab.locator("#filters").get_by_role("button", name="upper")
    upper.focus()
    tab.keyboard.press("Enter")
    expect(editor.subject_input).to_have_value(
        "Hello {{ customer.first_name }} at {{ code.code | upper }}"
    )
    expect(editor.source("body")).to_have_value(MJML)
    expect(editor.source("text")).to_have_value("")
    expect(editor.subject).to_have_text("Hello Ana at ANA-7K2Q")
    # A click in the body makes it the target.
    editor.body.get_by_text("Your code:").click()
    upper.click()
    expect(editor.source("body")).to_have_value(re.compile(re.escape("{{ code.code | upper }}")))
    expect(editor.subject_input).to_have_value(
        "Hello {{ customer.first_name }} at {{ code.code | upper }}"
    )


def test_sms_code_wraps_and_marks_its_jinja(page: tuple[Page, Console], site: Site) -> None:
    tab, _ = page
    editor = _open(tab, site, "SMS code", channel="sms")
    expect(editor.body.locator(".cm-jinja-expr").first).to_have_text("{{ customer.first_name }}")
    # One long line wraps inside the editor instead of scrolling sideways.
    scroller = tab.locator(".code[data-part=body] .cm-scroller")
    assert scroller.evaluate("(node) => node.scrollWidth <= node.clientWidth")
    assert editor.body.locator(".cm-line").count() == 1
    assert_accessible(tab, "the SMS editor")


def test_a_viewer_reads_and_previews_but_changes_nothing(
    viewer: BrowserContext, site: Site
) -> None:
    tab = viewer.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    editor = _open(tab, site, "Read only")
    expect(tab.get_by_label("Format")).to_be_disabled()
    expect(editor.subject_input).not_to_be_editable()
    editor.body.get_by_text("Your code:").click()
    editor.type("zzz")
    tab.locator("#filters").get_by_role("button", name="upper").click()
    expect(editor.source()).to_have_value(MJML)
    expect(editor.body).not_to_contain_text("zzz")
    expect(editor.dirty_flag).to_be_hidden()
    assert_accessible(tab, "the editor, read only")
    tab.close()
    assert not errors, errors


def test_the_editor_is_accessible_with_markers_and_completion(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, _ = page
    editor = _open(tab, site, "Axe")
    assert_accessible(tab, "the editor")
    assert_fits(tab, "the editor")  # the code areas do not widen the page on a phone
    editor.place_cursor_after("Your code: ")
    editor.type("{% if %}")
    expect(editor.gutter_mark()).to_have_count(1)
    editor.place_cursor_after("{{ code.")
    tab.keyboard.press("Control+Space")
    expect(tab.locator(".cm-tooltip-autocomplete")).to_be_visible()
    assert_accessible(tab, "the editor with an error marker and the completion list")
