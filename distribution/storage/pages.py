"""Keyset pages of rows newest first, by their id (ids begin with their creation time).

The one rule for every list that pages by ``starting_after``: the rows with an id below the
cursor, one more than asked to know whether more are waiting, and the last id as the next cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlmodel import Session, col
from sqlmodel.sql.expression import SelectOfScalar

__all__ = ["IdPage", "newest_first"]


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


Row = TypeVar("Row", bound=_Identified)


@dataclass(frozen=True)
class IdPage(Generic[Row]):
    rows: list[Row]
    has_more: bool
    #: The id to pass as ``starting_after`` for the next page (None on the last page).
    next_cursor: str | None


def newest_first(
    session: Session,
    statement: SelectOfScalar[Row],
    id_column: Any,
    *,
    limit: int,
    starting_after: str | None,
) -> IdPage[Row]:
    """At most ``limit`` rows of ``statement`` with an id below ``starting_after``, newest first."""
    ids = col(id_column)
    if starting_after:
        statement = statement.where(ids < starting_after)
    rows = list(session.exec(statement.order_by(ids.desc()).limit(limit + 1)))
    page = rows[:limit]
    has_more = len(rows) > limit
    return IdPage(page, has_more, page[-1].id if has_more else None)
