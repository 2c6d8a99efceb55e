"""Find the Jinja tokens (`{{ }}`, `{% %}`, `{# #}`) of a source, with their positions.

Used to protect tokens through MJML and CSS inlining, and to point syntax errors at the tag
a marketer wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

__all__ = ["JinjaToken", "line_and_column", "scan_tokens"]

TokenKind = Literal["expression", "statement", "comment"]

_OPENERS = re.compile(r"\{\{|\{%|\{#")
_ENDRAW = re.compile(r"\{%[-+]?\s*endraw\s*[-+]?%\}")
_TAG_NAME = re.compile(r"\{%[-+]?\s*(\w+)")


@dataclass(frozen=True)
class JinjaToken:
    """One Jinja token: its kind, its span in the source and, for statements, its tag name."""

    kind: TokenKind
    start: int
    end: int
    text: str
    tag: str
    line: int
    column: int


def line_and_column(source: str, offset: int) -> tuple[int, int]:
    """1-based line and column of `offset` in `source`."""
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _find_close(source: str, start: int, closer: str) -> int:
    """Index just past `closer`, skipping quoted strings; -1 when the token never closes."""
    index = start
    quote = ""
    length = len(source)
    while index < length:
        char = source[index]
        if quote:
            if char == "\\":
                index += 2
                continue
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif source.startswith(closer, index):
            return index + len(closer)
        index += 1
    return -1


@lru_cache(maxsize=8)
def scan_tokens(source: str) -> tuple[JinjaToken, ...]:
    """All Jinja tokens of `source` in order; a `{% raw %}` block is one token. Stops at an
    unterminated token (the Jinja parser reports that one).

    Kept for the last few sources: a preview protects, checks and splits the same body.
    """
    tokens: list[JinjaToken] = []
    position = 0
    # Lines are counted on from the previous token, not from the start each time.
    line, line_start, counted = 1, 0, 0
    while True:
        match = _OPENERS.search(source, position)
        if match is None:
            return tuple(tokens)
        start = match.start()
        opener = match.group()
        if opener == "{#":
            close = source.find("#}", start + 2)
            end = -1 if close < 0 else close + 2
            kind: TokenKind = "comment"
        else:
            end = _find_close(source, start + 2, "}}" if opener == "{{" else "%}")
            kind = "expression" if opener == "{{" else "statement"
        if end < 0:
            return tuple(tokens)
        tag = ""
        if kind == "statement":
            name = _TAG_NAME.match(source, start)
            tag = name.group(1) if name else ""
            if tag == "raw":
                endraw = _ENDRAW.search(source, end)
                if endraw is None:
                    return tuple(tokens)
                end = endraw.end()
        line += source.count("\n", counted, start)
        line_start = max(line_start, source.rfind("\n", counted, start) + 1)
        counted = start
        column = start - line_start + 1
        tokens.append(JinjaToken(kind, start, end, source[start:end], tag, line, column))
        position = end
