"""Which variables an email template reads, found once from its source, to check rows cheaply.

The preflight must check every row for missing variables, and a full render per row costs as
much as preparing the row. When a template only reads plain paths of its context (``{{
customer.first_name }}``, ``code["code"]``, filters and tests over them), a row whose context
holds every one of those paths cannot miss a variable, so the render can be skipped. Anything
this does not follow (loops, assignments, macros, computed keys, method calls) makes the
template "not simple", and every row of it is rendered, as is any row lacking one of the paths
(it may still be fine: the path can sit in a branch not taken, or behind ``is defined``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes

from templates.checks import path_value, variable_chain

__all__ = ["VariablePaths", "variable_paths"]

_ENVIRONMENT = jinja2.Environment(autoescape=True)  # parsing only: nothing is rendered with it
# Constructs that bind names or reach values through something other than a plain path.
_UNFOLLOWED = (
    nodes.For,
    nodes.Assign,
    nodes.AssignBlock,
    nodes.Macro,
    nodes.CallBlock,
    nodes.With,
    nodes.Scope,
    nodes.Import,
    nodes.FromImport,
    nodes.Include,
    nodes.Extends,
    nodes.Block,
    nodes.Call,
)


@dataclass(frozen=True)
class VariablePaths:
    """The plain paths a template reads; ``simple`` is False when it reads in other ways too."""

    paths: frozenset[tuple[str, ...]]
    simple: bool

    def all_present(self, context: Mapping[str, Any]) -> bool:
        """Whether every path resolves to a value in ``context`` (dicts all the way down)."""
        return self.simple and all(path_value(context, path)[0] for path in self.paths)

    def split(self, name: str) -> tuple[VariablePaths, VariablePaths]:
        """The paths under ``name`` (with ``name`` taken off) and all the others.

        Lets a caller check the part of the context that is the same for every row once, and
        only ``name`` (say, ``customer``) row by row.
        """
        under = frozenset(path[1:] for path in self.paths if path[0] == name and path[1:])
        # ``(name,)`` itself (the template prints the whole variable) stays with the others.
        others = frozenset(path for path in self.paths if path[0] != name or path == (name,))
        return VariablePaths(under, self.simple), VariablePaths(others, self.simple)


def _collect(node: nodes.Node, paths: set[tuple[str, ...]]) -> bool:
    """Add the plain paths under ``node``; False when something else reads the context."""
    if isinstance(node, _UNFOLLOWED):
        return False
    if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
        chain = variable_chain(node)
        if chain is None:
            return False  # a computed key, or a name being bound
        paths.add(chain)
        return True
    return all(_collect(child, paths) for child in node.iter_child_nodes())


def variable_paths(sources: Iterable[str | None]) -> VariablePaths:
    """The paths read by the given template parts (subject, body, text body)."""
    paths: set[tuple[str, ...]] = set()
    simple = True
    for source in sources:
        if not source:
            continue
        try:
            tree = _ENVIRONMENT.parse(source)
        except jinja2.TemplateSyntaxError:
            return VariablePaths(frozenset(), simple=False)
        simple = _collect(tree, paths) and simple
    return VariablePaths(frozenset(paths), simple=simple)
