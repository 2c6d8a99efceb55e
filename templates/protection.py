"""Carry Jinja tokens intact through MJML and the CSS inliner.

Each token is swapped for an inert placeholder before MJML and premailer run, and swapped back
afterwards. Expressions become a lowercase word (`zqj3x`), valid in text, attribute values and
CSS alike; statements between elements become an HTML comment (`<!--zqj4x-->`), which neither
MJML nor the HTML parser moves out of a table the way they move text. `restore` then checks that
every placeholder survived exactly once and in its original order; anything else means the
template cannot be compiled safely and the caller falls back to rendering per recipient.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from templates.jinja_tokens import JinjaToken, scan_tokens

__all__ = ["VOID_ELEMENTS", "ProtectedSource", "protect", "restore"]

Form = Literal["text", "comment"]

#: HTML and MJML elements that never have content or a closing tag.
VOID_ELEMENTS = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "mj-image",
        "mj-divider",
        "mj-spacer",
        "mj-all",
        "mj-class",
        "mj-breakpoint",
        "mj-font",
        "mj-include",
    ]
)
_RAW_TEXT = frozenset(
    ["style", "mj-style", "script", "title", "mj-title", "mj-preview", "textarea"]
)
_STYLE = frozenset({"style", "mj-style"})
# MJML parents whose children may be repeated or dropped without changing how MJML lays out
# their siblings (a section's columns, by contrast, share its width; a wrapper's sections share
# Outlook tables, and the corpus test caught `{% for %}` around them).
_STATEMENT_SAFE_MJML = frozenset(
    [
        "mj-body",
        "mj-column",
        "mj-text",
        "mj-button",
        "mj-table",
        "mj-raw",
        "mj-accordion-text",
        "mj-accordion-title",
        "mj-navbar-link",
        "mj-social-element",
    ]
)
_NAME_CHARS = re.compile(r"[A-Za-z0-9:_-]*")


@dataclass(frozen=True)
class ProtectedSource:
    """A source with its Jinja tokens swapped for placeholders.

    Attributes:
        text: The source with placeholders instead of tokens.
        tokens: The original tokens, by placeholder index.
        forms: How each token was protected: as a word ("text") or as an HTML comment.
        flexible: Tokens that may legitimately be copied or dropped (expressions in styles and
            in `mj-head`: the inliner copies them to every matching element).
        prefix: The placeholder prefix, chosen so that it does not occur in the source.
        unsafe_reason: Why the template cannot be compiled once, or None.
    """

    text: str
    tokens: tuple[JinjaToken, ...]
    forms: list[Form]
    flexible: list[bool]
    prefix: str
    unsafe_reason: str | None


@dataclass
class _Place:
    context: str  # text | tag | tagname | comment | rawtext | style
    parent: str  # innermost open element, "" at top level
    in_head: bool


def _classify(source: str, tokens: tuple[JinjaToken, ...]) -> list[_Place]:
    """Walk the markup once, noting where each token sits (text, inside a tag, in a style...)."""
    places: list[_Place] = []
    starts = {token.start: token for token in tokens}
    stack: list[str] = []
    index = 0
    length = len(source)
    state = "text"
    quote = ""
    raw_end = ""
    tag_name = ""
    closing = False
    while index < length:
        token = starts.get(index)
        if token is not None:
            if state == "text":
                context = "text"
            elif state == "tag":
                context = "tagname" if not tag_name else "tag"
            elif state == "raw":
                context = "style" if raw_end[2:] in _STYLE else "rawtext"
            else:
                context = state
            parent = stack[-1] if stack else ""
            in_head = "mj-head" in stack or "head" in stack
            places.append(_Place(context, parent, in_head))
            index = token.end
            continue
        char = source[index]
        if state == "text":
            if source.startswith("<!--", index):
                state = "comment"
                index += 4
                continue
            if char == "<" and index + 1 < length:
                following = source[index + 1]
                if following == "/" or following.isalpha() or index + 1 in starts:
                    closing = following == "/"
                    start = index + (2 if closing else 1)
                    if start in starts:
                        tag_name = ""
                        state = "tag"
                        index = start
                        continue
                    name = _NAME_CHARS.match(source, start)
                    tag_name = name.group().lower() if name else ""
                    state = "tag"
                    index = start + len(tag_name)
                    continue
                if following == "!":
                    state = "tag"
                    tag_name = "!"
                    closing = False
                    index += 2
                    continue
        elif state == "comment":
            if source.startswith("-->", index):
                state = "text"
                index += 3
                continue
        elif state == "tag":
            if quote:
                if char == quote:
                    quote = ""
            elif char in "\"'":
                quote = char
            elif char == ">":
                self_closing = source[index - 1] == "/"
                state = "text"
                if tag_name == "!":
                    pass
                elif closing:
                    if tag_name in stack:
                        while stack and stack.pop() != tag_name:
                            pass
                elif not self_closing and tag_name not in VOID_ELEMENTS:
                    if tag_name in _RAW_TEXT:
                        state = "raw"
                        raw_end = f"</{tag_name}"
                    stack.append(tag_name)
        elif state == "raw" and source[index : index + len(raw_end)].lower() == raw_end:
            state = "tag"
            closing = True
            tag_name = raw_end[2:]
            index += len(raw_end)
            continue
        index += 1
    return places


def _prefix_for(source: str) -> str:
    for candidate in ("zqj", "zqk", "zqv", "zxw", "zkq"):
        if candidate not in source:
            return candidate
    return "zqjzqk"


def protect(source: str, *, mjml: bool) -> ProtectedSource:
    """Swap every Jinja token of `source` for a placeholder and judge whether that is safe."""
    tokens = scan_tokens(source)
    places = _classify(source, tokens)
    prefix = _prefix_for(source)
    forms: list[Form] = []
    flexible: list[bool] = []
    reason: str | None = None
    pieces: list[str] = []
    position = 0
    for number, (token, place) in enumerate(zip(tokens, places, strict=True)):
        is_statement = token.kind != "expression"
        form: Form = "text"
        if place.context == "tagname":
            reason = reason or f"line {token.line}: Jinja inside a tag name"
        elif is_statement and place.context == "style":
            reason = reason or f"line {token.line}: a `{{% {token.tag} %}}` inside a style block"
        elif is_statement and place.context == "text":
            form = "comment"
            parent_is_mjml = place.parent.startswith("mj")
            if place.in_head:
                reason = reason or f"line {token.line}: a `{{% {token.tag} %}}` inside mj-head"
            elif parent_is_mjml and place.parent not in _STATEMENT_SAFE_MJML:
                reason = reason or (
                    f"line {token.line}: a `{{% {token.tag} %}}` directly inside "
                    f"<{place.parent}> changes how MJML lays out its children"
                )
        if is_statement and token.tag in (
            "macro",
            "call",
            "filter",
            "include",
            "import",
            "extends",
            "block",
            "from",
        ):
            reason = (
                reason
                or f"line {token.line}: `{{% {token.tag} %}}` blocks are rendered per recipient"
            )
        if token.tag == "set" and "=" not in token.text:
            reason = reason or f"line {token.line}: a `{{% set %}}` block captures markup"
        forms.append(form)
        flexible.append(not is_statement and (place.context == "style" or place.in_head))
        pieces.append(source[position : token.start])
        placeholder = f"{prefix}{number}x"
        pieces.append(f"<!--{placeholder}-->" if form == "comment" else placeholder)
        position = token.end
    pieces.append(source[position:])
    if mjml and re.search(r"<mj-include\b", source, re.IGNORECASE):
        reason = reason or "mj-include"
    return ProtectedSource("".join(pieces), tokens, forms, flexible, prefix, reason)


def restore(
    html: str, protected: ProtectedSource, *, statements_only: bool = False
) -> tuple[str | None, str | None]:
    """Put the tokens back into processed markup.

    Args:
        html: Markup (or derived text) that went through MJML and the inliner.
        protected: What `protect` produced for the source.
        statements_only: Only statements must survive (a text part legitimately drops the
            expressions of image sources, hidden preheaders and the like).

    Returns:
        (restored, None) when every placeholder survived once and in order, else
        (None, reason).
    """
    pattern = re.compile(rf"<!--\s*{protected.prefix}(\d+)x\s*-->|{protected.prefix}(\d+)x")
    counts: Counter[int] = Counter()
    total = len(protected.tokens)
    relaxed = [
        flexible or (statements_only and token.kind == "expression")
        for flexible, token in zip(protected.flexible, protected.tokens, strict=True)
    ]
    # Each token must sit after exactly the statements it followed in the source. Expressions
    # may be reordered among themselves (MJML writes a button's colour before its link) or
    # copied (the colour lands on the cell and on the link), but never across a statement.
    statements = [n for n, token in enumerate(protected.tokens) if token.kind != "expression"]
    statements = [n for n in statements if not relaxed[n]]
    expected_before: dict[int, int] = {}
    seen = 0
    for number in range(total):
        expected_before[number] = seen
        if seen < len(statements) and statements[seen] == number:
            seen += 1
    statements_seen = 0
    for match in pattern.finditer(html):
        number = int(match.group(1) or match.group(2))
        if number >= total:
            return None, "an unknown placeholder appeared"
        token = protected.tokens[number]
        as_comment = match.group(1) is not None
        if as_comment != (protected.forms[number] == "comment"):
            return None, f"line {token.line}: a Jinja tag changed place"
        counts[number] += 1
        if relaxed[number]:
            continue
        if token.kind != "expression":
            if statements_seen >= len(statements) or statements[statements_seen] != number:
                return None, f"line {token.line}: `{token.text[:40]}` was moved or copied"
            statements_seen += 1
        elif expected_before[number] != statements_seen:
            return None, f"line {token.line}: `{token.text[:40]}` moved across a Jinja block"
    for number, token in enumerate(protected.tokens):
        if not relaxed[number] and counts[number] == 0:
            return (
                None,
                f"line {token.line}: `{token.text[:40]}` was dropped by MJML or the inliner",
            )

    def put_back(match: re.Match[str]) -> str:
        return protected.tokens[int(match.group(1) or match.group(2))].text

    return pattern.sub(put_back, html), None
