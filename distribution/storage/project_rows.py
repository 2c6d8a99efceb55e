"""A project's rows by id: the one place that scopes a lookup to the caller's project.

Every table a project owns has ``project_id`` and ``id`` columns. Another project's row answers
exactly as a missing one does (NotFoundError), so ids never reveal what other projects hold.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, col, select

from distribution.errors import NotFoundError

__all__ = ["project_row", "project_rows"]

Row = TypeVar("Row", bound=SQLModel)


def _column(model: type[SQLModel], name: str) -> Any:
    return col(getattr(model, name))


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
    query = select(model).where(
        _column(model, "project_id") == project_id, _column(model, "id") == row_id
    )
    row = session.exec(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFoundError(what, row_id)
    return row


def project_rows(
    session: Session, model: type[Row], project_id: str, order_by: str = "id"
) -> list[Row]:
    """Every row of the project, ordered by one column (ids are time-ordered: oldest first)."""
    query = select(model).where(_column(model, "project_id") == project_id)
    return list(session.exec(query.order_by(_column(model, order_by))))
