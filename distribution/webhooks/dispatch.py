"""The webhook dispatcher: sends queued ``WebhookCall`` rows to their subscriptions.

Same shape as the delivery worker: due calls are claimed in one short transaction (the claim
pushes ``next_attempt_at`` one lease ahead, so a crashed dispatcher's calls come due again),
POSTed with no transaction open, and the outcomes recorded in another. Delivery is at least once:
the ``webhook-id`` (the call id) is the same on every attempt, so receivers can drop repeats.

A 2xx answer delivers the call; 410 Gone disables the subscription; anything else (429, 5xx,
other 4xx, redirects, timeouts, connection errors) retries on the policy's schedule with jitter,
honouring ``Retry-After``. A subscription whose ``disable_after`` consecutive calls all failed
every attempt is disabled with the reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select as core_select
from sqlalchemy import update
from sqlmodel import col

from distribution.models import WebhookCall, WebhookSubscription, utcnow
from distribution.storage.db import Database
from distribution.storage.polling_loop import PollingLoop
from distribution.storage.secrets import SecretBox
from providers.address_guard import AddressGuard, DestinationRefusedError
from providers.http_transport import (
    GuardedClient,
    HttpError,
    HttpTimeoutError,
    guarded_client,
    retry_after_seconds,
)
from providers.standard_webhooks import sign

__all__ = ["CallOutcome", "ClaimedCall", "WebhookDispatcher", "WebhookPolicy"]

log = logging.getLogger("distribution.webhooks")

# The Standard Webhooks recommendation after the first, immediate attempt.
DEFAULT_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0)
MAX_RETRY_AFTER = 86400.0
_EXCERPT = 200


@dataclass(frozen=True)
class WebhookPolicy:
    """How calls are sent and retried (from the service settings)."""

    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    timeout: float = 15.0
    lease_seconds: float = 60.0
    # Consecutive calls that failed every attempt before the subscription is disabled.
    disable_after: int = 5
    allow_private: bool = False
    jitter: float = 0.2

    def retry_in(self, attempts: int, retry_after: float | None) -> float | None:
        """Seconds until the next attempt after ``attempts`` failed ones; None to give up."""
        if attempts > len(self.schedule):
            return None
        base = self.schedule[attempts - 1]
        delay = base * random.uniform(1 - self.jitter, 1 + self.jitter)
        return max(delay, min(retry_after or 0.0, MAX_RETRY_AFTER))


@dataclass(frozen=True)
class ClaimedCall:
    """A call claimed for sending, with its subscription's URL and secret."""

    id: str
    subscription_id: str
    attempts: int
    payload: dict[str, Any]
    url: str
    secret: str | None


@dataclass(frozen=True)
class CallOutcome:
    """What one attempt came to."""

    id: str
    subscription_id: str
    result: str  # "delivered" | "retry" | "failed" | "gone"
    status_code: int | None = None
    detail: str | None = None
    retry_in: float | None = None


