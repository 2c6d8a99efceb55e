"""``/v1/messages``: the delivery log, with rendered content and status history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from distribution.models import Delivery
from distribution.outbox.messages import get_message, list_messages, status_history
from distribution.storage.db import Database
from web.auth import SECURITY, Caller
from web.paging import PAGING, CursorList, PageQuery
from web.stored_times import naive, utc, utc_or_none

__all__ = ["MessageController"]


class StatusChangeOut(msgspec.Struct):
    status: str
    at: datetime
    detail: str | None


class MessageOut(msgspec.Struct):
    """One delivery: who, what, through which provider, and where it stands."""

    id: str
    status: str
    channel: str
    provider: str
    recipient: str | None
    customer_id: str | None
    distribution_id: str | None
    event_id: str | None
    bulk_job_id: str | None
    campaign_id: str | None
    template_id: str | None
    template_version_id: str | None
    marketing: bool
    test: bool
    attempts: int
    provider_message_id: str | None
    provider_status: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime
    #: The code the message carried; a redemption of it credits the message (docs/attribution.md).
    code: str | None = None
    converted_at: datetime | None = None
    #: The redeemed orders' amounts in minor units (cents), in ``conversion_currency``.
    conversion_amount: int | None = None
    conversion_currency: str | None = None
    content: dict[str, Any] | None = None
    history: list[StatusChangeOut] | None = None
    object: str = "message"


class MessageList(CursorList):
    """A page of messages; pass ``next_cursor`` as ``starting_after`` for older ones."""

    messages: list[MessageOut]
    data_ref: str = "messages"


def message_out(d: Delivery, *, content: bool = False) -> MessageOut:
    """The API view of a delivery (content only when asked for one message)."""
    return MessageOut(
        id=d.id,
        status=d.status,
        channel=d.channel,
        provider=d.provider,
        recipient=d.recipient,
        customer_id=d.customer_id,
        distribution_id=d.distribution_id,
        event_id=d.event_id,
        bulk_job_id=d.bulk_job_id,
        campaign_id=d.campaign_id,
        template_id=d.template_id,
        template_version_id=d.template_version_id,
        marketing=d.marketing,
        test=d.test,
        attempts=d.attempts,
        provider_message_id=d.provider_message_id,
        provider_status=d.provider_status,
        last_error=d.last_error,
        created_at=utc(d.created_at),
        updated_at=utc(d.updated_at),
        sent_at=utc_or_none(d.sent_at),
        next_attempt_at=utc(d.next_attempt_at),
        code=d.code,
        converted_at=utc_or_none(d.converted_at),
        conversion_amount=d.conversion_amount,
        conversion_currency=d.conversion_currency,
        content=d.content if content else None,
    )


class MessageController(Controller):
    """The caller's messages."""

    path = "/v1/messages"
    tags = ["messages"]
    security = SECURITY
    dependencies = PAGING

    @get("/", sync_to_thread=True, summary="List messages, newest first")
    def list(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        page: NamedDependency[PageQuery],
        customer_id: FromQuery[str | None] = None,
        distribution_id: FromQuery[str | None] = None,
        campaign_id: FromQuery[str | None] = None,
        event_id: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        channel: FromQuery[str | None] = None,
        created_after: FromQuery[datetime | None] = None,
        created_before: FromQuery[datetime | None] = None,
        test: Annotated[
            bool | None,
            QueryParameter(description="true: the editor's test sends only; false: none of them"),
        ] = None,
    ) -> MessageList:
        with db.reader() as session:
            found = list_messages(
                session,
                caller.project_id,
                limit=page.limit,
                starting_after=page.starting_after,
                customer_id=customer_id,
                distribution_id=distribution_id,
                campaign_id=campaign_id,
                event_id=event_id,
                status=status,
                channel=channel,
                created_after=naive(created_after, "created_after"),
                created_before=naive(created_before, "created_before"),
                test=test,
            )
        return MessageList(
            messages=[message_out(m) for m in found.rows],
            has_more=found.has_more,
            next_cursor=found.next_cursor,
        )

    @get("/{message_id:str}", sync_to_thread=True, summary="One message with content and history")
    def retrieve(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        message_id: FromPath[str],
    ) -> MessageOut:
        with db.reader() as session:
            delivery = get_message(session, caller.project_id, message_id)
            out = message_out(delivery, content=True)
            out.history = [
                StatusChangeOut(status=h.status, at=utc(h.at), detail=h.detail)
                for h in status_history(session, delivery.id)
            ]
        return out
