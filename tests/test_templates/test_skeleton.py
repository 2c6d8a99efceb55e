"""A preview's reused skeleton (`templates.skeleton`) renders what the whole compile renders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from templates import EmailSource, compile_email
from templates.emails import html_environment, text_environment
from templates.errors import TemplateError
from templates.jinja_tokens import line_and_column, scan_tokens
from templates.sandbox import RenderLimits, render_guarded, start_render, wrap_context
from templates.skeleton import compile_reusing

from .corpus_contexts import CONTEXTS, context
from .corpus_files import CORPUS, source_of

VALUES = {"name": "Ada", "items": ["a", "<b>"], "flag": True, "empty": None}


def _render(template: jinja2.Template, ctx: dict[str, Any]) -> str:
    state = start_render(RenderLimits(), preview=True, max_chars=100_000)
    return render_guarded(
        state, lambda: template.root_render_func(template.new_context(ctx, shared=True))
    )


def _both(env: jinja2.Environment, source: str, values: dict[str, Any]) -> tuple[str, str]:
    ctx = wrap_context(values, env.globals)
    whole = _render(env.from_string(source), ctx)
    reused = compile_reusing(env, source)
    return whole, _render(reused.template, reused.bind(ctx))


@pytest.mark.parametrize("context_name", sorted(CONTEXTS))
@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_a_reused_compile_renders_the_corpus_as_the_whole_compile(
    path: Path, context_name: str
) -> None:
    source = source_of(path)
    whole = compile_email(source).render(context(context_name), mode="preview")
    reused = compile_email(source, reuse=True).render(context(context_name), mode="preview")
    assert (reused.subject, reused.html, reused.text) == (whole.subject, whole.html, whole.text)
    assert (reused.missing, reused.warnings) == (whole.missing, whole.warnings)


def test_text_typed_between_tags_reuses_the_compile_and_shows() -> None:
    env = html_environment()
    first = compile_reusing(env, "<p>Hi {{ name }}, a</p>")
    second = compile_reusing(env, "<p>Hi {{ name }}, ab</p>")
    assert second.template is first.template
    assert _render(second.template, second.bind(wrap_context(VALUES))) == "<p>Hi Ada, ab</p>"
    assert compile_reusing(env, "<p>Hi {{ name | upper }}, ab</p>").template is not first.template


def test_text_is_printed_unescaped_and_values_escaped() -> None:
    whole, reused = _both(html_environment(), "<a href='x'>&amp; {{ v }}</a>", {"v": "<i>"})
    assert reused == whole == "<a href='x'>&amp; &lt;i&gt;</a>"


@pytest.mark.parametrize("reuse", [False, True])
def test_errors_name_the_line_of_the_source(reuse: bool) -> None:
    # A method printed by an expression with no name of its own: the error says its line.
    body = "one\r\ntwo\rthree\n\n{{ name.upper if flag else name }}"
    compiled = compile_email(EmailSource("s", body, "html", text_body="t"), reuse=reuse)
    with pytest.raises(TemplateError, match="line 5"):
        compiled.render({"name": "Ada", "flag": True})


def test_a_tag_left_open_is_the_whole_compile_s_syntax_error() -> None:
    env = html_environment()
    with pytest.raises(jinja2.TemplateSyntaxError) as whole:
        env.from_string("a {{ b }}\nc {{ d")
    with pytest.raises(jinja2.TemplateSyntaxError) as reused:
        compile_reusing(env, "a {{ b }}\nc {{ d")
    assert (reused.value.message, reused.value.lineno) == (whole.value.message, whole.value.lineno)


def test_the_marker_name_never_meets_a_name_of_the_source() -> None:
    whole, reused = _both(
        text_environment(), "{{ dm_text }} x {% set dm_text_ = 1 %}y", {"dm_text": "mine"}
    )
    assert reused == whole == "mine x y"


_SPACES = st.sampled_from([" ", "\t", "\n", "\r\n", "\r", "\xa0", "\u2028", "\x1c", "\x85", ""])
_WORDS = st.sampled_from(["a", "<b>", "&amp;", "}", "{", "%", "#", "é", "{ {", "x-"])
_TEXT = st.lists(st.one_of(_SPACES, _WORDS), max_size=6).map("".join)
_TAGS = st.sampled_from(
    [
        "{{ name }}",
        "{{- name }}",
        "{{ name -}}",
        "{{- name -}}",
        "{{ '}}' ~ name }}",
        "{{ {'k': {'v': name}}['k']['v'] }}",
        "{# note #}",
        "{#- note -#}",
        "{% if flag %}",
        "{%- if flag -%}",
        "{% endif %}",
        "{%- endif %}",
        "{% for i in items %}{{ i }}",
        "{% endfor -%}",
        "{% raw %} {{ not a tag }} {% endraw %}",
        "{%- raw -%} {{ x }} {%- endraw -%}",
        "{{ empty }}",
        "{% set s %}",
        "{% endset %}{{ s }}",
    ]
)


def _syntax_error(env: jinja2.Environment, source: str) -> jinja2.TemplateSyntaxError | None:
    try:
        env.from_string(source)
    except jinja2.TemplateSyntaxError as error:
        return error
    return None


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_TEXT, _TAGS), max_size=8), _TEXT, st.booleans())
def test_any_mix_of_text_and_tags_renders_as_the_whole_compile(
    pairs: list[tuple[str, str]], tail: str, html: bool
) -> None:
    source = "".join(text + tag for text, tag in pairs) + tail
    env = html_environment() if html else text_environment()
    refusal = _syntax_error(env, source)
    if refusal is not None:
        with pytest.raises(jinja2.TemplateSyntaxError) as reused:
            compile_reusing(env, source)
        assert reused.value.message == refusal.message
        return
    whole_out, reused_out = _both(env, source, VALUES)
    assert reused_out == whole_out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_TEXT, _TAGS), max_size=8))
def test_each_tag_is_placed_at_its_line_and_column(pairs: list[tuple[str, str]]) -> None:
    source = "".join(text + "\n" + tag for text, tag in pairs)
    for token in scan_tokens(source):
        assert (token.line, token.column) == line_and_column(source, token.start)
        assert source[token.start : token.end] == token.text
