"""The one ``deliver()``: claimed delivery rows go to their providers, outcomes are recorded.

Never holds a transaction across a provider call: rows are claimed (``queued`` -> ``sending``
with a lease) in one short transaction, sent with no transaction open, and the outcomes written
in another. A crash in between leaves ``sending`` rows whose lease runs out; recovery marks them
``unknown`` (the provider may or may not have sent them) or queues them again, as the operator
chose.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

from sqlalchemy import ColumnElement, Connection, Update, bindparam, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col

from distribution.customer_sync import forget_erased_recipients, goes_alone, is_erasure
from distribution.customers.consent import suppress
from distribution.errors import DistributionError
from distribution.models import Delivery, DeliveryStatusChange, utcnow
from distribution.outbox.prepare import PROFILE, profile_update
from distribution.storage.db import Database
from distribution.storage.driver_sql import Among, insert_many, update_many
from distribution.webhooks.message_data import message_data
from distribution.webhooks.subscriptions import emit_many, wants
from providers import (
    BatchSync,
    Message,
    PermanentProviderError,
    ProfileUpdate,
    Provider,
    ProviderError,
    SendResult,
    Sync,
    TransientProviderError,
)

__all__ = [
    "Claimed",
    "DeliveryPolicy",
    "SendOutcome",
    "SenderSource",
    "claim_due",
    "deliver",
    "leases_kept",
    "record_outcomes",
    "recover_expired",
    "release",
    "renew_leases",
    "start_sends",
]

log = logging.getLogger("distribution.delivery")
_DELIVERIES = Delivery.__table__  # type: ignore[attr-defined]
_CHANGES = DeliveryStatusChange.__table__  # type: ignore[attr-defined]
# Ids per IN list: well under SQLite's and PostgreSQL's parameter limits.
_IN_CHUNK = 5_000
# A provider's status word is short; a provider answering a long one is cut, not trusted.
_PROVIDER_STATUS_LIMIT = 40


class SenderSource(Protocol):
    """Where ``deliver`` gets live providers: the registry built at start-up."""

    async def sender(self, project_id: str, name: str) -> Provider: ...

    async def sync(self, project_id: str, name: str) -> Sync: ...


@dataclass(frozen=True)
class DeliveryPolicy:
    """Retry and lease settings, from the service settings."""

    max_attempts: int = 8
    base_backoff: float = 5.0
    max_backoff: float = 3600.0
    lease_seconds: float = 120.0
    # What to do with a row found in ``sending`` after its lease ran out.
    recovery: Literal["unknown", "retry"] = "unknown"
    public_url: str = ""

    def backoff(self, attempts: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter, at least the provider's Retry-After."""
        ceiling = min(self.max_backoff, self.base_backoff * 2 ** max(0, attempts - 1))
        delay = random.uniform(ceiling / 2, ceiling)
        return max(delay, retry_after or 0.0)


@dataclass(frozen=True)
class Claimed:
    """A delivery claimed for sending: a snapshot, no database object."""

    id: str
    project_id: str
    channel: str
    provider: str
    recipient: str
    content: dict[str, Any]
    marketing: bool
    attempts: int
    customer_id: str | None


@dataclass
class SendOutcome:
    """What happened to one claimed delivery."""

    id: str
    status: str
    detail: str | None = None
    provider_message_id: str | None = None
    retry_in: float | None = None
    # (project, channel, address, customer) to suppress when the provider reports an opt-out.
    suppress_address: tuple[str, str, str, str | None] | None = None
    # The provider's own word for the message (``SendResult.provider_status``).
    provider_status: str | None = None
    # The provider took the message but reported errors with it: ``detail`` names them, and
    # the row keeps them in ``last_error`` although it is ``sent``.
    provider_errors: bool = False
    # A settled erasure (customer sync): its row must not keep the erased person's platform id.
    forget_recipient: bool = False


_CLAIM_COLUMNS = [
    col(Delivery.id),
    col(Delivery.project_id),
    col(Delivery.channel),
    col(Delivery.provider),
    col(Delivery.recipient),
    col(Delivery.content),
    col(Delivery.marketing),
    col(Delivery.attempts),
    col(Delivery.customer_id),
]


