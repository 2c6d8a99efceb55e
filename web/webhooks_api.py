"""``/v1/webhooks`` (our events out) and ``/v1/settings/inbound-webhook-secret`` (signed events in).

Secrets are answered once, by the operation that creates them; listings never carry them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import anyio
import msgspec
from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath, QueryParameter

from distribution.events.inbound_signing import (
    clear_inbound_secret,
    has_inbound_secret,
    set_inbound_secret,
)
from distribution.models import WebhookCall, WebhookSubscription
from distribution.storage.db import Database
from distribution.storage.secrets import SecretBox
from distribution.webhooks.dispatch import WebhookDispatcher
from distribution.webhooks.subscriptions import (
    create_subscription,
    delete_subscription,
    enable_subscription,
    get_subscription,
    list_subscriptions,
    queue_test_call,
    recent_calls,
    rotate_secret,
)
from web.auth import SECURITY, Caller
from web.settings import Settings
from web.stored_times import utc, utc_or_none

__all__ = ["InboundSecretController", "WebhookController"]


EventType = Annotated[str, msgspec.Meta(max_length=100)]


class WebhookIn(msgspec.Struct, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(max_length=2000)]
    event_types: Annotated[list[EventType], msgspec.Meta(max_length=20)]


class WebhookOut(msgspec.Struct):
    """A subscription; ``secret`` only in the answers to creation and rotation."""

    id: str
    url: str
    event_types: list[str]
    status: str
    consecutive_failures: int
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime
    secret: str | None = None
    object: str = "webhook"


class TestCallOut(msgspec.Struct):
    """The queued test call; its id is the ``webhook-id`` the receiver will see."""

    id: str
    event_type: str
    object: str = "webhook_call"


class CallOut(msgspec.Struct):
    """One call to a subscription: its outcome so far (``status`` pending, delivered or failed)."""

    id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    object: str = "webhook_call"


class InboundSecretOut(msgspec.Struct):
    """Whether ``POST /v1/events`` requires signed calls; the secret itself is never shown."""

    set: bool
    object: str = "inbound_webhook_secret"


#: How many recent calls ``GET /v1/webhooks/{id}/calls`` answers at most.
MAX_RECENT_CALLS = 100


def _call_out(call: WebhookCall) -> CallOut:
    return CallOut(
        id=call.id,
        event_type=call.event_type,
        status=call.status,
        attempts=call.attempts,
        last_status_code=call.last_status_code,
        last_error=call.last_error,
        created_at=utc(call.created_at),
        # A settled call has no next attempt, whatever the column still holds.
        next_attempt_at=utc_or_none(call.next_attempt_at) if call.status == "pending" else None,
        delivered_at=utc_or_none(call.delivered_at),
    )


class SecretOut(msgspec.Struct):
    """A new signing secret, shown once."""

    secret: str
    object: str = "signing_secret"


def _out(subscription: WebhookSubscription, secret: str | None = None) -> WebhookOut:
    return WebhookOut(
        id=subscription.id,
        url=subscription.url,
        event_types=list(subscription.event_types),
        status=subscription.status,
        consecutive_failures=subscription.consecutive_failures,
        disabled_reason=subscription.disabled_reason,
        created_at=utc(subscription.created_at),
        updated_at=utc(subscription.updated_at),
        secret=secret,
    )


class WebhookController(Controller):
    """Subscriptions to our events, delivered with Standard Webhooks signatures."""

    path = "/v1/webhooks"
    tags = ["webhooks"]
    security = SECURITY

    @post(
        "/",
        sync_to_thread=True,
        summary="Subscribe a URL to events (the whsec_ secret is shown once)",
    )
    def create(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        secret_box: NamedDependency[SecretBox],
        settings: NamedDependency[Settings],
        data: Annotated[
            WebhookIn,
            Body(
                examples=[
                    Example(
                        summary="Follow every message",
                        value={
                            "url": "https://crm.example.com/hooks/dm",
                            "event_types": ["message.sent", "message.failed"],
                        },
                    )
                ]
            ),
        ],
    ) -> WebhookOut:
        with db.session() as session:
            new = create_subscription(
                session,
                secret_box,
                caller.project_id,
                data.url,
                data.event_types,
                allow_private=settings.allow_private_networks,
            )
        return _out(new.subscription, new.secret)

    # Before ``list`` and ``get`` below: in the class body those names become handlers.
    @get(
        "/{webhook_id:str}/calls",
        sync_to_thread=True,
        summary="Recent calls to a subscription, newest first, with their outcome",
    )
    def calls(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        webhook_id: FromPath[str],
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_RECENT_CALLS)] = 20,
    ) -> list[CallOut]:
        with db.reader() as session:
            found = recent_calls(session, caller.project_id, webhook_id, limit)
            return [_call_out(call) for call in found]

    @get("/", sync_to_thread=True, summary="List webhook subscriptions")
    def list(
        self, db: NamedDependency[Database], caller: NamedDependency[Caller]
    ) -> list[WebhookOut]:
        with db.reader() as session:
            return [_out(s) for s in list_subscriptions(session, caller.project_id)]

    @get("/{webhook_id:str}", sync_to_thread=True, summary="Get a webhook subscription")
    def get(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        webhook_id: FromPath[str],
    ) -> WebhookOut:
        with db.reader() as session:
            return _out(get_subscription(session, caller.project_id, webhook_id))

    @delete(
        "/{webhook_id:str}",
        sync_to_thread=True,
        status_code=204,
        summary="Delete a subscription and its pending calls",
    )
    def remove(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        webhook_id: FromPath[str],
    ) -> None:
        with db.session() as session:
            delete_subscription(session, caller.project_id, webhook_id)

    @post(
        "/{webhook_id:str}/rotate-secret",
        sync_to_thread=True,
        status_code=200,
        summary="Replace the signing secret (the new one is shown once)",
    )
    def rotate(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        secret_box: NamedDependency[SecretBox],
        webhook_id: FromPath[str],
    ) -> WebhookOut:
        with db.session() as session:
            secret = rotate_secret(session, secret_box, caller.project_id, webhook_id)
            subscription = get_subscription(session, caller.project_id, webhook_id)
        return _out(subscription, secret)

    @post(
        "/{webhook_id:str}/enable",
        sync_to_thread=True,
        status_code=200,
        summary="Re-enable a disabled subscription (its pending calls resume)",
    )
    def enable(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        webhook_id: FromPath[str],
    ) -> WebhookOut:
        with db.session() as session:
            return _out(enable_subscription(session, caller.project_id, webhook_id))

    @post(
        "/{webhook_id:str}/test",
        status_code=202,
        summary="Queue a webhook.test call to this subscription",
    )
    async def test(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        dispatcher: NamedDependency[WebhookDispatcher],
        webhook_id: FromPath[str],
    ) -> TestCallOut:
        def queue() -> TestCallOut:
            with db.session() as session:
                call = queue_test_call(session, caller.project_id, webhook_id)
                return TestCallOut(id=call.id, event_type=call.event_type)

        out = await anyio.to_thread.run_sync(queue)
        dispatcher.wake()
        return out


class InboundSecretController(Controller):
    """The secret inbound calls to ``POST /v1/events`` must be signed with, when set."""

    path = "/v1/settings/inbound-webhook-secret"
    tags = ["webhooks"]
    security = SECURITY

    @get("/", sync_to_thread=True, summary="Whether signed events are required (set or not set)")
    def status(
        self, db: NamedDependency[Database], caller: NamedDependency[Caller]
    ) -> InboundSecretOut:
        with db.reader() as session:
            return InboundSecretOut(set=has_inbound_secret(session, caller.project_id))

    @post(
        "/",
        sync_to_thread=True,
        status_code=201,
        summary="Require signed events: set or rotate the whsec_ secret (shown once)",
        description=(
            "From now on `POST /v1/events` needs Standard Webhooks headers (`webhook-id`, "
            "`webhook-timestamp` within 5 minutes, `webhook-signature` over the raw body) "
            "signed with this secret, or answers 401 and stores nothing."
        ),
    )
    def set_secret(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        secret_box: NamedDependency[SecretBox],
    ) -> SecretOut:
        with db.session() as session:
            return SecretOut(secret=set_inbound_secret(session, secret_box, caller.project_id))

    @delete(
        "/",
        sync_to_thread=True,
        status_code=204,
        summary="Stop requiring signed events",
    )
    def clear_secret(self, db: NamedDependency[Database], caller: NamedDependency[Caller]) -> None:
        with db.session() as session:
            clear_inbound_secret(session, caller.project_id)
