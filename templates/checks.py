"""Checks of a source the editor lists as problems: each with a stable code, a part and a line.

Pure functions over the source (and, for the inbox checks, the rendered HTML). What blocks
Publish is not decided here: these are warnings; the errors come from the render and the
publish rules (`distribution.template_store.rendering.check_source`).

Codes (documented in docs/templates.md, "Problems"):

* ``mjml-unknown-tag``, ``mjml-unknown-attribute``: not in `templates.mjml_rules`.
* ``unknown-variable``: a variable the schema does not have (a typo, or data no send provides).
* ``deprecated-variable``: a former name sends still fill (`templates.schema.DEPRECATED_ALIASES`).
* ``missing-value``: a schema variable the sample data has no value for.
* ``null-value``: a variable whose value is null: it prints as nothing.
* ``gmail-clipping``, ``image-alt``, ``link-text``: how inboxes show the message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any, Literal

import jinja2
from jinja2 import meta, nodes

from templates.filters import FILTERS
from templates.jinja_tokens import line_and_column, scan_tokens
from templates.mjml_rules import ANY_ATTRIBUTE, ENDING_TAGS, allowed_attributes
from templates.sandbox import TemplateEnvironment
from templates.schema import DEPRECATED_ALIASES, VARIABLE_SCHEMA
from templates.skeleton import split
from templates.sources import EmailSource, SmsSource

__all__ = [
    "GMAIL_CLIP_BYTES",
    "PREHEADER_CHARS",
    "Problem",
    "VariableUse",
    "blank_jinja",
    "clipping_problem",
    "format_problem",
    "inbox_problems",
    "mjml_problems",
    "mjml_structure_error",
    "path_value",
    "preheader",
    "source_parts",
    "unknown_variable",
    "variable_chain",
    "variable_problems",
    "variable_uses",
]

Severity = Literal["error", "warning"]

#: Gmail clips a message whose HTML is over 102 KB ("[Message clipped] View entire message"),
#: hiding the rest, unsubscribe link included. Counted in bytes of the final HTML.
GMAIL_CLIP_BYTES = 102 * 1024
#: Characters of preheader the inbox row shows (Gmail's web inbox shows up to about this many).
PREHEADER_CHARS = 140


@dataclass(frozen=True)
class Problem:
    """One problem: severity, stable code, part (subject, body, text_body, sms), 1-based place."""

    severity: Severity
    code: str
    part: str | None
    message: str
    line: int | None = None
    column: int | None = None


def blank_jinja(source: str, *, expression: str = " ") -> str:
    """`source` with every Jinja token blanked, newlines kept, so positions stay the same.

    Statements and comments become spaces; expressions become `expression` characters (an
    "x" makes `{{ name }}` count as text for the link check).
    """
    out = []
    position = 0
    for token in scan_tokens(source):
        out.append(source[position : token.start])
        fill = expression if token.kind == "expression" else " "
        out.append("".join(c if c == "\n" else fill for c in token.text))
        position = token.end
    out.append(source[position:])
    return "".join(out)


class _MjmlScanner(HTMLParser):
    """Walks MJML tags: unknown components and attributes, and the first broken nesting."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[Problem] = []
        self.open: list[tuple[str, int, int]] = []
        self.ending: str | None = None
        self.broken: tuple[int, int, str] | None = None

    def _where(self) -> tuple[int, int]:
        line, offset = self.getpos()
        return line, offset + 1

    def _check(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line, column = self._where()
        parent = self.open[-1][0] if self.open else None
        allowed = allowed_attributes(tag, parent)
        if allowed is None:
            self.problems.append(
                Problem(
                    "warning",
                    "mjml-unknown-tag",
                    "body",
                    f"<{tag}> is not an MJML component: MJML leaves it out of the email",
                    line,
                    column,
                )
            )
            return
        if allowed is ANY_ATTRIBUTE:
            return
        for name, _value in attrs:
            if name not in allowed:
                self.problems.append(
                    Problem(
                        "warning",
                        "mjml-unknown-attribute",
                        "body",
                        f'<{tag}> has no attribute "{name}": MJML ignores it',
                        line,
                        column,
                    )
                )

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.ending is not None or not _is_mjml(tag):
            return
        self._check(tag, attrs)
        self.open.append((tag, *self._where()))
        if tag in ENDING_TAGS:
            self.ending = tag

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.ending is None and _is_mjml(tag):
            self._check(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self.ending is not None:
            if tag != self.ending:
                return
            self.ending = None
        if not _is_mjml(tag):
            return
        if self.open and self.open[-1][0] == tag:
            self.open.pop()
            return
        if self.broken is None:
            line, column = self._where()
            if self.open:
                inner, opened, _ = self.open[-1]
                why = f"</{tag}> closes <{inner}> opened on line {opened}"
            else:
                why = f"</{tag}> closes nothing that is open"
            self.broken = (line, column, why)
        if any(name == tag for name, _, _ in self.open):
            while self.open and self.open.pop()[0] != tag:
                pass


def _is_mjml(tag: str) -> bool:
    return tag == "mjml" or tag.startswith("mj-")


def _scan_mjml(body: str) -> _MjmlScanner:
    scanner = _MjmlScanner()
    scanner.feed(blank_jinja(body))
    scanner.close()
    return scanner


def mjml_problems(body: str) -> list[Problem]:
    """Warnings for MJML tags and attributes the MJML documentation does not know, with lines."""
    return _scan_mjml(body).problems


_MJML_ROOT = re.compile(r"<mjml[\s>]", re.IGNORECASE)


def format_problem(body: str, body_format: str | None) -> Problem | None:
    """An MJML body whose Format says HTML: it would go out as unstyled text, without a word."""
    found = _MJML_ROOT.search(body) if body_format == "html" else None
    if found is None:
        return None
    line, column = line_and_column(body, found.start())
    return Problem(
        "warning",
        "mjml-as-html",
        "body",
        "The body is MJML but Format is HTML: mail clients would show it as unstyled text. "
        "Set Format to MJML.",
        line,
        column,
    )


def mjml_structure_error(body: str) -> tuple[int, int, str] | None:
    """Where MJML nesting breaks (line, column, why), for a parse error that has no position.

    The first closing tag that does not match, else the innermost tag never closed.
    """
    scanner = _scan_mjml(body)
    if scanner.broken is not None:
        return scanner.broken
    if scanner.open:
        tag, line, column = scanner.open[-1]
        return line, column, f"<{tag}> is never closed"
    return None


class _InboxScanner(HTMLParser):
    """Images without `alt` and links without text, in HTML or MJML source."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[Problem] = []
        self.link: tuple[str, int, int] | None = None
        self.link_text = False

    def _add(self, code: str, message: str) -> None:
        line, offset = self.getpos()
        if code == "link-text" and self.link is not None:
            line, offset = self.link[1], self.link[2] - 1
        self.problems.append(Problem("warning", code, "body", message, line, offset + 1))

    def _image(self, tag: str, attrs: dict[str, str | None]) -> None:
        if "alt" not in attrs:
            self._add(
                "image-alt",
                f"<{tag}> has no alt text: screen readers and inboxes that block images "
                'show nothing (alt="" marks a decorative image)',
            )
        elif self.link is not None and (attrs["alt"] or "").strip():
            self.link_text = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag in ("img", "mj-image"):
            self._image(tag, named)
        elif tag in ("a", "mj-button") and self.link is None:
            line, offset = self.getpos()
            self.link = (tag, line, offset + 1)
            self.link_text = bool((named.get("aria-label") or named.get("title") or "").strip())

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("img", "mj-image"):
            self._image(tag, dict(attrs))

    def handle_data(self, data: str) -> None:
        if self.link is not None and data.strip():
            self.link_text = True

    def handle_endtag(self, tag: str) -> None:
        if self.link is not None and tag == self.link[0]:
            if not self.link_text:
                self._add(
                    "link-text",
                    f"a link (<{tag}>) has no text: say where it goes, for screen readers "
                    "and inboxes that block images",
                )
            self.link = None


def inbox_problems(body: str) -> list[Problem]:
    """Images without alt and links without text in an HTML or MJML source, with lines."""
    scanner = _InboxScanner()
    scanner.feed(blank_jinja(body, expression="x"))
    scanner.close()
    return scanner.problems


def clipping_problem(html: str) -> Problem | None:
    """A warning when the final HTML is over Gmail's clipping size."""
    size = len(html.encode("utf-8"))
    if size <= GMAIL_CLIP_BYTES:
        return None
    return Problem(
        "warning",
        "gmail-clipping",
        "body",
        f"the HTML is {size / 1024:,.1f} KB: Gmail clips messages over 102 KB and hides "
        "the rest (the unsubscribe link too)",
    )


class _BodyText(HTMLParser):
    """The text of the body in document order, hidden preheader included, as inboxes read it."""

    _SKIP = frozenset({"style", "script", "title", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skipping = 0
        self.words: list[str] = []
        self.length = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self.skipping:
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if self.skipping or self.length > PREHEADER_CHARS:
            return
        words = data.split()
        self.words.extend(words)
        self.length += sum(len(w) + 1 for w in words)


def preheader(html: str) -> str:
    """The text an inbox shows after the subject: the body's first text, hidden or not.

    MJML puts `<mj-preview>` in a hidden block at the start of the body, so it comes first;
    without one, inboxes show the first visible words. Whitespace collapses; at most
    `PREHEADER_CHARS` characters.
    """
    reader = _BodyText()
    reader.feed(html)
    reader.close()
    text = " ".join(reader.words)
    return text if len(text) <= PREHEADER_CHARS else text[: PREHEADER_CHARS - 1].rstrip() + "…"


@dataclass(frozen=True)
class VariableUse:
    """A variable path a part reads, where it is first read (line of the part)."""

    part: str
    path: tuple[str, ...]
    line: int

    @property
    def name(self) -> str:
        return ".".join(self.path)


# Parsing only: nothing is rendered with it. The sandbox's environment, for its guards: size and
# depth checks before parsing, and no constant folding (finding the undeclared names compiles
# the tree, and folding would compute `{{ 10 ** 100000 }}` here, outside any limit). Compiling
# checks that each filter exists: it needs ours.
_PARSER = TemplateEnvironment(autoescape=True)
_PARSER.filters.update(FILTERS)
_NOT_DATA = frozenset(_PARSER.globals) | {"loop", "self", "super", "caller", "varargs", "kwargs"}


def variable_chain(node: nodes.Node) -> tuple[str, ...] | None:
    """The path a node reads (`customer.first_name`, `code['code']`), or None if it is no
    plain chain of names."""
    if isinstance(node, nodes.Name):
        return (node.name,) if node.ctx == "load" else None
    if isinstance(node, nodes.Getattr):
        base = variable_chain(node.node)
        return (*base, node.attr) if base is not None else None
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        base = variable_chain(node.node)
        return (*base, node.arg.value) if base is not None else None
    return None


def _walk(node: nodes.Node, roots: set[str], found: list[tuple[tuple[str, ...], int]]) -> None:
    if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
        chain = variable_chain(node)
        if chain is not None:
            if chain[0] in roots:
                found.append((chain, node.lineno))
            return
    for child in node.iter_child_nodes():
        _walk(child, roots, found)


def source_parts(source: EmailSource | SmsSource) -> list[tuple[str, str | None]]:
    """(part, text) of a source, parts named as problems name them."""
    if isinstance(source, SmsSource):
        return [("sms", source.body)]
    return [("subject", source.subject), ("body", source.body), ("text_body", source.text_body)]


def variable_uses(parts: Iterable[tuple[str, str | None]]) -> list[VariableUse]:
    """The context paths each (part, source) reads, first use each; a part that does not
    parse reads nothing here (its syntax error is reported elsewhere)."""
    uses: dict[tuple[str, tuple[str, ...]], VariableUse] = {}
    for part, source in parts:
        if not source:
            continue
        # The skeleton reads what the source reads, on the same lines (`templates.skeleton`):
        # while the author types text, its reads are already known.
        pieces = split(source)
        found = _reads(pieces.skeleton, pieces.name) if pieces else _reads(source, "")
        for path, line in found:
            uses.setdefault((part, path), VariableUse(part, path, line))
    return list(uses.values())


@lru_cache(maxsize=16)
def _reads(source: str, marker: str) -> tuple[tuple[tuple[str, ...], int], ...]:
    try:
        tree = _PARSER.parse(source)
        roots = meta.find_undeclared_variables(tree) - _NOT_DATA - {marker}
    except jinja2.TemplateError:
        return ()
    found: list[tuple[tuple[str, ...], int]] = []
    _walk(tree, roots, found)
    return tuple(found)


def unknown_variable(path: tuple[str, ...]) -> str | None:
    """The unknown `group` or `group.field` a path starts with; None when the schema has it.

    Below a field (`event.data.voucher`, `customer.metadata.tier`) anything goes: those are
    free-form objects.
    """
    group = VARIABLE_SCHEMA.get(path[0])
    name = ".".join(path[:2])
    if group is None:
        return name
    if len(path) > 1 and path[1] not in group["fields"] and name not in DEPRECATED_ALIASES:
        return name
    return None


def path_value(context: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    """(True, the value) at `path` in the context, or (False, None) when a key is absent."""
    value: Any = context
    for key in path:
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        else:
            return False, None
    return True, value


def variable_problems(
    uses: Iterable[VariableUse], context: Mapping[str, Any], missing: Iterable[str]
) -> list[Problem]:
    """Unknown variables, schema variables without a sample value, and null values.

    `missing` is what the render found absent (names as `MissingVariablesError` gives them).
    """
    problems: list[Problem] = []
    missing_names = set(missing)
    # Each name once per part: the first use is where the editor points.
    reported: set[tuple[str, str]] = set()
    for use in uses:
        unknown = unknown_variable(use.path)
        if unknown is not None:
            if (use.part, unknown) not in reported:
                reported.add((use.part, unknown))
                problems.append(
                    Problem(
                        "warning",
                        "unknown-variable",
                        use.part,
                        f"unknown variable {unknown}: no send provides it (it is not in the "
                        "variable schema, GET /v1/templates/variables)",
                        use.line,
                    )
                )
            continue
        name = use.name
        if (use.part, name) in reported:
            continue
        alias = DEPRECATED_ALIASES.get(".".join(use.path[:2]))
        if alias is not None:
            reported.add((use.part, name))
            problems.append(
                Problem(
                    "warning",
                    "deprecated-variable",
                    use.part,
                    f"{'.'.join(use.path[:2])} is the former name of {alias}: sends still fill "
                    "it, but use the new name",
                    use.line,
                )
            )
        present, value = path_value(context, use.path)
        if not present and (name in missing_names or _under_missing(use.path, missing_names)):
            reported.add((use.part, name))
            problems.append(
                Problem(
                    "warning",
                    "missing-value",
                    use.part,
                    f"{name} has no value in the sample data: a send fails for a recipient "
                    "without it (use `| default(...)` or `{% if %}`)",
                    use.line,
                )
            )
        elif present and value is None:
            reported.add((use.part, name))
            problems.append(
                Problem(
                    "warning",
                    "null-value",
                    use.part,
                    f"{name} is null in the sample data: it prints as nothing",
                    use.line,
                )
            )
    return problems


def _under_missing(path: tuple[str, ...], missing: set[str]) -> bool:
    return any(".".join(path[:n]) in missing for n in range(1, len(path)))
