"""Strict send renders, lenient previews, syntax errors a marketer can read, header injection."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from templates import (
    EmailSource,
    HeaderInjectionError,
    MissingVariablesError,
    TemplateSyntaxError,
    compile_email,
    preview_email,
    sample_context,
)

MJML = """<mjml><mj-body><mj-section><mj-column>
<mj-text>Hi {{ customer.first_name }}, your code is {{ code.code }}.</mj-text>
<mj-button href="https://shop.example.com/r/{{ code.code }}">Go</mj-button>
</mj-column></mj-section></mj-body></mjml>"""


def test_send_render_names_every_missing_variable() -> None:
    compiled = compile_email(EmailSource("{{ reward.description }}", MJML))
    with pytest.raises(MissingVariablesError) as raised:
        compiled.render({"customer": {}})
    assert raised.value.missing == ["reward.description", "customer.first_name", "code.code"]
    assert "customer.first_name" in str(raised.value)


def test_defaults_and_tests_do_not_count_as_missing() -> None:
    body = (
        "<p>{{ customer.first_name | default('there') }}"
        "{% if referrer.first_name is defined %}{{ referrer.first_name }}{% endif %}"
        "{% if order.items %}{% for i in order.items %}{{ i.name }}{% endfor %}{% endif %}</p>"
    )
    rendered = compile_email(EmailSource("Hi", body, body_format="html")).render({})
    assert "there" in rendered.html
    assert rendered.missing == []


def test_missing_item_field_inside_a_loop_is_named_by_its_path() -> None:
    body = "{% for item in order.items %}<p>{{ item.name }} {{ item.sku }}</p>{% endfor %}"
    compiled = compile_email(EmailSource("s", body, body_format="html"))
    with pytest.raises(MissingVariablesError) as raised:
        compiled.render({"order": {"items": [{"name": "Hat"}]}})
    assert raised.value.missing == ["order.items[].sku"]


def test_preview_shows_missing_variables_visibly() -> None:
    compiled = compile_email(EmailSource("Hello {{ customer.first_name }}", MJML))
    rendered = compiled.render({"code": {"code": "ANA-1"}}, mode="preview")
    assert rendered.missing == ["customer.first_name"]
    assert rendered.subject == "Hello {{ customer.first_name }}"
    assert '<mark class="dm-missing"' in rendered.html
    assert "{{ customer.first_name }}</mark>" in rendered.html
    assert "Hi {{ customer.first_name }}, your code is ANA-1." in rendered.text


def test_preview_marker_inside_an_attribute_stays_plain() -> None:
    compiled = compile_email(EmailSource("s", MJML))
    rendered = compiled.render({"customer": {"first_name": "Ana"}}, mode="preview")
    assert 'href="https://shop.example.com/r/{{ code.code }}"' in rendered.html


def test_preview_email_returns_all_syntax_errors_without_raising() -> None:
    source = EmailSource(
        subject="Hi {{ customer.first_name",
        body="<p>a</p>\n<p>b</p>\n{% if reward %}\n<p>{{ reward.amount }}</p>\n",
        body_format="html",
    )
    preview = preview_email(source, sample_context())
    messages = {error.part: error for error in preview.errors}
    assert messages["subject"].line == 1
    assert "never closed" in messages["subject"].message
    assert messages["body"].message == "line 3: unclosed `{% if %}` (add `{% endif %}`)"
    assert (messages["body"].line, messages["body"].column) == (3, 1)
    assert preview.html == ""


def test_compile_raises_syntax_error_with_position_and_part() -> None:
    body = "<mjml><mj-body>\n  {% for item in order.items %}\n  {% endif %}\n</mj-body></mjml>"
    with pytest.raises(TemplateSyntaxError) as raised:
        compile_email(EmailSource("s", body))
    error = raised.value
    assert (error.part, error.line, error.column) == ("body", 3, 3)
    assert "`{% endif %}` does not match the open `{% for %}`" in error.message


def test_invalid_mjml_is_a_syntax_error() -> None:
    with pytest.raises(TemplateSyntaxError, match="MJML"):
        compile_email(EmailSource("s", "<mjml><mj-body><mj-section>"))


@pytest.mark.parametrize("value", ["Hi\r\nBcc: victim@example.com", "Hi\nthere", "a\rb"])
def test_subject_with_a_line_break_is_header_injection(value: str) -> None:
    compiled = compile_email(EmailSource("{{ customer.name }}", "<p>x</p>", body_format="html"))
    with pytest.raises(HeaderInjectionError):
        compiled.render({"customer": {"name": value}})
    assert compiled.render({"customer": {"name": "Ana"}}).subject == "Ana"


def test_given_text_body_is_used_verbatim_without_escaping() -> None:
    source = EmailSource("s", MJML, text_body="Code: {{ code.code }} & more")
    rendered = compile_email(source).render(
        {"customer": {"first_name": "A"}, "code": {"code": "<X>"}}
    )
    assert rendered.text == "Code: <X> & more"
    assert "&lt;X&gt;" in rendered.html


def test_compiling_and_rendering_never_touch_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    body = MJML.replace(
        "<mj-body>",
        "<mj-head><mj-font name='Raleway' "
        "href='https://fonts.googleapis.com/css?family=Raleway' />"
        "<mj-style>@import url(https://evil.example.com/x.css); .a{color:red}"
        "</mj-style></mj-head><mj-body>",
    ).replace("<mj-text>", "<mj-text font-family='Raleway, Arial'>")
    compiled = compile_email(EmailSource("s", body))
    html = compiled.render(sample_context()).html
    preview_email(EmailSource("s", body), sample_context())
    assert attempts == []
    # The author's font is linked as written (MJML links the fonts the body uses); MJML's own
    # default (Ubuntu) is not, so the preview, under the editor's CSP, looks like the inbox.
    assert "fonts.googleapis.com/css?family=Raleway" in html
    assert "family=Ubuntu" not in html


def test_a_floated_image_gets_the_align_outlook_reads() -> None:
    html = (
        "<html><head><style>img.right { float: right; }</style></head><body>"
        '<img class="right" src="https://shop.example.com/a.png" alt="A">'
        '<img src="https://shop.example.com/b.png" alt="B" style="width: 10px"></body></html>'
    )
    rendered = compile_email(EmailSource("s", html, body_format="html")).render({})
    assert 'align="right"' in rendered.html
    assert rendered.html.count("align=") == 1
