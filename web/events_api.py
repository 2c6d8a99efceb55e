"""``POST /v1/events``: our events and Voucherify webhooks in, deliveries out (202)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from weakref import WeakKeyDictionary

import anyio
import msgspec
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Body

from distribution.db import Database
from distribution.event_input import parse_event
from distribution.inbound_signing import open_inbound_secret, verify_inbound
from distribution.ingest import IngestResult, LinkSettings, receive_event
from distribution.notifiers import DeliveryNotifier
from distribution.projects import cached_project
from distribution.provider_store import SecretBox
from web.auth import SECURITY, Caller

__all__ = ["EventController"]

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


# How many events are ingested at once. SQLite has one writer, so more threads than this only
# queue on its lock, which is not first-come first-served (the p99 grew to seconds) and costs
# CPU in lock and GIL handovers; the rest wait here, in order. PostgreSQL writes in parallel.
SQLITE_INGEST_THREADS = 4
POSTGRES_INGEST_THREADS = 16
# One limiter per event loop (a limiter belongs to the loop it was made in; tests run several).
_LIMITERS: WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = WeakKeyDictionary()


def _ingest_limiter(db: Database) -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _LIMITERS.get(loop)
    if limiter is None:
        threads = SQLITE_INGEST_THREADS if db.is_sqlite else POSTGRES_INGEST_THREADS
        limiter = _LIMITERS[loop] = anyio.CapacityLimiter(threads)
    return limiter


class DeliveryOut(msgspec.Struct):
    id: str
    channel: str
    status: str
    distribution_id: str | None
    reason: str | None = None


class EventAccepted(msgspec.Struct):
    """The event was stored; deliveries are queued (or failed/suppressed, with the reason)."""

    id: str
    duplicate: bool
    deliveries: list[DeliveryOut]
    object: str = "event"


def _receive(
    db: Database,
    box: SecretBox,
    caller: Caller,
    headers: dict[str, str],
    body: bytes,
    data: dict[str, Any],
    links: LinkSettings,
) -> IngestResult:
    # Verified before parsing, so an unsigned caller learns nothing about the body's validity.
    with db.reader() as session:  # opens no transaction when the project is cached
        project = cached_project(session, caller.project_id)
    secret = open_inbound_secret(box, project.inbound_webhook_secret_encrypted)
    if secret is not None:
        verify_inbound(secret, headers, body)
    # A signed call's webhook-id names the event as well as an Idempotency-Key would.
    key = headers.get("idempotency-key") or headers.get("webhook-id")
    incoming = parse_event(data, idempotency_key=key)
    return receive_event(db, caller.project_id, incoming, links)


class EventController(Controller):
    """Inbound events."""

    path = "/v1/events"
    tags = ["events"]
    security = SECURITY

    @post(
        "/",
        status_code=202,
        summary="Receive an event (ours or a Voucherify webhook)",
        description=(
            "Stores the event once per dedupe key (its `id`, or the `Idempotency-Key` header); "
            "a repeat answers with the original result and sends nothing new. Matching "
            "distributions are rendered and queued in the same transaction. When the project "
            "has an inbound signing secret, the call must carry valid Standard Webhooks headers "
            "(401 otherwise, and nothing is stored); the `webhook-id` then also serves as the "
            "dedupe key of a body without an `id`."
        ),
    )
    async def receive(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        worker: NamedDependency[DeliveryNotifier],
        links: NamedDependency[LinkSettings],
        secret_box: NamedDependency[SecretBox],
        data: Annotated[
            dict[str, Any],
            Body(
                examples=[
                    Example(summary="Our event", value=OUR_EVENT),
                    Example(summary="A Voucherify webhook", value=VOUCHERIFY_EVENT),
                ]
            ),
        ],
    ) -> Response[EventAccepted]:
        headers = {
            name: request.headers[name]
            for name in ("idempotency-key", "webhook-id", "webhook-timestamp", "webhook-signature")
            if name in request.headers
        }
        raw = await request.body()
        result = await anyio.to_thread.run_sync(
            _receive, db, secret_box, caller, headers, raw, data, links, limiter=_ingest_limiter(db)
        )
        if not result.duplicate:
            worker.queued([d.id for d in result.deliveries if d.status == "queued"])
        body = EventAccepted(
            id=result.event_id,
            duplicate=result.duplicate,
            deliveries=[DeliveryOut(**d.__dict__) for d in result.deliveries],
        )
        return Response(body, status_code=202)
