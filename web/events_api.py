"""``POST /v1/events``: our events and Voucherify webhooks in, deliveries out (202)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any
from weakref import WeakKeyDictionary

import anyio
import msgspec
from litestar import Controller, Request, Response, post
from litestar.openapi.spec import Example
from litestar.params import Body
from sqlmodel import Session

from distribution.db import Database
from distribution.event_input import IncomingEvent, parse_event
from distribution.inbound_signing import open_inbound_secret, verify_inbound
from distribution.ingest import IngestResult, receive_events
from distribution.notifiers import DeliveryNotifier
from distribution.outbox import LinkSettings
from distribution.projects import cached_project
from distribution.provider_store import SecretBox
from web.auth import SECURITY, Caller, provide_caller

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


# PostgreSQL writes in parallel and groups concurrent commits' WAL flushes by itself, so each
# event keeps a transaction of its own there: a batch would hold its customers' row locks until
# its end and, batches of several API processes taking them in different orders, deadlock.
POSTGRES_INGEST_THREADS = 16
# SQLite has one writer: events waiting for it are ingested together, in one transaction, at
# most this many at a time (see _GroupCommit).
MAX_BATCH = 64
# One per event loop: a limiter or a future belongs to the loop it was made in (tests run several).
_LIMITERS: WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = WeakKeyDictionary()
_GROUPS: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, _GroupCommit]] = WeakKeyDictionary()


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


@dataclass(frozen=True)
class _Posted:
    """One POST as it arrived, checked and parsed in the ingesting thread."""

    caller: Caller
    headers: dict[str, str]
    body: bytes
    data: dict[str, Any]


def _parse(session: Session, box: SecretBox, posted: _Posted) -> IncomingEvent:
    # Verified before parsing, so an unsigned caller learns nothing about the body's validity.
    project = cached_project(session, posted.caller.project_id)
    secret = open_inbound_secret(box, project.inbound_webhook_secret_encrypted)
    if secret is None:
        key = posted.headers.get("idempotency-key") or posted.headers.get("webhook-id")
    else:
        verify_inbound(secret, posted.headers, posted.body)
        # The signature covers the webhook-id but not the Idempotency-Key: a replayed call with
        # a new Idempotency-Key must still be the same event.
        key = posted.headers["webhook-id"]
    return parse_event(posted.data, idempotency_key=key)


def _receive(
    db: Database, box: SecretBox, links: LinkSettings, batch: Sequence[_Posted]
) -> list[IngestResult | Exception]:
    """Each POST's outcome, in order: its result, or the exception its request raises."""
    parsed: dict[int, tuple[str, IncomingEvent]] = {}
    outcomes: dict[int, IngestResult | Exception] = {}
    with db.reader() as session:  # opens no transaction while the projects are cached
        for position, posted in enumerate(batch):
            try:
                parsed[position] = (posted.caller.project_id, _parse(session, box, posted))
            except Exception as error:  # answered in its own request
                outcomes[position] = error
    if parsed:
        ingested = receive_events(db, list(parsed.values()), links)
        outcomes.update(zip(parsed, ingested, strict=True))
    return [outcomes[position] for position in range(len(batch))]


class _GroupCommit:
    """Ingests the POSTs waiting for SQLite's one writer together, in one transaction.

    The first POST starts a drain; while its batch is being written, the POSTs arriving meanwhile
    wait, and the next round takes them all at once. There is no timer: an event alone is
    ingested at once, and under load a batch is whatever arrived during the previous one.
    """

    def __init__(self, db: Database, box: SecretBox, links: LinkSettings) -> None:
        self._run = partial(_receive, db, box, links)
        self._waiting: list[tuple[_Posted, asyncio.Future[IngestResult]]] = []
        self._drain: asyncio.Task[None] | None = None

    async def submit(self, posted: _Posted) -> IngestResult:
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._waiting.append((posted, future))
        if self._drain is None:
            self._drain = asyncio.create_task(self._drain_all())
        return await future

    async def _drain_all(self) -> None:
        batch: list[tuple[_Posted, asyncio.Future[IngestResult]]] = []
        try:
            while self._waiting:
                batch = self._waiting[:MAX_BATCH]
                del self._waiting[:MAX_BATCH]
                try:
                    outcomes = await anyio.to_thread.run_sync(
                        self._run, [posted for posted, _ in batch]
                    )
                except Exception as error:  # not one outcome each: every request answers it
                    outcomes = [error] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():  # the client went away; the event is stored all the same
                        continue
                    if isinstance(outcome, Exception):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            # Only when cancelled (the loop is closing) are futures left: nobody would set them.
            for _, future in batch + self._waiting:
                future.cancel()
            self._waiting.clear()
            self._drain = None


def _group_commit(db: Database, box: SecretBox, links: LinkSettings) -> _GroupCommit:
    groups = _GROUPS.setdefault(asyncio.get_running_loop(), {})
    group = groups.get(id(db))
    if group is None:
        group = groups[id(db)] = _GroupCommit(db, box, links)
    return group


def _ingest_limiter() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _LIMITERS.get(loop)
    if limiter is None:
        limiter = _LIMITERS[loop] = anyio.CapacityLimiter(POSTGRES_INGEST_THREADS)
    return limiter


async def _ingest(
    db: Database, box: SecretBox, links: LinkSettings, posted: _Posted
) -> IngestResult:
    if db.is_sqlite:
        return await _group_commit(db, box, links).submit(posted)
    [outcome] = await anyio.to_thread.run_sync(
        _receive, db, box, links, [posted], limiter=_ingest_limiter()
    )
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


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
            "Stores the event once per dedupe key: the body's `id`, else the `Idempotency-Key` "
            "header (else the `webhook-id`); a repeat answers with the original result and sends "
            "nothing new. Matching distributions are rendered and queued in the same "
            "transaction. When the project has an inbound signing secret, the call must carry "
            "valid Standard Webhooks headers (401 otherwise, and nothing is stored); the dedupe "
            "key of a body without an `id` is then the signed `webhook-id`, and an "
            "`Idempotency-Key` header is ignored."
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
        posted = _Posted(caller, headers, await request.body(), data)
        result = await _ingest(db, state.secret_box, state.links, posted)
        if not result.duplicate:
            notifier: DeliveryNotifier = state.worker
            notifier.queued([d.id for d in result.deliveries if d.status == "queued"])
        body = EventAccepted(
            id=result.event_id,
            duplicate=result.duplicate,
            deliveries=[DeliveryOut(**d.__dict__) for d in result.deliveries],
        )
        return Response(body, status_code=202)
