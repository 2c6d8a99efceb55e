"""Plain-text alternative of an HTML email: readable paragraphs, links as `text (url)`."""

from __future__ import annotations

import re

from lxml import etree
from lxml import html as lxml_html

__all__ = ["collapse_repeated_links", "html_to_text"]

_SKIP = frozenset({"head", "style", "script", "title", "meta", "link", "noscript", "template"})
_BLOCK = frozenset(
    [
        "p",
        "div",
        "table",
        "tbody",
        "thead",
        "tfoot",
        "tr",
        "ul",
        "ol",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "section",
        "article",
        "header",
        "footer",
        "center",
        "hr",
        "pre",
        "dl",
        "dt",
        "dd",
        "address",
        "form",
        "body",
    ]
)
_CELL = frozenset({"td", "th"})
_HIDDEN = re.compile(r"display\s*:\s*none|mso-hide\s*:\s*all", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
# Marks a paragraph break (a blank line); other blocks only start a new line.
_PARAGRAPH = "\x00"
_PARAGRAPH_TAGS = frozenset({"p", "h1", "h2", "h3", "h4", "table", "blockquote", "ul", "ol"})


def html_to_text(html: str, *, keep_comments: re.Pattern[str] | None = None) -> str:
    """Convert an HTML email to plain text.

    Args:
        html: The HTML document.
        keep_comments: Comments matching this pattern are kept verbatim (used to carry Jinja
            statement placeholders into the compiled text part); all others are dropped.

    Returns:
        Text with one blank line between blocks and links written `text (url)`.
    """
    if not html.strip():
        return ""
    try:
        root = lxml_html.document_fromstring(html)
    except etree.ParserError:  # only comments or whitespace: no text
        return ""
    out: list[str] = []
    _walk(root, out, keep_comments)
    text = "".join(out).replace(_PARAGRAPH, f"\n{_PARAGRAPH}\n")
    lines: list[str] = []
    gap = False
    for raw_line in text.split("\n"):
        line = _SPACES.sub(" ", raw_line).strip()
        if line == _PARAGRAPH:
            gap = True
        elif line:
            if gap and lines:
                lines.append("")
            lines.append(line)
            gap = False
    return collapse_repeated_links("\n".join(lines) + "\n") if lines else ""


def _walk(node: etree._Element, out: list[str], keep: re.Pattern[str] | None) -> None:
    for child in node:
        if isinstance(child, etree._Comment):
            text = child.text or ""
            if keep is not None and keep.fullmatch(text.strip()):
                out.append(f"<!--{text}-->")
        elif isinstance(child.tag, str):
            _element(child, out, keep)
        if child.tail:
            out.append(child.tail.replace("\n", " "))


def _element(node: etree._Element, out: list[str], keep: re.Pattern[str] | None) -> None:
    tag = str(node.tag).lower()
    if tag in _SKIP or _HIDDEN.search(node.get("style", "")):
        return
    if tag == "br":
        out.append("\n")
        return
    block = tag in _BLOCK
    breaker = _PARAGRAPH if tag in _PARAGRAPH_TAGS else "\n"
    if block:
        out.append(breaker)
    if tag in _CELL:
        out.append(" ")
    if tag == "li":
        out.append("- ")
    if tag == "img":
        return
    if tag == "a":
        inner: list[str] = [node.text or ""]
        _walk(node, inner, keep)
        label = _SPACES.sub(" ", "".join(inner).replace("\n", " ")).strip()
        href = (node.get("href") or "").strip()
        if not label:
            label = " ".join(img.get("alt", "") for img in node.iter("img")).strip()
        out.append(_link(label, href))
    else:
        if node.text:
            out.append(node.text.replace("\n", " "))
        _walk(node, out, keep)
    if block:
        out.append(breaker)


def _link(label: str, href: str) -> str:
    if not href or href.startswith("#"):
        return label or href
    # `x (x)` is collapsed later by `collapse_repeated_links`, also in compiled text parts,
    # where label and URL are still separate Jinja expressions here.
    return f"{label} ({href})" if label else href


_LINK_SUFFIX = re.compile(r" \((?:mailto:|tel:)?([^\s()]+)\)")


def collapse_repeated_links(text: str) -> str:
    """`https://x.example (https://x.example)` -> `https://x.example`; same for mailto/tel."""
    if " (" not in text:
        return text
    pieces: list[str] = []
    position = 0
    for match in _LINK_SUFFIX.finditer(text):
        url = match.group(1)
        start = match.start()
        label_start = start - len(url)
        if (
            label_start >= position
            and text.startswith(url, label_start)
            and (label_start == 0 or text[label_start - 1] in " \n\t(")
        ):
            pieces.append(text[position:start])
            position = match.end()
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(pieces)
