"""The template editor as a person sees it: its parts and what can be done there.

The browser tests speak in these terms, so a change of markup is fixed here once rather than in
every test.
"""

from __future__ import annotations

import re

from playwright.sync_api import FrameLocator, Locator, Page

from tests.test_browser.conftest import Site

# The width of the preview frame as laid out, which the device tabs change.
_FRAME_WIDTH = "document.getElementById('preview-frame').getBoundingClientRect().width"


class EditorPage:
    """A variant's editor page: code, preview, checks, SMS counter, history and test send."""

    def __init__(self, page: Page, site: Site) -> None:
        self.page = page
        self.site = site

    def open(self, template_id: str) -> None:
        """From the template's page to the editor, the way a person gets there."""
        self.page.goto(f"{self.site.url}/templates/{template_id}")
        self.page.get_by_role("link", name=re.compile("^(Edit|Open)$")).first.click()
        self.page.wait_for_url(f"**/templates/{template_id}/variants/**")
        self.wait_for_first_preview()

    def wait_for_first_preview(self) -> None:
        self.page.wait_for_function("() => Number(document.body.dataset.previews || 0) >= 1")

    # The code.

    @property
    def body(self) -> Locator:
        """The body's code editor (a CodeMirror view), where a person types."""
        return self.code("body")

    def code(self, part: str) -> Locator:
        """A code area's editable content: "body" or "text" (the Subject is an input)."""
        return self.page.locator(f".code[data-part={part}] .cm-content")

    def source(self, part: str = "body") -> Locator:
        """The part's value as the page keeps it (the hidden field the code editor fills)."""
        return self.page.locator(f"#code-{part}")

    @property
    def subject_input(self) -> Locator:
        return self.page.locator("#code-subject")

    def replace_code(self, text: str, part: str = "body") -> None:
        """Select everything in a code area and type `text` over it, as a person pastes."""
        self.code(part).click()
        self.page.keyboard.press("Control+a")
        self.page.keyboard.insert_text(text)

    def place_cursor_after(self, text: str) -> None:
        """Put the caret right after the first `text` in the body, as a click there would."""
        self.page.evaluate(
            """(text) => {
              const view = CM.EditorView.findFromDOM(
                document.querySelector('.code[data-part=body]'));
              const at = view.state.doc.toString().indexOf(text) + text.length;
              view.focus();
              view.dispatch({selection: {anchor: at}, scrollIntoView: true});
            }""",
            text,
        )

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)

    def selected_code(self) -> str:
        return str(
            self.page.evaluate(
                """() => {
                  const view = CM.EditorView.findFromDOM(
                    document.querySelector('.code[data-part=body]'));
                  const range = view.state.selection.main;
                  return view.state.sliceDoc(range.from, range.to);
                }"""
            )
        )

    @property
    def dirty_flag(self) -> Locator:
        return self.page.locator("#dirty-flag")

    # The preview.

    @property
    def preview(self) -> FrameLocator:
        return self.page.frame_locator("#preview-frame")

    def srcdoc(self) -> str:
        """The HTML the preview frame shows."""
        return str(self.page.locator("#preview-frame").get_attribute("srcdoc") or "")

    def shown_message_html(self) -> str:
        """The message's HTML in the preview, without the style sheet the editor puts first."""
        return str(
            self.page.evaluate(
                "() => document.getElementById('preview-frame')"
                ".srcdoc.replace(/^<style>.*?<\\/style>/, '')"
            )
        )

    @property
    def subject(self) -> Locator:
        return self.page.locator("#preview-subject")

    @property
    def text_part(self) -> Locator:
        return self.page.locator("#preview-text")

    @property
    def stale_notice(self) -> Locator:
        return self.page.locator("#preview-stale")

    def show(self, device: str) -> None:
        """Switch the preview tab: "Desktop", "Mobile" or "Plain text"."""
        self.page.get_by_role("tab", name=device).click()

    def wait_for_frame_width(self, condition: str) -> None:
        """Wait until the frame is as wide as `condition` says (such as "=== 375")."""
        self.page.wait_for_function(f"() => {_FRAME_WIDTH} {condition}")

    # Checks.

    @property
    def errors(self) -> Locator:
        return self.page.locator("#error-list li")

    def gutter_mark(self) -> Locator:
        """The line number marked bad in the body's gutter."""
        return self.page.locator(".code[data-part=body] .cm-lineNumbers .cm-gutterElement.bad")

    def error_underline(self) -> Locator:
        """The code underlined as an error in the body (a lint diagnostic's range)."""
        return self.page.locator(".code[data-part=body] .cm-lintRange-error")

    # The SMS counter.

    @property
    def sms_length(self) -> Locator:
        return self.page.locator("#sms-length")

    @property
    def sms_segments(self) -> Locator:
        return self.page.locator("#sms-segments")

    @property
    def sms_encoding(self) -> Locator:
        return self.page.locator("#sms-encoding")

    @property
    def sms_bubble(self) -> Locator:
        return self.page.locator("#sms-bubble")

    @property
    def sms_ucs2(self) -> Locator:
        return self.page.locator("#sms-ucs2")

    def rewrite_gsm_safe(self) -> None:
        self.page.get_by_label(re.compile("GSM-safe rewrite")).check()

    # Saving, publishing and the history.

    @property
    def status(self) -> Locator:
        return self.page.locator("#status")

    def save_draft(self) -> None:
        self.page.get_by_role("button", name="Save draft").click()

    def publish(self) -> None:
        self.page.get_by_role("button", name="Publish").click()

    def open_history(self) -> None:
        self.page.locator("#panel-history summary").click()

    def version(self, number: int) -> Locator:
        """A version's row in the history panel."""
        return self.page.locator("#history").locator(f"li[data-version='{number}']")

    def compare_with_live(self, number: int) -> None:
        self.version(number).get_by_role("button", name="Compare with live").click()

    def restore(self, number: int) -> None:
        self.version(number).get_by_role("button", name="Restore").click()

    @property
    def comparison(self) -> Locator:
        return self.page.locator("#compare-diff")

    def close_comparison(self) -> None:
        self.page.locator("#compare-box").get_by_role("button", name="Close").click()

    # Sending a test.

    def send_test(self, address: str, provider: str) -> None:
        self.page.locator("#panel-test summary").click()
        self.page.get_by_label("Email address").fill(address)
        self.page.get_by_label("Provider").select_option(provider)
        self.page.get_by_role("button", name="Send test").click()

    @property
    def test_result(self) -> Locator:
        return self.page.locator("#test-result")