def claim_due(
    database: Database,
    limit: int,
    policy: DeliveryPolicy,
    ids: Sequence[str] | None = None,
) -> list[Claimed]:
    """Move up to ``limit`` due ``queued`` rows to ``sending`` with a lease, and return them.

    ``ids`` narrows the claim to those rows (a distributed job carries its batch of ids); rows
    already claimed by someone else, sent or not yet due are left alone. On PostgreSQL
    ``FOR UPDATE SKIP LOCKED`` keeps concurrent claimers off each other's rows; SQLite has one
    writer at a time, which gives the same guarantee.
    """
    now = utcnow()
    values: dict[str, Any] = {
        "now": now,
        "limit": limit,
        "lease_until": now + timedelta(seconds=policy.lease_seconds),
    }
    with database.session() as session:
        connection = session.connection()
        if ids is not None:
            values["ids"] = _due_among(connection, ids, now)[:limit]
            if not values["ids"]:
                return []
            rows = connection.execute(_CLAIM_LOCKED, values).all()
        else:
            rows = connection.execute(_CLAIM, values).all()
    return [Claimed(*row) for row in rows]


def _due_among(connection: Connection, ids: Sequence[str], now: datetime) -> list[str]:
    """Lock the rows among ``ids`` nobody else holds; the due ``queued`` ones, in claim order.

    Only the primary key narrows this statement, and the status is checked here, not in SQL:
    with a status condition PostgreSQL's planner, trusting statistics gathered while the queue
    was nearly empty, walked every queued row through the status index to find a job's 200,
    about 100 ms a job at 100,000 queued rows.
    """
    locked = connection.execute(_LOCK_AMONG, {"ids": list(ids)}).all()
    due = sorted(
        (priority, at, id_)
        for id_, status, priority, at in locked
        if status == "queued" and at <= now
    )
    return [id_ for _priority, _at, id_ in due]


def _claiming(rows: ColumnElement[bool]) -> Update:
    """Move ``rows`` to ``sending`` with a lease, answering what a send needs."""
    return (
        update(_DELIVERIES)
        .where(rows)
        .values(
            status="sending",
            attempts=_DELIVERIES.c.attempts + 1,
            lease_until=bindparam("lease_until"),
            updated_at=bindparam("now"),
        )
        .returning(*_CLAIM_COLUMNS)
    )


