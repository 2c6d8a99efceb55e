"""The two expensive email steps, MJML to HTML and CSS inlining, locked down to read nothing."""

from __future__ import annotations

import logging
import re

import mjml
from premailer import Premailer

from templates.errors import TemplateSyntaxError, UnsafeTemplateError
from templates.jinja_tokens import line_and_column

__all__ = ["MJ_INCLUDE", "inline_css", "mjml_to_html"]

MJ_INCLUDE = re.compile(r"<mj-include\b", re.IGNORECASE)
_POSITION = re.compile(r"position (\d+)(?::(\d+))?")
_STYLE_TAG = re.compile(r"<style\b", re.IGNORECASE)
_DOCTYPE = re.compile(r"^\s*<!doctype[^>]*>", re.IGNORECASE)


def _refuse_include(path: str) -> str:
    raise UnsafeTemplateError(
        f"mj-include is not supported (templates cannot read files): paste the content of {path!r}"
    )


def mjml_to_html(source: str) -> str:
    """Compile MJML to HTML; `mj-include` is refused, nothing is read from disk or network.

    Raises:
        UnsafeTemplateError: The source uses `mj-include`.
        TemplateSyntaxError: MJML cannot parse the source.
    """
    if MJ_INCLUDE.search(source):
        _refuse_include("mj-include")
    try:
        return str(mjml.mjml2html(source, include_loader=_refuse_include))
    except UnsafeTemplateError:
        raise
    except Exception as error:  # mjml-python reports every problem as a bare exception
        text = str(error)
        position = _POSITION.search(text)
        line, column = line_and_column(source, int(position.group(1))) if position else (1, 1)
        raise TemplateSyntaxError(f"MJML: {text}", line=line, column=column, part="body") from None


def inline_css(html: str) -> str:
    """Inline the document's `<style>` rules into `style` attributes.

    premailer is configured to load nothing: no `<link>` stylesheet (MJML links Google Fonts),
    no network, no files; links are left exactly as written (no URL rewriting). A document
    without `<style>` has nothing to inline and is returned as it is.
    """
    if not _STYLE_TAG.search(html):
        return html
    inliner = Premailer(
        html,
        allow_network=False,
        allow_loading_external_files=False,
        disable_link_rewrites=True,
        keep_style_tags=False,
        strip_important=False,
        remove_classes=False,
        disable_validation=True,
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
