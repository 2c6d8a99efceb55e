"""Outgoing webhooks: subscriptions of a project, and ``emit`` that queues our events for them.

``emit`` writes one ``WebhookCall`` per matching active subscription in the caller's transaction,
so an event is announced exactly when the change it describes commits (the outbox pattern). The
dispatcher (``distribution.webhooks.dispatch``) sends the calls later. Secrets are Standard
Webhooks ``whsec_`` keys, sealed with the service key; only creation and rotation return them.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import object_session
from sqlmodel import Session, col, select

from distribution.accounts.project_cache import CACHE, changed
from distribution.errors import ConflictError, FieldError, InvalidInputError
from distribution.models import WebhookCall, WebhookSubscription, utcnow
from distribution.storage.ids import new_id
from distribution.storage.project_rows import project_row
from distribution.storage.secrets import SecretBox
from distribution.webhooks.streams import stream_entries, streaming
from providers.address_guard import AddressGuard

__all__ = [
    "EVENT_TYPES",
    "MAX_SUBSCRIPTIONS",
    "WILDCARD",
    "NewSecret",
    "create_subscription",
    "delete_subscription",
    "emit",
    "emit_many",
    "enable_subscription",
    "get_subscription",
    "list_subscriptions",
    "new_webhook_secret",
    "queue_test_call",
    "recent_calls",
    "rotate_secret",
    "wants",
]

#: Our events a subscription may ask for; ``*`` asks for all of them.
EVENT_TYPES = (
    "message.queued",
    "message.sent",
    "message.delivered",
    "message.failed",
    "message.bounced",
    "message.converted",
    "customer.unsubscribed",
    "customer.segment.entered",
    "customer.segment.left",
    "code.assigned",
    "code_pool.low_stock",
)
WILDCARD = "*"
TEST_EVENT = "webhook.test"
MAX_SUBSCRIPTIONS = 50
MAX_URL_LENGTH = 2000
_CALLS = WebhookCall.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class NewSecret:
    """A subscription together with its signing secret, visible only in this answer."""

    subscription: WebhookSubscription
    secret: str


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and the base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _check_url(url: str, allow_private: bool) -> list[FieldError]:
    """Shape and internal targets (the address guard without DNS); the dispatcher's client
    checks the resolved addresses again at each call."""
    if len(url) > MAX_URL_LENGTH:
        return [FieldError("url", f"must be at most {MAX_URL_LENGTH} characters")]
    # Control characters (NUL included) can neither be stored nor sent in a request line.
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return [FieldError("url", "must be an http(s) URL with a host")]
    reason = AddressGuard(allow_private=allow_private).url_refusal(url)
    return [FieldError("url", reason)] if reason else []


def _check_types(event_types: list[str]) -> list[FieldError]:
    if not event_types:
        return [FieldError("event_types", "must name at least one event type (or *)")]
    allowed = (*EVENT_TYPES, WILDCARD)
    return [
        FieldError(f"event_types[{i}]", f"must be one of {', '.join(allowed)}")
        for i, name in enumerate(event_types)
        if name not in allowed
    ]


def create_subscription(
    session: Session,
    box: SecretBox,
    project_id: str,
    url: str,
    event_types: list[str],
    *,
    allow_private: bool = False,
) -> NewSecret:
    """Subscribe ``url`` to ``event_types``; the answer carries the secret, once."""
    errors = _check_url(url, allow_private) + _check_types(event_types)
    if errors:
        raise InvalidInputError(errors)
    count = len(list_subscriptions(session, project_id))
    if count >= MAX_SUBSCRIPTIONS:
        raise ConflictError(f"a project has at most {MAX_SUBSCRIPTIONS} webhook subscriptions")
    secret = new_webhook_secret()
    subscription = WebhookSubscription(
        id=new_id("whsub"),
        project_id=project_id,
        url=url,
        event_types=sorted(set(event_types)),
        secret_encrypted=box.seal({"secret": secret}),
    )
    session.add(subscription)
    session.flush()
    return NewSecret(subscription, secret)


def list_subscriptions(session: Session, project_id: str) -> list[WebhookSubscription]:
    """The project's subscriptions, oldest first."""
    return list(
        session.exec(
            select(WebhookSubscription)
            .where(WebhookSubscription.project_id == project_id)
            .order_by(col(WebhookSubscription.id))
        )
    )


def get_subscription(
    session: Session, project_id: str, subscription_id: str
) -> WebhookSubscription:
    """One subscription of the project; NotFoundError otherwise."""
    return project_row(session, WebhookSubscription, project_id, subscription_id, "webhook")


def recent_calls(
    session: Session, project_id: str, subscription_id: str, limit: int = 20
) -> list[WebhookCall]:
    """The subscription's newest calls (pending, delivered or failed), newest first."""
    subscription = get_subscription(session, project_id, subscription_id)
    return list(
        session.exec(
            select(WebhookCall)
            .where(WebhookCall.subscription_id == subscription.id)
            .order_by(col(WebhookCall.created_at).desc(), col(WebhookCall.id).desc())
            .limit(limit)
        )
    )


def delete_subscription(session: Session, project_id: str, subscription_id: str) -> None:
    """Delete a subscription; its pending calls go with it."""
    subscription = get_subscription(session, project_id, subscription_id)
    for call in session.exec(
        select(WebhookCall).where(WebhookCall.subscription_id == subscription.id)
    ):
        session.delete(call)
    session.delete(subscription)