# Built once: building a statement and its cache key cost more than running it, once per
# round. The subquery alone says "queued": on PostgreSQL FOR UPDATE re-checks it on
# the row it locks, and SQLite has one writer. Repeated on the outer UPDATE, it made SQLite read
# the whole queue through the status index instead of the ids by primary key.
_CLAIM = _claiming(
    _DELIVERIES.c.id.in_(
        core_select(_DELIVERIES.c.id)
        .where(
            _DELIVERIES.c.status == "queued",
            _DELIVERIES.c.next_attempt_at <= bindparam("now"),
        )
        .order_by(_DELIVERIES.c.priority, _DELIVERIES.c.next_attempt_at)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
)
_LOCK_AMONG = (
    core_select(
        _DELIVERIES.c.id,
        _DELIVERIES.c.status,
        _DELIVERIES.c.priority,
        _DELIVERIES.c.next_attempt_at,
    )
    .where(Among(_DELIVERIES.c.id, "ids"))
    .with_for_update(skip_locked=True)
)
# The rows _due_among locked: the lock is the claim's guarantee, no condition is repeated.
_CLAIM_LOCKED = _claiming(Among(_DELIVERIES.c.id, "ids"))


def _message(claimed: Claimed, policy: DeliveryPolicy) -> Message:
    content = claimed.content
    callback = (
        f"{policy.public_url}/v1/provider-webhooks/{claimed.project_id}/{claimed.provider}"
        if policy.public_url and claimed.channel == "sms"
        else None
    )
    return Message(
        id=claimed.id,
        channel="email" if claimed.channel == "email" else "sms",
        to=claimed.recipient,
        to_name=content.get("to_name"),
        subject=content.get("subject"),
        html=content.get("html"),
        text=content.get("text"),
        body=content.get("body"),
        marketing=claimed.marketing,
        unsubscribe_url=content.get("unsubscribe_url"),
        metadata={"delivery_id": claimed.id},
        # Set when preparing, by the provider's identity setting: our own customer id means
        # nothing to a platform (Braze answered success to it and reached nobody).
        external_user_id=content.get("external_user_id"),
        status_callback_url=callback,
    )


def _batched(claimed: Claimed) -> bool:
    """Whether the row may go to its sync with the others of its provider (``sync_many``).

    The one place that routes rows: a profile write is batched, every other row (messages,
    and a customer sync's erasures and opt-outs) takes the per-row path.
    """
    return claimed.channel == PROFILE and not goes_alone(claimed.content)


def _update_of(claimed: Claimed) -> ProfileUpdate:
    """The profile update a claimed row carries; a row that cannot make one fails alone."""
    try:
        return profile_update(claimed.id, claimed.content)
    except ValueError as error:
        raise PermanentProviderError(str(error), provider=claimed.provider) from None


async def _call_provider(
    claimed: Claimed, senders: SenderSource, policy: DeliveryPolicy
) -> SendResult:
    """Send the claimed message, or write the claimed profile update through its sync."""
    if claimed.channel == PROFILE:
        sync = await senders.sync(claimed.project_id, claimed.provider)
        return await sync.sync(_update_of(claimed))
    provider = await senders.sender(claimed.project_id, claimed.provider)
    return await provider.send(_message(claimed, policy))


async def _send_one(claimed: Claimed, senders: SenderSource, policy: DeliveryPolicy) -> SendOutcome:
    outcome = await _attempt(claimed, senders, policy)
    if outcome.status != "queued" and claimed.channel == PROFILE:
        outcome.forget_recipient = is_erasure(claimed.content)
    return outcome


async def _attempt(claimed: Claimed, senders: SenderSource, policy: DeliveryPolicy) -> SendOutcome:
    try:
        result = await _call_provider(claimed, senders, policy)
    except Exception as error:
        return _outcome(claimed, policy, error)
    return _outcome(claimed, policy, result)


async def _sync_group(
    rows: Sequence[Claimed], senders: SenderSource, policy: DeliveryPolicy
) -> list[SendOutcome] | None:
    """The profile writes of one (project, provider), in order, through one ``sync_many`` (the
    sync cuts them to the platform's size); None when the sync takes no batches, and each row
    goes on its own."""
    first = rows[0]
    try:
        sync = await senders.sync(first.project_id, first.provider)
    except Exception as error:
        return [_outcome(c, policy, error) for c in rows]
    if not isinstance(sync, BatchSync):
        return None
    outcomes: dict[int, SendOutcome] = {}
    built: list[int] = []
    updates: list[ProfileUpdate] = []
    for index, claimed in enumerate(rows):
        try:
            updates.append(_update_of(claimed))
        except PermanentProviderError as error:
            outcomes[index] = _outcome(claimed, policy, error)
            continue
        built.append(index)
    if updates:
        answers: Sequence[SendResult | Exception]
        try:
            answers = await sync.sync_many(updates)
            if len(answers) != len(updates):
                raise RuntimeError(f"sync_many answered {len(answers)} of {len(updates)} updates")
        except Exception as error:  # the whole batch failed: that error for each of its rows
            if not isinstance(error, DistributionError | ProviderError):
                log.exception("provider %s raised on a batch of %d", first.provider, len(updates))
            answers = [error] * len(updates)
        for index, answer in zip(built, answers, strict=True):
            outcomes[index] = _outcome(rows[index], policy, answer, logged=True)
    return [outcomes[index] for index in range(len(rows))]


def _outcome(
    claimed: Claimed,
    policy: DeliveryPolicy,
    answer: SendResult | Exception,
    *,
    logged: bool = False,
) -> SendOutcome:
    """What a provider's answer for one row, or its error, makes of the row: the one mapping,
    for single sends and batches alike (``logged``: a batch's failure was logged once)."""
    if isinstance(answer, TransientProviderError):
        return _retry_or_fail(claimed, policy, str(answer), answer.retry_after)
    if isinstance(answer, DistributionError | ProviderError):
        return SendOutcome(claimed.id, "failed", str(answer))
    if isinstance(answer, Exception):  # an unexpected bug in a provider: retry, and say so
        if not logged:
            log.error(
                "provider %s raised on delivery %s",
                claimed.provider,
                claimed.id,
                exc_info=(type(answer), answer, answer.__traceback__),
            )
        return _retry_or_fail(claimed, policy, f"unexpected error: {answer!r}", None)
    result = answer
    provider_status = (
        result.provider_status[:_PROVIDER_STATUS_LIMIT] if result.provider_status else None
    )
    if result.accepted:
        return SendOutcome(
            claimed.id,
            "sent",
            result.reason,
            result.provider_message_id,
            provider_status=provider_status,
            provider_errors=bool(result.errors),
        )
    outcome = SendOutcome(
        claimed.id,
        "failed",
        f"rejected: {result.reason or 'no reason given'}",
        provider_status=provider_status,
    )
    # The only refusal that says something about the recipient rather than this message.
    if result.reject_reason == "unsubscribed":
        outcome.suppress_address = (
            claimed.project_id,
            claimed.channel,
            claimed.recipient,
            claimed.customer_id,
        )
    return outcome


def _retry_or_fail(
    claimed: Claimed, policy: DeliveryPolicy, detail: str, retry_after: float | None
) -> SendOutcome:
    if claimed.attempts >= policy.max_attempts:
        return SendOutcome(
            claimed.id, "failed", f"gave up after {claimed.attempts} attempts: {detail}"
        )
    return SendOutcome(
        claimed.id,
        "queued",
        f"retrying: {detail}",
        retry_in=policy.backoff(claimed.attempts, retry_after),
    )


async def deliver(
    claimed: Sequence[Claimed],
    senders: SenderSource,
    policy: DeliveryPolicy,
    database: Database | None = None,
) -> list[SendOutcome]:
    """Send every claimed delivery concurrently (providers bound their own concurrency).

    With ``database``, the batch's leases are renewed while it is in flight: a batch waiting on
    a provider's rate limit or a slow provider can outlast one lease, and recovery would then
    mark rows ``unknown`` that this live worker is still sending. A dead worker renews nothing,
    so its rows still come up for recovery one lease after it stopped.
    """
    sends = asyncio.gather(*start_sends(claimed, senders, policy))
    if database is None:
        return list(await sends)
    async with leases_kept(database, [c.id for c in claimed], policy):
        return list(await sends)


def start_sends(
    claimed: Sequence[Claimed], senders: SenderSource, policy: DeliveryPolicy
) -> list[asyncio.Task[SendOutcome]]:
    """A task per claimed delivery, in order, the batch sharing its provider lookups: a caller
    cancelled midway can still collect the answers already in.

    Profile writes (``_batched``) of one (project, provider) go out together, as one task whose
    answers the rows' own tasks take (cancelling one of those cancels the group's write); when
    the sync takes no batches, each row's task writes it alone.
    """
    batch = _BatchSenders(senders)
    tasks: list[asyncio.Task[SendOutcome] | None] = [None] * len(claimed)
    groups: dict[tuple[str, str], list[int]] = {}
    for index, row in enumerate(claimed):
        if _batched(row):
            groups.setdefault((row.project_id, row.provider), []).append(index)
        else:
            tasks[index] = asyncio.ensure_future(_send_one(row, batch, policy))
    for indexes in groups.values():
        group = asyncio.ensure_future(_sync_group([claimed[i] for i in indexes], batch, policy))
        for position, index in enumerate(indexes):
            tasks[index] = asyncio.ensure_future(
                _answer_of(group, position, claimed[index], batch, policy)
            )
    return [task for task in tasks if task is not None]


async def _answer_of(
    group: asyncio.Task[list[SendOutcome] | None],
    position: int,
    claimed: Claimed,
    senders: SenderSource,
    policy: DeliveryPolicy,
) -> SendOutcome:
    """One row's outcome from its group's answers, or sent alone when its sync takes no
    batches."""
    answers = await group
    if answers is None:
        return await _send_one(claimed, senders, policy)
    return answers[position]


@contextlib.asynccontextmanager
async def leases_kept(
    database: Database, ids: list[str], policy: DeliveryPolicy
) -> AsyncIterator[None]:
    """Renew the leases of claimed rows every third of a lease while the block runs."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(policy.lease_seconds / 3)
            await asyncio.to_thread(renew_leases, database, ids, policy)

    renewing = asyncio.create_task(renew()) if ids and policy.lease_seconds > 0 else None
    try:
        yield
    finally:
        if renewing is not None:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing


def renew_leases(database: Database, ids: Sequence[str], policy: DeliveryPolicy) -> int:
    """Push the lease of those rows still ``sending`` one lease into the future."""
    lease_until = utcnow() + timedelta(seconds=policy.lease_seconds)
    renewed = 0
    with database.session() as session:
        connection = session.connection()
        for start in range(0, len(ids), 500):
            renewed += connection.execute(
                update(Delivery)
                .where(
                    col(Delivery.id).in_(list(ids[start : start + 500])),
                    col(Delivery.status) == "sending",
                )
                .values(lease_until=lease_until)
            ).rowcount
    return renewed


class _BatchSenders:
    """Looks each (project, provider) up once per batch: a lookup reads the provider's row."""

    def __init__(self, senders: SenderSource) -> None:
        self._senders = senders
        self._senders_found: dict[tuple[str, str], asyncio.Task[Provider]] = {}
        self._syncs_found: dict[tuple[str, str], asyncio.Task[Sync]] = {}

    async def sender(self, project_id: str, name: str) -> Provider:
        return await _once(self._senders_found, (project_id, name), self._senders.sender)

    async def sync(self, project_id: str, name: str) -> Sync:
        return await _once(self._syncs_found, (project_id, name), self._senders.sync)


_Found = TypeVar("_Found")


def _once(
    found: dict[tuple[str, str], asyncio.Task[_Found]],
    key: tuple[str, str],
    lookup: Callable[[str, str], Coroutine[Any, Any, _Found]],
) -> asyncio.Task[_Found]:
    """The one lookup of ``key`` this batch makes, shared by every send that needs it."""
    task = found.get(key)
    if task is None:
        task = found[key] = asyncio.ensure_future(lookup(*key))
    return task


_ANNOUNCED_COLUMNS = [
    col(Delivery.id),
    col(Delivery.project_id),
    col(Delivery.channel),
    col(Delivery.distribution_id),
    col(Delivery.event_id),
    col(Delivery.customer_id),
    col(Delivery.campaign_id),
    col(Delivery.bulk_job_id),
]


def _announced(row: Any, outcome: SendOutcome) -> dict[str, Any]:
    """The ``message.sent``/``message.failed`` webhook data of a moved row."""
    return message_data(
        id=row[0],
        status=outcome.status,
        channel=row[2],
        distribution_id=row[3],
        event_id=row[4],
        customer_id=row[5],
        campaign_id=row[6],
        bulk_job_id=row[7],
        provider_message_id=outcome.provider_message_id,
        provider_status=outcome.provider_status,
        reason=_error_of(outcome),
    )


def _error_of(outcome: SendOutcome) -> str | None:
    """What went wrong: a failure's detail, or the errors a provider reported with a send."""
    if outcome.status != "sent" or outcome.provider_errors:
        return outcome.detail
    return None


# What recording an outcome writes; the row is found by id alone, as record_outcomes holds it.
_MOVED = (
    "status",
    "updated_at",
    "lease_until",
    "last_error",
    "sent_at",
    "provider_message_id",
    "provider_status",
    "next_attempt_at",
)
_CHANGE_COLUMNS = ("delivery_id", "status", "detail", "at")


def record_outcomes(database: Database, outcomes: Sequence[SendOutcome]) -> None:
    """Write outcomes in one short transaction; only rows still ``sending`` are moved on.

    The rows still ``sending`` are read (and locked on PostgreSQL) first, then moved and their
    status changes written through the driver (``driver_sql``: SQLAlchemy's handling of each
    row's parameters cost a tenth of a worker's time); the ``message.sent``/``failed`` webhooks
    are queued for the moved rows only.
    """
    if not outcomes:
        return
    now = utcnow()
    with database.session() as session:
        connection = session.connection()
        moving = _still_sending(connection, [o.id for o in outcomes])
        moved = [o for o in outcomes if o.id in moving]
        if not moved:
            return
        rows = [_moved_row(o, now, moving[o.id][1]) for o in moved]
        update_many(connection, _DELIVERIES, _MOVED, ("id",), rows)
        changes = [(o.id, o.status, o.detail, now) for o in moved]
        insert_many(connection, _CHANGES, _CHANGE_COLUMNS, changes)
        _announce(session, moved, {id_: project for id_, (project, _due) in moving.items()})
        forget_erased_recipients(session, [o.id for o in moved if o.forget_recipient])
        for outcome in moved:
            if outcome.suppress_address:
                project_id, channel, address, customer_id = outcome.suppress_address
                suppress(
                    session,
                    project_id,
                    channel,
                    address,
                    customer_id=customer_id,
                    reason="the provider reported an opt-out",
                )


def _still_sending(connection: Connection, ids: list[str]) -> dict[str, tuple[str, datetime]]:
    """(project, next attempt) by id of the rows among ``ids`` still ``sending`` (locked on
    PostgreSQL; SQLite's writer holds the database).

    The status is checked here rather than in SQL, for the reason ``_due_among`` gives."""
    found: dict[str, tuple[str, datetime]] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        rows = connection.execute(_LOCK_OUTCOMES, {"ids": ids[start : start + _IN_CHUNK]})
        found.update((i, (p, due)) for i, p, status, due in rows if status == "sending")
    return found


# Built once: building it, and its cache key, cost more than running it, once per round.
_LOCK_OUTCOMES = (
    core_select(
        _DELIVERIES.c.id,
        _DELIVERIES.c.project_id,
        _DELIVERIES.c.status,
        _DELIVERIES.c.next_attempt_at,
    )
    .where(Among(_DELIVERIES.c.id, "ids"))
    .with_for_update()
)


def _moved_row(outcome: SendOutcome, now: datetime, due: datetime) -> tuple[Any, ...]:
    """The ``_MOVED`` values of an outcome, then its id."""
    sent = outcome.status == "sent"
    retry = now + timedelta(seconds=outcome.retry_in) if outcome.retry_in is not None else None
    return (
        outcome.status,
        now,
        None,
        _error_of(outcome),
        now if sent else None,
        outcome.provider_message_id if sent else None,
        outcome.provider_status,
        retry or due,
        outcome.id,
    )


def _announce(session: Session, moved: Sequence[SendOutcome], projects: dict[str, str]) -> None:
    """Queue ``message.sent`` and ``message.failed`` for moved rows someone subscribed to."""
    groups: dict[tuple[str, str], list[SendOutcome]] = {}
    for outcome in moved:
        if outcome.status in ("sent", "failed"):
            groups.setdefault((projects[outcome.id], outcome.status), []).append(outcome)
    for (project_id, status), outcomes in groups.items():
        if not wants(session, project_id, f"message.{status}"):
            continue
        ids = [o.id for o in outcomes]
        rows: dict[str, Any] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            selected = core_select(*_ANNOUNCED_COLUMNS).where(
                col(Delivery.id).in_(ids[start : start + _IN_CHUNK])
            )
            rows.update((str(row[0]), row) for row in session.connection().execute(selected))
        datas = [_announced(rows[o.id], o) for o in outcomes]
        emit_many(session, project_id, f"message.{status}", datas)


def recover_expired(database: Database, policy: DeliveryPolicy, now: datetime | None = None) -> int:
    """Deal with ``sending`` rows whose lease ran out (their worker died mid-send)."""
    now = now or utcnow()
    status = "unknown" if policy.recovery == "unknown" else "queued"
    detail = (
        "the worker stopped between calling the provider and recording its answer"
        if status == "unknown"
        else "requeued after the worker stopped mid-send"
    )
    with database.session() as session:
        connection = session.connection()
        rows = connection.execute(
            update(Delivery)
            .where(col(Delivery.status) == "sending", col(Delivery.lease_until) < now)
            .values(status=status, lease_until=None, updated_at=now, last_error=detail)
            .returning(col(Delivery.id))
        ).all()
        session.add_all(
            DeliveryStatusChange(delivery_id=row[0], status=status, detail=detail, at=now)
            for row in rows
        )
    return len(rows)


def release(database: Database, ids: Sequence[str]) -> None:
    """Put claimed rows that were never sent back to ``queued`` (graceful shutdown)."""
    if not ids:
        return
    with database.session() as session:
        session.connection().execute(
            update(Delivery)
            .where(col(Delivery.id).in_(list(ids)), col(Delivery.status) == "sending")
            .values(status="queued", lease_until=None, attempts=col(Delivery.attempts) - 1)
        )
