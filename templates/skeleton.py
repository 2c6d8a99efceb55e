"""Compile a template once per arrangement of its Jinja tags, whatever text lies between them.

A preview while the author types compiles the email again on every key, and most of that cost is
Jinja lexing and generating code for the compiled HTML: 70 KB of markup around a few dozen tags.
The keys almost always change the text between tags, not the tags. So the template is split into
its tags and the runs of text between them; each run becomes an output of a marker variable
(`{{ dm_text[3] }}`) whose value is that run, and the skeleton left (tags and markers only) is
compiled once and kept. The next key changes a run, not the skeleton, and costs no compile.

A render of the skeleton with the runs equals a render of the whole template: the runs are
printed unescaped, as Jinja prints template data, after the same whitespace control (`{%-`,
`-%}`) and newline normalisation Jinja applies to data; the markers carry the runs' line breaks,
so the line numbers of errors do not move. `tests/test_templates/test_skeleton.py` proves the
equality on the corpus and on generated templates.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from threading import Lock
from typing import Any

import jinja2
from markupsafe import Markup

from templates.jinja_tokens import scan_tokens

__all__ = ["ReusableTemplate", "Split", "compile_reusing", "parses", "split"]

# Jinja's own newline rule for template data (`newline_sequence` is "\n").
_NEWLINES = re.compile(r"\r\n|\r|\n")
_MARKER_NAME = "dm_text"
_KEPT = 32  # skeletons kept per process: a few templates being edited


@dataclass(frozen=True)
class ReusableTemplate:
    """A compiled skeleton and the runs of text that fill it for one source."""

    template: jinja2.Template
    name: str
    texts: tuple[Markup, ...]

    def bind(self, context: dict[str, Any]) -> dict[str, Any]:
        """The render context with this source's runs of text added."""
        return {**context, self.name: self.texts}


@dataclass(frozen=True)
class Split:
    """A source as its skeleton (tags and markers) and the runs of text the markers print."""

    skeleton: str
    name: str
    texts: tuple[Markup, ...]


def split(source: str) -> Split | None:
    """The source's skeleton and runs; None when a tag never closes (Jinja says where)."""
    tokens = scan_tokens(source)
    if _unscanned(source, tokens[-1].end if tokens else 0):
        return None
    name = _MARKER_NAME
    while name in source:
        name += "_"
    parts: list[str] = []
    texts: list[Markup] = []
    position = 0
    for index in range(len(tokens) + 1):
        token = tokens[index] if index < len(tokens) else None
        run = source[position : token.start if token else len(source)]
        if run or token is None:
            after = tokens[index - 1].text if index else ""
            # The template's own text, which Jinja prints unescaped: Markup says so.
            printed = _as_jinja_prints(run, after, token.text if token else "")
            texts.append(Markup(printed))  # noqa: S704
            breaks = "\n" * len(_NEWLINES.findall(run))
            parts.append(f"{{{{ {name}[{len(texts) - 1}]{breaks} }}}}")
        if token is not None:
            parts.append(token.text)
            position = token.end
    return Split("".join(parts), name, tuple(texts))


def compile_reusing(env: jinja2.Environment, source: str) -> ReusableTemplate:
    """Compile `source` in `env`, reusing the compile of a source with the same tags.

    Raises:
        jinja2.TemplateSyntaxError: As `env.from_string(source)` would.
    """
    pieces = split(source)
    if pieces is not None:
        try:
            return ReusableTemplate(
                _compiled_skeleton(env, pieces.skeleton), pieces.name, pieces.texts
            )
        except jinja2.TemplateSyntaxError:
            # `scan_tokens` ends a tag at the first `}}`, where Jinja reads on inside a dict
            # literal (`{{ {'a': {'b': 1}} }}`): the whole source decides.
            pass
    # Jinja's own result and error, on the whole source.
    return ReusableTemplate(env.from_string(source), _MARKER_NAME, ())


@lru_cache(maxsize=16)
def parses(env: jinja2.Environment, skeleton: str) -> bool:
    """Whether a skeleton parses (a source parses when its skeleton does)."""
    try:
        env.parse(skeleton)
    except jinja2.TemplateSyntaxError:
        return False
    return True


_compiled: OrderedDict[tuple[int, str], jinja2.Template] = OrderedDict()
_lock = Lock()


def _unscanned(source: str, end: int) -> bool:
    """Whether an opener is left after the last complete tag (scan_tokens stopped there)."""
    return any(opener in source[end:] for opener in ("{{", "{%", "{#"))


def _as_jinja_prints(run: str, before: str, after: str) -> str:
    """The run as Jinja prints it as data between the tags `before` and `after`."""
    if before.endswith(("-}}", "-%}", "-#}")):
        run = run.lstrip()
    if after.startswith(("{{-", "{%-", "{#-")):
        run = run.rstrip()
    return _NEWLINES.sub("\n", run)


def _compiled_skeleton(env: jinja2.Environment, skeleton: str) -> jinja2.Template:
    key = (id(env), skeleton)
    with _lock:
        found = _compiled.get(key)
        if found is not None:
            _compiled.move_to_end(key)
            return found
    template = env.from_string(skeleton)
    with _lock:
        _compiled[key] = template
        while len(_compiled) > _KEPT:
            _compiled.popitem(last=False)
    return template
