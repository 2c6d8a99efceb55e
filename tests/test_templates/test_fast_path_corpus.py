"""Compile once, render many: the fast path must give the same email as the reference path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import html as lxml_html

from templates import CompiledEmail, compile_email, render_email_slow

from .corpus_contexts import CONTEXTS, context
from .corpus_files import CORPUS, source_of

# Templates that cannot be compiled once (layout depends on Jinja, or macros emit markup).
EXPECTED_SLOW = {
    "09_expiring_code.mjml",
    "10_wrapper_loop.mjml",
    "12_columns_conditional.mjml",
    "16_macros.mjml",
}
_compiled: dict[Path, CompiledEmail] = {}


def _compile(path: Path) -> CompiledEmail:
    if path not in _compiled:
        _compiled[path] = compile_email(source_of(path))
    return _compiled[path]


def normalise_html(html: str) -> str:
    """Canonical form: parsed and re-serialised by lxml (so `&#39;` and `'` compare equal),
    whitespace runs collapsed, whitespace between tags removed."""
    tree = lxml_html.document_fromstring(html)
    text = lxml_html.tostring(tree, encoding="unicode")
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", text)).strip()


def normalise_text(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 15


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_compiled_path_is_chosen_when_safe(path: Path) -> None:
    compiled = _compile(path)
    assert compiled.fast_path is (path.name not in EXPECTED_SLOW), compiled.warnings
    if not compiled.fast_path:
        assert "rendered per recipient" in compiled.warnings[0]


@pytest.mark.parametrize("context_name", sorted(CONTEXTS))
@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_fast_path_matches_reference_path(path: Path, context_name: str) -> None:
    compiled = _compile(path)
    fast = compiled.render(context(context_name))
    slow = render_email_slow(source_of(path), context(context_name))
    assert fast.subject == slow.subject
    assert normalise_html(fast.html) == normalise_html(slow.html)
    assert normalise_text(fast.text) == normalise_text(slow.text)


def test_expression_in_href_survives_inlining_unencoded() -> None:
    compiled = _compile(CORPUS[0])
    assert 'href="https://shop.example.com/r/{{ code.code }}"' in (compiled.compiled_html or "")
    rendered = compiled.render(context("pt-BR sample"))
    assert 'href="https://shop.example.com/r/ANA-7K2Q"' in rendered.html


def test_loop_rows_stay_inside_the_table() -> None:
    path = next(p for p in CORPUS if p.name.startswith("14_"))
    rendered = _compile(path).render(context("en-US awkward names"))
    table = lxml_html.document_fromstring(rendered.html).find(".//table")
    assert table is not None
    cells = [cell.text_content() for cell in table.iter("td")]
    assert "Socks <3 pack> × 3" in cells


def test_customer_data_is_escaped_in_html_but_not_in_text() -> None:
    path = next(p for p in CORPUS if p.name.startswith("05_"))
    rendered = _compile(path).render(context("en-US awkward names"))
    assert "Mary O&#39;Brien &amp; &lt;Co&gt;" in rendered.html
    assert "Mary O'Brien & <Co>" in rendered.text


def test_text_part_keeps_links_readable() -> None:
    rendered = _compile(CORPUS[0]).render(context("pt-BR sample"))
    assert "Share my link (https://shop.example.com/r/ANA-7K2Q)" in rendered.text
    assert "Unsubscribe (https://mail.example.com/u/abc123)" in rendered.text
    assert "<" not in rendered.text


def test_style_expression_is_inlined_per_recipient() -> None:
    path = next(p for p in CORPUS if p.name.startswith("08_"))
    rendered = _compile(path).render(context("en-US awkward names"))
    assert re.search(r'class="cta"[^>]*style="[^"]*background-color:\s*#1b998b', rendered.html)
