"""The editor in a real headless Chromium against the app served by uvicorn."""

from __future__ import annotations

import statistics

import pytest
from playwright.sync_api import Page, expect

from tests.test_browser.accessibility import assert_accessible
from tests.test_browser.conftest import ARTIFACTS, Console, Site, new_template, write_artifact
from tests.test_browser.editor_page import EditorPage

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
    editor = EditorPage(tab, site)
    editor.wait_for_first_preview()
    expect(editor.subject).to_have_text("Ana, a gift")
    expect(editor.preview.get_by_text("Your code:")).to_be_visible()
    assert "Hi Ana," in editor.srcdoc()

    editor.place_cursor_after("Hi ")
    editor.type("dear ")
    expect(editor.preview.get_by_text("Hi dear Ana,")).to_be_visible()
    expect(editor.dirty_flag).to_be_visible()

    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "editor.png"), full_page=True)
    assert (ARTIFACTS / "editor.png").stat().st_size > 10_000

    # Keystroke to updated preview, measured in the page: keydown to the srcdoc change.
    tab.evaluate(
        """() => {
          window.__latency = [];
          const area = document.querySelector('.code[data-part=body] .cm-content');
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
    editor.place_cursor_after("Your code:")
    for count in range(1, 21):
        tab.wait_for_timeout(350)  # a pause between keystrokes, as when a person edits a word
        editor.type("x")
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
    expect(editor.preview.get_by_text("Your code:" + "x" * 20)).to_be_visible()
    assert not console.errors


def test_syntax_error_shows_its_line_and_keeps_the_last_preview(
    page: tuple[Page, Console], site: Site
) -> None:
    tab, _ = page
    template_id, _ = new_template(site, "Syntax check", "email", REFERRAL_MJML, "Hi")
    editor = EditorPage(tab, site)
    editor.open(template_id)
    good = editor.srcdoc()
    assert "Your code:" in good
    editor.place_cursor_after("Your code: <strong>")
    editor.type("{% if %}")
    line = REFERRAL_MJML[: REFERRAL_MJML.index("Your code:")].count("\n") + 1
    error = editor.errors.first
    expect(error).to_contain_text(f"line {line}:")
    expect(editor.stale_notice).to_be_visible()
    expect(editor.gutter_mark()).to_have_text(str(line))
    assert editor.srcdoc() == good  # the last good preview stays
    expect(editor.preview.get_by_text("Your code:")).to_be_visible()
    # Clicking the error selects the line in the code.
    error.get_by_role("button").click()
    assert "{% if %}" in editor.selected_code()

    # Mobile width.
    editor.show("Mobile")
    editor.wait_for_frame_width("=== 375")
    editor.show("Plain text")
    expect(editor.text_part).to_contain_text("Your code:")
    editor.show("Desktop")
    editor.wait_for_frame_width("> 500")


def test_sms_counter_segments_and_ucs2(page: tuple[Page, Console], site: Site) -> None:
    tab, _ = page
    template_id, _ = new_template(site, "SMS counter", "sms", "a" * 159)
    editor = EditorPage(tab, site)
    editor.open(template_id)
    expect(editor.sms_length).to_have_text("159")
    editor.body.focus()
    tab.keyboard.press("End")
    editor.type("b")
    expect(editor.sms_length).to_have_text("160")
    expect(editor.sms_segments).to_have_text("1")
    expect(editor.sms_encoding).to_have_text("GSM-7")
    editor.type("c")  # the 161st GSM character
    expect(editor.sms_length).to_have_text("161")
    expect(editor.sms_segments).to_have_text("2")
    editor.type("🎉")
    expect(editor.sms_encoding).to_have_text("UCS-2")
    expect(editor.sms_length).to_have_text("163")  # the emoji costs two code units
    expect(editor.sms_segments).to_have_text("3")
    expect(editor.sms_bubble.locator("mark.ucs2")).to_have_text("🎉")
    expect(editor.sms_ucs2).to_contain_text("🎉")
    # The GSM-safe switch turns smart quotes into plain ones; the emoji still forces UCS-2.
    tab.keyboard.press("Backspace")
    editor.type("“ok”")
    expect(editor.sms_encoding).to_have_text("UCS-2")
    editor.rewrite_gsm_safe()
    expect(editor.sms_encoding).to_have_text("GSM-7")
    expect(editor.sms_bubble).to_contain_text('"ok"')


def test_save_publish_restore(page: tuple[Page, Console], site: Site) -> None:
    tab, _ = page
    template_id, _ = new_template(site, "History", "sms", "Version one {{ code.code }}")
    editor = EditorPage(tab, site)
    editor.open(template_id)
    editor.replace_code("Version two {{ code.code }}")
    editor.save_draft()
    expect(editor.status).to_contain_text("Saved draft v2")
    expect(editor.dirty_flag).to_be_hidden()
    editor.publish()
    expect(editor.status).to_contain_text("Published v2")
    editor.open_history()
    expect(editor.version(2)).to_contain_text("live")
    expect(editor.version(2)).to_contain_text("published")
    expect(editor.version(2)).to_contain_text(site.editor_email)
    # Compare version 1 with the live one.
    editor.compare_with_live(1)
    expect(editor.comparison).to_contain_text("-Version two")
    expect(editor.comparison).to_contain_text("+Version one")
    # One line per change, coloured by kind, in a dialog wide enough to read it.
    expect(editor.comparison.locator("span.del")).to_have_text(["-Version two {{ code.code }}\n"])
    expect(editor.comparison.locator("span.add")).to_have_text(["+Version one {{ code.code }}\n"])
    assert_accessible(tab, "the editor comparing a version with the live one")
    editor.close_comparison()
    expect(editor.comparison).to_be_hidden()
    # Restore version 1: a new draft (v3) with its text, loaded in the editor.
    editor.restore(1)
    expect(editor.status).to_contain_text("Restored v1 as draft v3")
    expect(editor.source()).to_have_value("Version one {{ code.code }}")
    expect(editor.version(3)).to_contain_text("draft")
    expect(editor.sms_bubble).to_contain_text("Version one ANA-7K2Q")
    # Unsaved changes ask before leaving.
    editor.replace_code("Version four")
    with tab.expect_event("dialog") as asked:
        tab.close(run_before_unload=True)
    assert asked.value.type == "beforeunload"
    asked.value.dismiss()  # stay on the page


def test_send_a_test_to_smtp_matches_the_preview(page: tuple[Page, Console], site: Site) -> None:
    tab, _ = page
    template_id, _ = new_template(
        site, "Send test", "email", REFERRAL_MJML, "{{ customer.first_name }}, your code"
    )
    editor = EditorPage(tab, site)
    editor.open(template_id)
    shown_html = editor.shown_message_html()
    before = len(site.inbox)
    editor.send_test("friend@example.com", "local-smtp")
    expect(editor.test_result).to_contain_text("sent via local-smtp")
    assert len(site.inbox) == before + 1
    received = site.inbox[-1]
    assert received["To"] == "friend@example.com"
    assert received["Subject"] == editor.subject.inner_text()
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
    editor = EditorPage(tab, site)
    editor.open(saved.version.template_id)
    expect(editor.preview.get_by_text("Looks harmless")).to_be_visible()
    tab.wait_for_timeout(300)
    assert "<script>" in editor.srcdoc()  # the script reached the preview, and still did nothing
    assert tab.title() != "pwned"
    assert tab.evaluate("typeof window.pwned") == "undefined"
    inner = tab.frame(url="about:srcdoc")
    assert inner is None or inner.evaluate("typeof window.pwnedInside") == "undefined"
    blocked = [m for m in console.messages if "Blocked script execution" in m]
    assert blocked, console.messages
    assert "sandboxed" in blocked[0]
