"""Cursor paging of list endpoints: the ``limit`` and ``starting_after`` query, and the list shape.

A controller that pages adds ``PAGING`` to its dependencies and takes ``page: PageQuery``; its
list answer subclasses ``CursorList`` and adds the items field and ``data_ref`` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import msgspec
from litestar.di import Provide
from litestar.params import FromQuery, QueryParameter

__all__ = ["PAGING", "CursorList", "PageQuery"]

MAX_LIMIT = 100
DEFAULT_LIMIT = 50


@dataclass(frozen=True, slots=True)
class PageQuery:
    """The page asked for: at most ``limit`` items after the one whose id is ``starting_after``."""

    limit: int
    starting_after: str | None


def _page_query(
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    starting_after: FromQuery[str | None] = None,
) -> PageQuery:
    return PageQuery(limit=limit, starting_after=starting_after)


#: Dependencies of a paging controller: ``page`` reads the query parameters.
PAGING = {"page": Provide(_page_query, sync_to_thread=False)}


class CursorList(msgspec.Struct, kw_only=True):
    """A page of a list; pass ``next_cursor`` as ``starting_after`` for the next page."""

    has_more: bool
    next_cursor: str | None
    object: str = "list"
