"""The editor in a real headless Chromium against the app served by uvicorn."""

from __future__ import annotations

import re
import statistics

import pytest
from playwright.sync_api import Page, expect

from tests.test_browser.conftest import ARTIFACTS, Console, Site, new_template, write_artifact

pytestmark = pytest.mark.browser

SECTION = """    <mj-section padding="8px 0">
      <mj-column>
        <mj-text font-size="15px">Section {n}: {{{{ campaign.name }}}} keeps going for
          {{{{ customer.first_name | default('friend') }}}}.</mj-text>
      </mj-column>
    </mj-section>
"""
REFERRAL_MJML = (
    """<mjml>
  <mj-head>
    <mj-attributes><mj-all font-family="Helvetica, Arial, sans-serif" /></mj-attributes>
    <mj-style>.code { letter-spacing: 2px; }</mj-style>
  </mj-head>
  <mj-body background-color="#f4f4f4">
    <mj-section background-color="#ffffff">
      <mj-column>
        <mj-text font-size="20px" css-class="greeting">Hi {{ customer.first_name }},</mj-text>
        <mj-text>Give your friends {{ reward.amount | money(reward.currency) }} off.</mj-text>
        <mj-text css-class="code">Your code: <strong>{{ code.code }}</strong></mj-text>
        <mj-button href="{{ code.referral_link }}">Share your link</mj-button>
      </mj-column>
    </mj-section>
"""
    + "".join(SECTION.format(n=n) for n in range(1, 8))
    + """    {% if order.items %}
    <mj-section>
      <mj-column>
        {% for item in order.items %}
        <mj-text>{{ item.name }} x {{ item.quantity }}</mj-text>
        {% endfor %}
      </mj-column>
    </mj-section>
    {% endif %}
    <mj-section>
      <mj-column>
        <mj-text font-size="11px">{{ project.name }} ·
          <a href="{{ links.unsubscribe_url }}">Unsubscribe</a></mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""
)


def open_editor(page: Page, site: Site, template_id: str) -> None:
    """From the templates list to the editor, the way a person gets there."""
    page.goto(f"{site.url}/templates/{template_id}")
    page.get_by_role("link", name=re.compile("^(Edit|Open)$")).first.click()
    page.wait_for_url(f"**/templates/{template_id}/variants/**")
    page.wait_for_function("() => Number(document.body.dataset.previews || 0) >= 1")


def srcdoc(page: Page) -> str:
    return str(page.locator("#preview-frame").get_attribute("srcdoc") or "")


def place_cursor_after(page: Page, text: str) -> None:
    page.evaluate(
        """(text) => {
          const area = document.getElementById('code-body');
          const at = area.value.indexOf(text) + text.length;
          area.focus();
          area.setSelectionRange(at, at);
        }""",
        text,
    )


def test_sign_in_open_type_and_see_the_preview_change(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, console = page
    new_template(
        site, "Referral invite", "email", REFERRAL_MJML, "{{ customer.first_name }}, a gift"
    )
    tab.goto(site.url + "/templates/?q=Referral")
    tab.get_by_role("link", name="Referral invite").click()
    expect(tab.locator("#variants-table")).to_contain_text("default")
    tab.get_by_role("link", name="Edit").first.click()
    tab.wait_for_function("() => Number(document.body.dataset.previews || 0) >= 1")
    expect(tab.locator("#preview-subject")).to_have_text("Ana, a gift")
    frame = tab.frame_locator("#preview-frame")
    expect(frame.get_by_text("Your code:")).to_be_visible()
    assert "Hi Ana," in srcdoc(tab)

    place_cursor_after(tab, "Hi ")
    tab.keyboard.type("dear ")
    expect(frame.get_by_text("Hi dear Ana,")).to_be_visible()
    expect(tab.locator("#dirty-flag")).to_be_visible()

    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "editor.png"), full_page=True)
    assert (ARTIFACTS / "editor.png").stat().st_size > 10_000

    # Keystroke to updated preview, measured in the page: keydown to the srcdoc change.
    tab.evaluate(
        """() => {
          window.__latency = [];
          const area = document.getElementById('code-body');
          const frame = document.getElementById('preview-frame');
          let started = null;
          area.addEventListener('keydown', () => { started = performance.now(); }, true);
          new MutationObserver(() => {
            if (started === null) return;
            window.__latency.push(performance.now() - started);
            started = null;
          }).observe(frame, {attributes: true, attributeFilter: ['srcdoc']});
        }"""
    )
    place_cursor_after(tab, "Your code:")
    for count in range(1, 21):
        tab.wait_for_timeout(350)  # a pause between keystrokes, as when a person edits a word
        tab.keyboard.type("x")
        tab.wait_for_function(f"() => window.__latency.length >= {count}")
    samples = sorted(tab.evaluate("window.__latency"))
    p50 = statistics.median(samples)
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    print(
        f"\nkeystroke to updated preview over {len(samples)} keystrokes: "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms (realistic MJML template, 10 sections)"
    )
    write_artifact(
        "preview-latency.json",
        {
            "keystrokes": len(samples),
            "p50_ms": round(p50, 1),
            "p95_ms": round(p95, 1),
            "samples_ms": [round(s, 1) for s in samples],
        },
    )
    expect(tab.frame_locator("#preview-frame").get_by_text("Your code:" + "x" * 20)).to_be_visible()
    assert not console.errors


def test_syntax_error_shows_its_line_and_keeps_the_last_preview(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, _ = page
    template_id, _ = new_template(site, "Syntax check", "email", REFERRAL_MJML, "Hi")
    open_editor(tab, site, template_id)
    good = srcdoc(tab)
    assert "Your code:" in good
    place_cursor_after(tab, "Your code: <strong>")
    tab.keyboard.type("{% if %}")
    line = REFERRAL_MJML[: REFERRAL_MJML.index("Your code:")].count("\n") + 1
    error = tab.locator("#error-list li").first
    expect(error).to_contain_text(f"line {line}:")
    expect(tab.locator("#preview-stale")).to_be_visible()
    expect(tab.locator(".code[data-part=body] .gutter .bad")).to_have_text(str(line))
    assert srcdoc(tab) == good  # the last good preview stays
    expect(tab.frame_locator("#preview-frame").get_by_text("Your code:")).to_be_visible()
    # Clicking the error selects the line in the code.
    error.get_by_role("button").click()
    selected = tab.evaluate(
        "() => { const a = document.getElementById('code-body');"
        " return a.value.slice(a.selectionStart, a.selectionEnd); }"
    )
    assert "{% if %}" in selected

    # Mobile width.
    tab.get_by_role("tab", name="Mobile").click()
    frame_width = "document.getElementById('preview-frame').getBoundingClientRect().width"
    tab.wait_for_function(f"() => {frame_width} === 375")  # after the width transition
    tab.get_by_role("tab", name="Plain text").click()
    expect(tab.locator("#preview-text")).to_contain_text("Your code:")
    tab.get_by_role("tab", name="Desktop").click()
    tab.wait_for_function(f"() => {frame_width} > 500")


def test_sms_counter_segments_and_ucs2(page: tuple[Page, Console], site: Site) -> None:
    tab, _ = page
    template_id, _ = new_template(site, "SMS counter", "sms", "a" * 159)
    open_editor(tab, site, template_id)
    expect(tab.locator("#sms-length")).to_have_text("159")
    body = tab.locator("#code-body")
    body.focus()
    tab.keyboard.press("End")
    tab.keyboard.type("b")
    expect(tab.locator("#sms-length")).to_have_text("160")
    expect(tab.locator("#sms-segments")).to_have_text("1")
    expect(tab.locator("#sms-encoding")).to_have_text("GSM-7")
    tab.keyboard.type("c")  # the 161st GSM character
    expect(tab.locator("#sms-length")).to_have_text("161")
    expect(tab.locator("#sms-segments")).to_have_text("2")
    tab.keyboard.type("🎉")
    expect(tab.locator("#sms-encoding")).to_have_text("UCS-2")
    expect(tab.locator("#sms-length")).to_have_text("163")  # the emoji costs two code units
    expect(tab.locator("#sms-segments")).to_have_text("3")
    expect(tab.locator("#sms-bubble mark.ucs2")).to_have_text("🎉")
    expect(tab.locator("#sms-ucs2")).to_contain_text("🎉")
    # The GSM-safe switch turns smart quotes into plain ones; the emoji still forces UCS-2.
    tab.keyboard.press("Backspace")
    tab.keyboard.type("“ok”")
    expect(tab.locator("#sms-encoding")).to_have_text("UCS-2")
    tab.get_by_label(re.compile("GSM-safe rewrite")).check()
    expect(tab.locator("#sms-encoding")).to_have_text("GSM-7")
    expect(tab.locator("#sms-bubble")).to_contain_text('"ok"')


def test_save_publish_restore(page: tuple[Page, Console], site: Site) -> None:
    tab, _ = page
    template_id, _ = new_template(site, "History", "sms", "Version one {{ code.code }}")
    open_editor(tab, site, template_id)
    body = tab.locator("#code-body")
    body.fill("Version two {{ code.code }}")
    tab.get_by_role("button", name="Save draft").click()
    expect(tab.locator("#status")).to_contain_text("Saved draft v2")
    expect(tab.locator("#dirty-flag")).to_be_hidden()
    tab.get_by_role("button", name="Publish").click()
    expect(tab.locator("#status")).to_contain_text("Published v2")
    tab.locator("#panel-history summary").click()
    history = tab.locator("#history")
    expect(history.locator("li[data-version='2']")).to_contain_text("live")
    expect(history.locator("li[data-version='2']")).to_contain_text("published")
    expect(history.locator("li[data-version='2']")).to_contain_text(site.editor_email)
    # Compare version 1 with the live one.
    history.locator("li[data-version='1']").get_by_role("button", name="Compare with live").click()
    expect(tab.locator("#compare-diff")).to_contain_text("-Version two")
    expect(tab.locator("#compare-diff")).to_contain_text("+Version one")
    # Restore version 1: a new draft (v3) with its text, loaded in the editor.
    history.locator("li[data-version='1']").get_by_role("button", name="Restore").click()
    expect(tab.locator("#status")).to_contain_text("Restored v1 as draft v3")
    expect(body).to_have_value("Version one {{ code.code }}")
    expect(history.locator("li[data-version='3']")).to_contain_text("draft")
    expect(tab.locator("#sms-bubble")).to_contain_text("Version one ANA-7K2Q")
    # Unsaved changes ask before leaving.
    body.fill("Version four")
    with tab.expect_event("dialog") as asked:
        tab.close(run_before_unload=True)
    assert asked.value.type == "beforeunload"
    asked.value.dismiss()  # stay on the page


def test_send_a_test_to_smtp_matches_the_preview(page: tuple[Page, Console], site: Site) -> None:
    tab, _ = page
    template_id, _ = new_template(
        site, "Send test", "email", REFERRAL_MJML, "{{ customer.first_name }}, your code"
    )
    open_editor(tab, site, template_id)
    shown_html = tab.evaluate(
        "() => document.getElementById('preview-frame').srcdoc.replace(/^<style>.*?<\\/style>/, '')"
    )
    tab.locator("#panel-test summary").click()
    tab.get_by_label("Email address").fill("friend@example.com")
    tab.get_by_label("Provider").select_option("local-smtp")
    before = len(site.inbox)
    tab.get_by_role("button", name="Send test").click()
    expect(tab.locator("#test-result")).to_contain_text("sent via local-smtp")
    assert len(site.inbox) == before + 1
    received = site.inbox[-1]
    assert received["To"] == "friend@example.com"
    assert received["Subject"] == tab.locator("#preview-subject").inner_text()
    html_part = received.get_body(preferencelist=("html",))
    assert html_part is not None
    sent_html = html_part.get_content()
    assert " ".join(sent_html.split()) == " ".join(str(shown_html).split())
    text_part = received.get_body(preferencelist=("plain",))
    assert text_part is not None
    assert "Your code: ANA-7K2Q" in text_part.get_content()


def test_a_script_in_a_template_cannot_run_in_the_editor(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, console = page
    body = (
        "<html><body><p>Looks harmless</p>"
        "<script>window.parent.document.title = 'pwned'; window.parent.pwned = 1;"
        " window.pwnedInside = 1;</script>"
        '<img src="data:," onerror="window.parent.document.title = \'pwned\'">'
        "</body></html>"
    )
    with site.database.session() as session:
        from distribution.template_store import VersionInput, create_template

        saved = create_template(
            session,
            site.project_id,
            name="Script attempt",
            channel="email",
            category="transactional",
            first_version=VersionInput(body=body, subject="Hi", body_format="html"),
        )
    open_editor(tab, site, saved.version.template_id)
    expect(tab.frame_locator("#preview-frame").get_by_text("Looks harmless")).to_be_visible()
    tab.wait_for_timeout(300)
    assert "<script>" in srcdoc(tab)  # the script reached the preview, and still did nothing
    assert tab.title() != "pwned"
    assert tab.evaluate("typeof window.pwned") == "undefined"
    inner = tab.frame(url="about:srcdoc")
    assert inner is None or inner.evaluate("typeof window.pwnedInside") == "undefined"
    blocked = [m for m in console.messages if "Blocked script execution" in m]
    assert blocked, console.messages
    assert "sandboxed" in blocked[0]
