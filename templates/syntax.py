"""Turn Jinja's syntax errors into messages a marketer understands, with line and column."""

from __future__ import annotations

import re
from collections.abc import Sequence

import jinja2

from templates.errors import TemplateSyntaxError
from templates.jinja_tokens import JinjaToken, line_and_column, scan_tokens
from templates.skeleton import parses, split

__all__ = ["check_syntax", "explain_syntax_error"]

_BLOCK_TAGS = frozenset(
    {"if", "for", "macro", "call", "filter", "with", "autoescape", "block", "raw"}
)
_INNERMOST = re.compile(r"innermost block that needs to be closed is '(\w+)'")
_UNKNOWN_TAG = re.compile(r"Encountered unknown tag '(\w+)'")


def _opens_block(token: JinjaToken) -> bool:
    if token.tag == "set":
        return "=" not in token.text
    return token.tag in _BLOCK_TAGS


def _open_blocks(tokens: Sequence[JinjaToken], until: int | None = None) -> list[JinjaToken]:
    """Blocks still open (innermost last) after the tokens before offset `until`."""
    stack: list[JinjaToken] = []
    for token in tokens:
        if until is not None and token.start >= until:
            break
        if token.kind != "statement":
            continue
        if _opens_block(token):
            stack.append(token)
        elif token.tag.startswith("end"):
            opened = token.tag[3:]
            for depth in range(len(stack) - 1, -1, -1):
                if stack[depth].tag == opened:
                    del stack[depth:]
                    break
    return stack


def _unterminated_opener(source: str, tokens: Sequence[JinjaToken]) -> tuple[int, str] | None:
    after = tokens[-1].end if tokens else 0
    match = re.search(r"\{\{|\{%|\{#", source[after:])
    if match is None:
        return None
    return after + match.start(), match.group()


def _first_token_column(tokens: Sequence[JinjaToken], line: int) -> int:
    for token in tokens:
        if token.line == line:
            return token.column
    return 1


def explain_syntax_error(
    source: str, error: jinja2.TemplateSyntaxError, part: str | None
) -> TemplateSyntaxError:
    """Build our `TemplateSyntaxError` for a Jinja one, pointing at the tag the author wrote."""
    tokens = scan_tokens(source)
    message = error.message or "invalid template"
    line = error.lineno or 1
    closers = {"if": "endif", "for": "endfor"}

    unterminated = _unterminated_opener(source, tokens)
    if unterminated is not None and "end of template" in message.lower():
        offset, opener = unterminated
        line, column = line_and_column(source, offset)
        closer = {"{{": "}}", "{%": "%}", "{#": "#}"}[opener]
        return TemplateSyntaxError(
            f"`{opener}` is never closed (missing `{closer}`)", line=line, column=column, part=part
        )

    innermost = _INNERMOST.search(message)
    unknown = _UNKNOWN_TAG.search(message)
    if unknown and innermost:
        tag = unknown.group(1)
        stray = next((t for t in tokens if t.tag == tag and t.line == line), None)
        column = stray.column if stray else _first_token_column(tokens, line)
        opened = _open_blocks(tokens, stray.start if stray else None)
        where = f" (opened on line {opened[-1].line})" if opened else ""
        block = innermost.group(1)
        return TemplateSyntaxError(
            f"`{{% {tag} %}}` does not match the open `{{% {block} %}}`{where}; "
            f"close it first with `{{% {closers.get(block, 'end' + block)} %}}`",
            line=line,
            column=column,
            part=part,
        )
    if innermost:
        opened = _open_blocks(tokens)
        if opened:
            token = opened[-1]
            end = closers.get(token.tag, "end" + token.tag)
            return TemplateSyntaxError(
                f"unclosed `{{% {token.tag} %}}` (add `{{% {end} %}}`)",
                line=token.line,
                column=token.column,
                part=part,
            )
    if unknown:
        tag = unknown.group(1)
        stray = next((t for t in tokens if t.tag == tag and t.line == line), None)
        column = stray.column if stray else _first_token_column(tokens, line)
        return TemplateSyntaxError(
            f"unknown tag `{{% {tag} %}}`", line=line, column=column, part=part
        )
    text = message[0].lower() + message[1:] if message else message
    return TemplateSyntaxError(
        text.replace("'", "`"), line=line, column=_first_token_column(tokens, line), part=part
    )


def check_syntax(env: jinja2.Environment, source: str, part: str) -> TemplateSyntaxError | None:
    """Parse `source`; return the explained error, or None when it parses.

    A source whose tags did not change since it last parsed is not parsed again (a preview
    checks every key; see `templates.skeleton`).
    """
    pieces = split(source)
    if pieces is not None and parses(env, pieces.skeleton):
        return None
    try:
        env.parse(source)
    except jinja2.TemplateSyntaxError as error:
        return explain_syntax_error(source, error, part)
    return None
