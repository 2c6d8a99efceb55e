"""``GET /v1/customers/{id}/events``: the events received about a customer, for their timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from distribution.customers.event_history import MAX_EVENTS, events_of
from distribution.customers.store import get_customer
from distribution.storage.db import Database
from web.auth import SECURITY, Caller
from web.stored_times import utc

__all__ = ["CustomerEventController", "CustomerEventOut"]


class CustomerEventOut(msgspec.Struct):
    """An event about the customer: its type, where it came from (``api``, ``voucherify``, or
    ``segment`` for a segment entered or left), and the deliveries it made (``id``,
    ``channel``, ``status`` when the event was received, ``distribution_id``)."""

    id: str
    type: str
    source: str
    received_at: datetime
    campaign_id: str | None
    code: str | None
    deliveries: list[dict[str, Any]]
    #: The segment a ``customer.segment.entered`` / ``.left`` event is about: ``{id, name}``.
    segment: dict[str, Any] | None = None
    object: str = "event"


class CustomerEventController(Controller):
    """A customer's events."""

    path = "/v1/customers"
    tags = ["customers"]
    security = SECURITY

    @get(
        "/{customer_id:str}/events",
        sync_to_thread=True,
        summary="The events received about a customer, newest first",
    )
    def events(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        customer_id: FromPath[str],
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_EVENTS)] = 50,
    ) -> list[CustomerEventOut]:
        with db.reader() as session:
            customer = get_customer(session, caller.project_id, customer_id)
            found = events_of(session, caller.project_id, customer.id, limit)
        return [
            CustomerEventOut(
                id=e.id,
                type=e.type,
                source=e.source,
                received_at=utc(e.received_at),
                campaign_id=e.campaign_id,
                code=e.code,
                deliveries=e.deliveries,
                segment=e.segment,
            )
            for e in found
        ]