def claim_calls(
    database: Database, box: SecretBox, limit: int, policy: WebhookPolicy
) -> list[ClaimedCall]:
    """Lease up to ``limit`` due calls of active subscriptions and return them."""
    now = utcnow()
    active = core_select(col(WebhookSubscription.id)).where(
        col(WebhookSubscription.status) == "active"
    )
    due = (
        core_select(col(WebhookCall.id))
        .where(
            col(WebhookCall.status) == "pending",
            col(WebhookCall.next_attempt_at) <= now,
            col(WebhookCall.subscription_id).in_(active),
        )
        .order_by(col(WebhookCall.next_attempt_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claim = (
        update(WebhookCall)
        .where(col(WebhookCall.id).in_(due.scalar_subquery()), col(WebhookCall.status) == "pending")
        .values(
            attempts=col(WebhookCall.attempts) + 1,
            next_attempt_at=now + timedelta(seconds=policy.lease_seconds),
        )
        .returning(
            col(WebhookCall.id),
            col(WebhookCall.subscription_id),
            col(WebhookCall.attempts),
            col(WebhookCall.payload),
        )
    )
    with database.session() as session:
        connection = session.connection()
        rows = connection.execute(claim).all()
        if not rows:
            return []
        targets = {
            row[0]: (row[1], row[2])
            for row in connection.execute(
                core_select(
                    col(WebhookSubscription.id),
                    col(WebhookSubscription.url),
                    col(WebhookSubscription.secret_encrypted),
                ).where(col(WebhookSubscription.id).in_({row[1] for row in rows}))
            )
        }
    claimed = []
    for call_id, subscription_id, attempts, payload in rows:
        url, sealed = targets[subscription_id]
        opened = box.open(sealed)
        secret = opened.get("secret") if opened else None
        claimed.append(ClaimedCall(call_id, subscription_id, attempts, payload, url, secret))
    return claimed


def _failed(
    call: ClaimedCall, policy: WebhookPolicy, detail: str, code: int | None, after: float | None
) -> CallOutcome:
    delay = policy.retry_in(call.attempts, after)
    if delay is None:
        detail = f"gave up after {call.attempts} attempts: {detail}"
        return CallOutcome(call.id, call.subscription_id, "failed", code, detail)
    return CallOutcome(call.id, call.subscription_id, "retry", code, detail, delay)


async def send_call(client: GuardedClient, call: ClaimedCall, policy: WebhookPolicy) -> CallOutcome:
    """One signed POST of ``call``; never raises."""
    if call.secret is None:
        detail = "the signing secret cannot be opened (the service key changed): rotate it"
        return CallOutcome(call.id, call.subscription_id, "failed", None, detail)
    body = json.dumps(call.payload, separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": "distribution-manager-webhooks/1",
        "webhook-id": call.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(call.secret, call.id, timestamp, body),
    }
    try:
        response = await client.post(call.url, content=body, headers=headers)
    except DestinationRefusedError as refused:
        return CallOutcome(call.id, call.subscription_id, "failed", None, str(refused))
    except HttpTimeoutError:
        return _failed(call, policy, f"no answer within {policy.timeout:g} s", None, None)
    except HttpError as error:
        return _failed(call, policy, str(error)[:_EXCERPT], None, None)
    code = response.status_code
    if 200 <= code < 300:
        return CallOutcome(call.id, call.subscription_id, "delivered", code)
    if code == 410:
        return CallOutcome(call.id, call.subscription_id, "gone", code, "410 Gone")
    # The receiver's answer is not repeated: only the status says what happened.
    reason = "redirects are not followed" if 300 <= code < 400 else "not a 2xx answer"
    return _failed(
        call, policy, f"HTTP {code}: {reason}", code, retry_after_seconds(response.headers)
    )


def record_call_outcomes(
    database: Database, outcomes: Sequence[CallOutcome], policy: WebhookPolicy
) -> None:
    """Write the attempts' outcomes and move subscription health on, in one transaction."""
    if not outcomes:
        return
    now = utcnow()
    with database.session() as session:
        connection = session.connection()
        for outcome in outcomes:
            values: dict[str, Any] = {
                "last_status_code": outcome.status_code,
                "last_error": outcome.detail,
            }
            if outcome.result == "delivered":
                values.update(status="delivered", delivered_at=now)
            elif outcome.result == "retry":
                values["next_attempt_at"] = now + timedelta(seconds=outcome.retry_in or 0.0)
            else:
                values["status"] = "failed"
            connection.execute(
                update(WebhookCall)
                .where(col(WebhookCall.id) == outcome.id, col(WebhookCall.status) == "pending")
                .values(**values)
            )
            subscription = session.get(WebhookSubscription, outcome.subscription_id)
            if subscription is None:
                continue
            if outcome.result == "delivered":
                subscription.consecutive_failures = 0
            elif outcome.result == "gone":
                _disable(subscription, "the receiver answered 410 Gone", now)
            elif outcome.result == "failed":
                subscription.consecutive_failures += 1
                if subscription.consecutive_failures >= policy.disable_after:
                    reason = (
                        f"{subscription.consecutive_failures} consecutive calls failed "
                        f"(last: {outcome.detail})"
                    )
                    _disable(subscription, reason[:500], now)
            session.add(subscription)


def _disable(subscription: WebhookSubscription, reason: str, now: datetime) -> None:
    if subscription.status == "disabled":
        return
    log.warning("webhook %s disabled: %s", subscription.id, reason)
    subscription.status = "disabled"
    subscription.disabled_reason = reason
    subscription.updated_at = now


class WebhookDispatcher(PollingLoop):
    """The asyncio task that sends due webhook calls, until stopped."""

    name = "webhook-dispatcher"

    def __init__(
        self,
        database: Database,
        box: SecretBox,
        policy: WebhookPolicy,
        *,
        batch_size: int = 100,
        poll_interval: float = 0.5,
        shutdown_grace: float = 20.0,
    ) -> None:
        super().__init__(poll_interval=poll_interval, shutdown_grace=shutdown_grace)
        self.database = database
        self.box = box
        self.policy = policy
        self.batch_size = batch_size
        self._client: GuardedClient | None = None

    def _http(self) -> GuardedClient:
        if self._client is None:
            self._client = guarded_client(
                AddressGuard(allow_private=self.policy.allow_private),
                timeout=self.policy.timeout,
                max_connections=50,
            )
        return self._client

    async def after_stop(self) -> None:
        """Close the HTTP client (leased calls come due again; receivers dedupe by webhook-id)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run_once(self) -> int:
        """Claim, send and record one batch; the number of calls attempted."""
        claimed = await asyncio.to_thread(
            claim_calls, self.database, self.box, self.batch_size, self.policy
        )
        if not claimed:
            return 0
        client = self._http()
        outcomes = await asyncio.gather(*(send_call(client, c, self.policy) for c in claimed))
        await asyncio.to_thread(record_call_outcomes, self.database, outcomes, self.policy)
        return len(claimed)
