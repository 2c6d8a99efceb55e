"""A project's rows by id: the one place that scopes a lookup to the caller's project.

Every table a project owns has ``project_id`` and ``id`` columns. Another project's row answers
exactly as a missing one does (NotFoundError), so ids never reveal what other projects hold.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from sqlalchemy import bindparam
from sqlmodel import Session, SQLModel, col, select

from distribution.errors import NotFoundError

__all__ = ["project_row", "project_rows"]

Row = TypeVar("Row", bound=SQLModel)


def _column(model: type[SQLModel], name: str) -> Any:
    return col(getattr(model, name))


# The statements are built once per table, with the ids as bound parameters: building a select
# and its cache key cost 70 us per call, more than SQLite took to run it. They hold no data.
@cache
def _row_query(model: type[SQLModel], lock: bool) -> Any:
    query = select(model).where(
        _column(model, "project_id") == bindparam("project_id"),
        _column(model, "id") == bindparam("row_id"),
    )
    return query.with_for_update() if lock else query


@cache
def _rows_query(model: type[SQLModel], order_by: str) -> Any:
    query = select(model).where(_column(model, "project_id") == bindparam("project_id"))
    return query.order_by(_column(model, order_by))


def project_row(
    session: Session,
    model: type[Row],
    project_id: str,
    row_id: str,
    what: str,
    *,
    lock: bool = False,
) -> Row:
    """The project's row of that id (locked for update when ``lock``), or NotFoundError(what)."""
    params = {"project_id": project_id, "row_id": row_id}
    row: Row | None = session.exec(_row_query(model, lock), params=params).first()
    if row is None:
        raise NotFoundError(what, row_id)
    return row


def project_rows(
    session: Session, model: type[Row], project_id: str, order_by: str = "id"
) -> list[Row]:
    """Every row of the project, ordered by one column (ids are time-ordered: oldest first)."""
    return list(session.exec(_rows_query(model, order_by), params={"project_id": project_id}))
