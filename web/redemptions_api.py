"""``/v1/redemptions``: codes redeemed, with the messages credited (or none: unattributed)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from sqlmodel import Session

from distribution.events.redemptions import attributed_messages, list_redemptions
from distribution.models import Redemption
from distribution.storage.db import Database
from distribution.storage.project_rows import project_row
from web.auth import SECURITY, Caller
from web.paging import PAGING, CursorList, PageQuery
from web.stored_times import utc

__all__ = ["RedemptionController"]


class RedemptionOut(msgspec.Struct):
    """A code redeemed: the order (amount in minor units), and the messages credited with it."""

    id: str
    code: str
    order_id: str | None
    amount: int | None
    currency: str | None
    customer_id: str | None
    event_id: str | None
    redeemed_at: datetime
    attributed: bool
    message_ids: list[str]
    object: str = "redemption"


class RedemptionList(CursorList):
    """A page of redemptions, newest first."""

    redemptions: list[RedemptionOut]
    data_ref: str = "redemptions"


def _out(session: Session, row: Redemption) -> RedemptionOut:
    return RedemptionOut(
        id=row.id,
        code=row.code,
        order_id=row.order_id,
        amount=row.amount,
        currency=row.currency,
        customer_id=row.customer_id,
        event_id=row.event_id,
        redeemed_at=utc(row.redeemed_at),
        attributed=row.attributed > 0,
        message_ids=attributed_messages(session, row.id) if row.attributed else [],
    )


class RedemptionController(Controller):
    """The caller's redemptions."""

    path = "/v1/redemptions"
    tags = ["redemptions"]
    security = SECURITY
    dependencies = PAGING

    @get("/", sync_to_thread=True, summary="List redemptions, newest first")
    def list(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        page: NamedDependency[PageQuery],
        attributed: Annotated[
            bool | None,
            QueryParameter(description="true: credited to a message; false: unattributed only"),
        ] = None,
        code: FromQuery[str | None] = None,
    ) -> RedemptionList:
        with db.reader() as session:
            found = list_redemptions(
                session,
                caller.project_id,
                limit=page.limit,
                starting_after=page.starting_after,
                attributed=attributed,
                code=code,
            )
            return RedemptionList(
                redemptions=[_out(session, r) for r in found.rows],
                has_more=found.has_more,
                next_cursor=found.next_cursor,
            )

    @get("/{redemption_id:str}", sync_to_thread=True, summary="One redemption")
    def retrieve(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        redemption_id: FromPath[str],
    ) -> RedemptionOut:
        with db.reader() as session:
            row = project_row(session, Redemption, caller.project_id, redemption_id, "redemption")
            return _out(session, row)
