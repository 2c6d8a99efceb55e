"""The two expensive email steps, MJML to HTML and CSS inlining, locked down to read nothing."""

from __future__ import annotations

import logging
import re

import mjml
from premailer import Premailer

from templates.checks import mjml_structure_error
from templates.errors import RenderLimitError, TemplateSyntaxError, UnsafeTemplateError
from templates.jinja_tokens import line_and_column
from templates.protection import VOID_ELEMENTS

__all__ = [
    "MAX_HTML_DEPTH",
    "MAX_HTML_ELEMENTS",
    "MAX_MJML_DEPTH",
    "MAX_MJML_ELEMENTS",
    "MJ_INCLUDE",
    "check_nesting",
    "inline_css",
    "mjml_to_html",
]

# mjml-python (mrml) recurses once per element level and segfaults near 2,000 levels (MJML tags
# or plain HTML inside mj-text / mj-raw alike); real emails stay under ten. Its output for
# 10,000 elements is about 60,000 HTML elements, about half a second of premailer.
MAX_MJML_DEPTH = 100
MAX_MJML_ELEMENTS = 10_000
# lxml (under premailer and the text part) silently drops everything nested deeper than 255
# levels, which would send a truncated email; premailer costs about 10 us per element.
MAX_HTML_DEPTH = 250
MAX_HTML_ELEMENTS = 50_000

MJ_INCLUDE = re.compile(r"<mj-include\b", re.IGNORECASE)
_POSITION = re.compile(r"position (\d+)(?::(\d+))?")
_STYLE_TAG = re.compile(r"<style\b", re.IGNORECASE)
_DOCTYPE = re.compile(r"^\s*<!doctype[^>]*>", re.IGNORECASE)


_TAG = re.compile(r"<!--.*?-->|<(/?)([A-Za-z][^\s/>]*)[^>]*?(/?)>", re.DOTALL)
# HTML closes these implicitly when the same tag opens again (`<p>a<p>b`, `<li>` lists).
_SELF_ENDING = frozenset(["p", "li", "td", "th", "tr", "option", "dt", "dd"])


def check_nesting(markup: str, *, language: str, max_depth: int, max_elements: int) -> None:
    """Refuse markup nested deeper than `max_depth` or holding more than `max_elements` tags.

    A scan of the tags, far cheaper than the parsers it protects. Closing tags pop back to
    their opening tag, so unclosed HTML elements do not count as nesting.

    Raises:
        RenderLimitError: Naming the limit that was exceeded.
    """
    open_tags: list[str] = []
    elements = 0
    for match in _TAG.finditer(markup):
        name = match.group(2)
        if name is None:  # a comment
            continue
        name = name.lower()
        if match.group(1):
            if name in open_tags:
                del open_tags[len(open_tags) - 1 - open_tags[::-1].index(name) :]
            continue
        elements += 1
        if elements > max_elements:
            raise RenderLimitError(
                f"{language} has more than {max_elements:,} elements", part="body"
            )
        if match.group(3) or name in VOID_ELEMENTS:
            continue
        if name in _SELF_ENDING and open_tags and open_tags[-1] == name:
            continue
        open_tags.append(name)
        if len(open_tags) > max_depth:
            raise RenderLimitError(
                f"{language} nesting deeper than {max_depth} levels", part="body"
            )


def _refuse_include(path: str) -> str:
    raise UnsafeTemplateError(
        f"mj-include is not supported (templates cannot read files): paste the content of {path!r}"
    )


def mjml_to_html(source: str) -> str:
    """Compile MJML to HTML; `mj-include` is refused, nothing is read from disk or network.

    Raises:
        UnsafeTemplateError: The source uses `mj-include`.
        TemplateSyntaxError: MJML cannot parse the source.
        RenderLimitError: The source nests too deep or has too many elements for the library.
    """
    if MJ_INCLUDE.search(source):
        _refuse_include("mj-include")
    check_nesting(source, language="MJML", max_depth=MAX_MJML_DEPTH, max_elements=MAX_MJML_ELEMENTS)
    try:
        # No fonts: MJML's default links Google Fonts (Ubuntu), which the editor's page policy
        # blocks, so the preview would show another font than the inbox. Without the link
        # both fall back alike to the font stack (Helvetica, Arial); an `mj-font` the author
        # adds is still linked.
        return str(mjml.mjml2html(source, include_loader=_refuse_include, fonts={}))
    except UnsafeTemplateError:
        raise
    except Exception as error:  # mjml-python reports every problem as a bare exception
        text = str(error)
        position = _POSITION.search(text)
        if position:
            line, column = line_and_column(source, int(position.group(1)))
        elif broken := mjml_structure_error(source):
            # mrml says where only for some errors ("unexpected end of stream" has no place):
            # the first tag that breaks the nesting is where to look.
            line, column, why = broken
            text = f"{text} ({why})"
        else:
            line, column = 1, 1
        raise TemplateSyntaxError(f"MJML: {text}", line=line, column=column, part="body") from None


def inline_css(html: str) -> str:
    """Inline the document's `<style>` rules into `style` attributes.

    premailer is configured to load nothing: no `<link>` stylesheet (MJML links Google Fonts),
    no network, no files; links are left exactly as written (no URL rewriting). A document
    without `<style>` has nothing to inline and is returned as it is.

    Raises:
        RenderLimitError: The HTML nests deeper than lxml keeps or has too many elements.
    """
    if not _STYLE_TAG.search(html):
        return html
    check_nesting(html, language="HTML", max_depth=MAX_HTML_DEPTH, max_elements=MAX_HTML_ELEMENTS)
    inliner = Premailer(
        html,
        allow_network=False,
        allow_loading_external_files=False,
        disable_link_rewrites=True,
        keep_style_tags=False,
        strip_important=False,
        remove_classes=False,
        disable_validation=True,
        # Giving floated images an align attribute (for Outlook) parses every image's style
        # with cssutils: 40% of an MJML email's render. Only a document with a float needs it.
        align_floating_images="float" in html.lower(),
        cssutils_logging_level=logging.CRITICAL,
    )
    try:
        out = str(inliner.transform(pretty_print=False))
    except (AttributeError, ValueError):  # premailer fails on documents lxml cannot root
        return html
    doctype = _DOCTYPE.match(html)
    if doctype and not _DOCTYPE.match(out):
        out = f"{doctype.group().strip()}\n{out}"
    return out
