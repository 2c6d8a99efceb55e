"""``POST /v1/events``: our events and Voucherify webhooks in, deliveries out (202)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.openapi.spec import Example
from litestar.params import Body

from distribution.events.ingest import IngestResult
from distribution.events.ingest_batching import PostedEvent, ingest_posted
from distribution.outbox.notifiers import DeliveryNotifier
from distribution.storage.db import Database
from web.auth import SECURITY, provide_caller

__all__ = ["EventAccepted", "EventController", "event_accepted"]

OUR_EVENT = {
    "id": "order-1001-reward",
    "type": "reward.granted",
    "customer": {"source_id": "shop-42", "email": "ada@example.com", "name": "Ada Lovelace"},
    "reward": {"type": "credit", "amount": 1500, "currency": "EUR", "description": "Store credit"},
    "campaign": {"id": "camp_spring", "name": "Spring referral"},
}
VOUCHERIFY_EVENT = {
    "id": "evcus_0c9a1b2c3d4e5f",
    "object": "event",
    "type": "redemption.succeeded",
    "created_at": "2026-11-25T10:00:00.000Z",
    "data": {
        "object": {
            "id": "r_0c9a1b",
            "object": "redemption",
            "result": "SUCCESS",
            "customer": {
                "id": "cust_voucherify_1",
                "source_id": "shop-42",
                "name": "Ada Lovelace",
                "email": "ada@example.com",
                "object": "customer",
            },
            "voucher": {"code": "REF-7Q2X", "campaign": "Referral", "campaign_id": "camp_ref"},
            "order": {"id": "ord_1", "source_id": "1001", "amount": 12900, "items": []},
            "reward": {"type": "CAMPAIGN", "name": "EUR 15 credit", "amount": 1500},
        }
    },
}

CUSTOM_EVENT = {
    "event": "newsletter_subscribed",
    "customer": {"source_id": "shop-42", "email": "ada@example.com", "name": "Ada Lovelace"},
    "metadata": {"list": "weekly"},
}


class DeliveryOut(msgspec.Struct):
    id: str
    channel: str
    status: str
    distribution_id: str | None
    reason: str | None = None


class CustomerOut(msgspec.Struct):
    """Who the event was about (Voucherify's SDKs read it from the answer)."""

    id: str
    source_id: str | None
    object: str = "customer"


class EventAccepted(msgspec.Struct):
    """The event was stored; deliveries are queued (or failed/suppressed, with the reason).

    ``notes`` says what went wrong on the way in without stopping the event (a customer that
    could not be read from Voucherify).
    """

    id: str
    duplicate: bool
    deliveries: list[DeliveryOut]
    customer: CustomerOut | None = None
    notes: list[str] = msgspec.field(default_factory=list)
    object: str = "event"


def event_accepted(result: IngestResult) -> EventAccepted:
    """The answer to an ingested event."""
    about = result.customer
    return EventAccepted(
        id=result.event_id,
        duplicate=result.duplicate,
        deliveries=[DeliveryOut(**d.__dict__) for d in result.deliveries],
        customer=CustomerOut(id=about["id"], source_id=about.get("source_id")) if about else None,
        notes=list(result.notes),
    )


class EventController(Controller):
    """Inbound events."""

    path = "/v1/events"
    tags = ["events"]
    security = SECURITY

    @post(
        "/",
        status_code=202,
        summary="Receive an event (ours, a Voucherify webhook, or a Voucherify custom event)",
        description=(
            "Stores the event once per dedupe key: the body's `id`, else the `Idempotency-Key` "
            "header (else the `webhook-id`); a repeat answers with the original result and sends "
            "nothing new. Matching distributions are rendered and queued in the same "
            "transaction. When the project has an inbound signing secret, the call must carry "
            "valid Standard Webhooks headers (401 otherwise, and nothing is stored); the dedupe "
            "key of a body without an `id` is then the signed `webhook-id`, and an "
            "`Idempotency-Key` header is ignored. Voucherify's `track_custom_event` body "
            "(`event`, `customer`, `metadata`, `referral`, `loyalty`) is an event whose type is "
            "the custom event's name. A Voucherify project's own webhooks go to a `voucherify` "
            "connection's `callback_url` instead (docs/voucherify.md)."
        ),
    )
    async def receive(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[
            dict[str, Any],
            Body(
                examples=[
                    Example(summary="Our event", value=OUR_EVENT),
                    Example(summary="A Voucherify webhook", value=VOUCHERIFY_EVENT),
                    Example(
                        summary="Voucherify's track_custom_event (as its SDKs send it)",
                        value=CUSTOM_EVENT,
                    ),
                ]
            ),
        ],
    ) -> Response[EventAccepted]:
        # What other handlers get as dependencies comes from the app's state: Litestar resolves
        # several dependencies in an anyio task group, which cost more than the rest of the
        # handler's own work on the hot path.
        state = request.app.state
        db: Database = state.database
        caller = await provide_caller(request, db)
        headers = {
            name: request.headers[name]
            for name in ("idempotency-key", "webhook-id", "webhook-timestamp", "webhook-signature")
            if name in request.headers
        }
        posted = PostedEvent(caller.project_id, headers, await request.body(), data)
        result = await ingest_posted(db, state.secret_box, state.links, posted)
        if not result.duplicate:
            notifier: DeliveryNotifier = state.worker
            notifier.queued([d.id for d in result.deliveries if d.status == "queued"])
        return Response(event_accepted(result), status_code=202)