def rotate_secret(session: Session, box: SecretBox, project_id: str, subscription_id: str) -> str:
    """A new secret for the subscription (the old one stops working at once); returns it."""
    subscription = get_subscription(session, project_id, subscription_id)
    secret = new_webhook_secret()
    subscription.secret_encrypted = box.seal({"secret": secret})
    subscription.updated_at = utcnow()
    session.add(subscription)
    return secret


def enable_subscription(
    session: Session, project_id: str, subscription_id: str
) -> WebhookSubscription:
    """Re-activate a disabled subscription; its pending calls are sent again."""
    subscription = get_subscription(session, project_id, subscription_id)
    subscription.status = "active"
    subscription.disabled_reason = None
    subscription.consecutive_failures = 0
    subscription.updated_at = utcnow()
    session.add(subscription)
    return subscription


def _body(event_type: str, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """An event as webhooks send it and streams keep it."""
    return {
        "type": event_type,
        "timestamp": now.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z"),
        "data": data,
    }


def _call_values(
    project_id: str, subscription_id: str, event_type: str, data: dict[str, Any], now: datetime
) -> dict[str, Any]:
    # The body is fixed here, so every retry sends the same bytes under the same webhook-id.
    return {
        "id": new_id("whmsg"),
        "project_id": project_id,
        "subscription_id": subscription_id,
        "event_type": event_type,
        "payload": _body(event_type, data, now),
        "status": "pending",
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
    }


def _call(
    project_id: str, subscription_id: str, event_type: str, data: dict[str, Any]
) -> WebhookCall:
    return WebhookCall(**_call_values(project_id, subscription_id, event_type, data, utcnow()))


def queue_test_call(session: Session, project_id: str, subscription_id: str) -> WebhookCall:
    """Queue a ``webhook.test`` call to one subscription, whatever its event types."""
    subscription = get_subscription(session, project_id, subscription_id)
    if subscription.status != "active":
        raise ConflictError("the webhook is disabled: enable it first")
    call = _call(
        project_id, subscription.id, TEST_EVENT, {"subscription_id": subscription.id, "test": True}
    )
    session.add(call)
    session.flush()
    return call


def _scope(project_id: str) -> str:
    # A scope of its own: a subscription's failure count changes with every failed call, which
    # must not throw away the project's cached distributions and templates.
    return f"webhooks:{project_id}"


def _subscription_changed(_mapper: Any, _connection: Any, target: WebhookSubscription) -> None:
    session = object_session(target)
    if session is not None:
        changed(session, _scope(target.project_id))


# Every write of a subscription goes through the ORM (here, and the dispatcher disabling one), so
# mapper events see them all, wherever they are made.
for _name in ("after_insert", "after_update", "after_delete"):
    event.listen(WebhookSubscription, _name, _subscription_changed)


def _active(session: Session, project_id: str) -> list[tuple[str, frozenset[str]]]:
    """The project's active subscriptions and their event types, cached until one changes.

    Every event and every delivery outcome asks; the answer changes only when someone edits a
    subscription (or the dispatcher disables one).
    """

    def load() -> list[tuple[str, frozenset[str]]]:
        rows = session.exec(
            select(WebhookSubscription).where(
                WebhookSubscription.project_id == project_id,
                WebhookSubscription.status == "active",
            )
        )
        return [(s.id, frozenset(s.event_types)) for s in rows]

    return CACHE.get(_scope(project_id), ("webhooks", project_id), load)


def wants(session: Session, project_id: str, event_type: str) -> bool:
    """Whether a subscription or a stream of the project asked for ``event_type`` (cached):
    when none did, callers need not build the events' data at all."""
    return bool(_subscribers(session, project_id, event_type)) or streaming(
        session, project_id, event_type
    )


def _subscribers(session: Session, project_id: str, event_type: str) -> list[str]:
    """Ids of the project's active subscriptions that asked for ``event_type`` (cached)."""
    return [
        subscription_id
        for subscription_id, types in _active(session, project_id)
        if event_type in types or WILDCARD in types
    ]


def emit(session: Session, project_id: str, event_type: str, data: dict[str, Any]) -> None:
    """Queue ``event_type`` with ``data`` for every active subscription that asked for it.

    Runs in the caller's transaction: the calls commit (or roll back) with the change itself.
    """
    emit_many(session, project_id, event_type, [data])


def emit_many(
    session: Session, project_id: str, event_type: str, datas: Sequence[dict[str, Any]]
) -> int:
    """``emit`` for many events of one type: one cached lookup and one insert; calls queued.

    Also keeps them in the project's event streams that want them (``streams``). Costs
    nothing beyond the (cached) lookups when no subscription or stream asked for ``event_type``.
    """
    subscribers = _subscribers(session, project_id, event_type) if datas else []
    now = utcnow()
    rows = [
        _call_values(project_id, subscription_id, event_type, data, now)
        for subscription_id in subscribers
        for data in datas
    ]
    if rows:
        session.connection().execute(insert(_CALLS), rows)
    bodies = [_body(event_type, data, now) for data in datas]
    return len(rows) + stream_entries(session, project_id, event_type, bodies, now)
