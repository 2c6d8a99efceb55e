"""Ingesting an event: in one transaction, store it, match distributions, render, write the outbox.

Every recipient and channel of every matching distribution gets exactly one delivery row, keyed
by ``event:distribution:channel-index``. A row that cannot be sent (no address, no live template,
a missing variable) is written as ``failed`` with the reason, and a marketing message to a
suppressed address as ``suppressed``: nothing is dropped silently, nothing is sent half-rendered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import Table, bindparam, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from distribution.accounts.projects import cached_project
from distribution.customers.consent import is_suppressed
from distribution.customers.customer_input import CustomerIn
from distribution.customers.external_ids import find_by_external_id, link_external_id
from distribution.customers.segment_changes import SEGMENT_EVENTS
from distribution.customers.segment_filter import matches
from distribution.customers.segments import list_segments, parsed_segments
from distribution.customers.store import get_customer, upsert_customer
from distribution.errors import FieldError, InvalidInputError, NotFoundError
from distribution.events.distributions import (
    ActiveRule,
    matching_distributions,
    recipient_fits,
    rule_of,
)
from distribution.events.event_input import CustomerRef, IncomingEvent
from distribution.events.redemptions import record_redemption, redemption_input
from distribution.events.schedule_rules import customer_zone
from distribution.events.voucherify_events import VOUCHERIFY_SOURCE_PREFIX
from distribution.models import (
    OUTGOING_STATUSES,
    Customer,
    CustomerLike,
    Delivery,
    DeliveryStatus,
    DeliveryStatusChange,
    Distribution,
    Event,
    FollowUp,
    Project,
    TemplateVersion,
    utcnow,
)
from distribution.outbox import (
    PROFILE,
    ChannelProvider,
    ChannelSpec,
    LinkSettings,
    LiveChoice,
    Refusal,
    prepare_message,
)
from distribution.provider_configs.store import channel_provider
from distribution.storage.db import Database
from distribution.storage.driver_sql import DriverInsert, DriverSelect
from distribution.storage.ids import new_id
from distribution.template_store.live import cached_live_template
from distribution.template_store.rendering import (
    build_context,
    choose_live_version,
    compile_version,
    customer_variables,
)
from distribution.webhooks.message_data import message_data
from distribution.webhooks.subscriptions import emit
from templates import CompiledEmail, CompiledSms

__all__ = [
    "VOUCHERIFY",
    "DeliverySummary",
    "IngestResult",
    "OutboxWriter",
    "ingest_event",
    "insert_deliveries",
    "preview_distribution",
    "receive_event",
    "receive_events",
    "stored_result",
    "write_follow_up",
]

#: The system name of Voucherify's customer ids among a customer's external ids.
VOUCHERIFY = "voucherify"
# Rows are inserted as column dicts, not ORM objects: the ORM's per-object work cost more than
# the database's own.
_EVENTS: Table = Event.__table__  # type: ignore[attr-defined]
_DELIVERIES: Table = Delivery.__table__  # type: ignore[attr-defined]
_STATUS_CHANGES: Table = DeliveryStatusChange.__table__  # type: ignore[attr-defined]
_FOLLOW_UPS: Table = FollowUp.__table__  # type: ignore[attr-defined]
# The statements every event runs go straight to the driver (see distribution.storage.driver_sql).
_INSERT_EVENT = DriverInsert(_EVENTS)
_INSERT_DELIVERIES = DriverInsert(_DELIVERIES)
_INSERT_STATUS_CHANGES = DriverInsert(_STATUS_CHANGES)
_INSERT_FOLLOW_UPS = DriverInsert(_FOLLOW_UPS)
_STORED_RESULT = DriverSelect(_EVENTS, ["id", "result"], ["project_id", "dedupe_key"])
# Built once: constructing a statement cost about as much as running it. A profile write is
# no message: it never counts against a frequency cap.
_CAP_COUNT = select(func.count()).where(
    _DELIVERIES.c.project_id == bindparam("project_id"),
    _DELIVERIES.c.distribution_id == bindparam("distribution_id"),
    _DELIVERIES.c.customer_id == bindparam("customer_id"),
    _DELIVERIES.c.status.in_(OUTGOING_STATUSES),
    _DELIVERIES.c.channel != PROFILE,
    _DELIVERIES.c.created_at >= bindparam("since"),
)


@dataclass(frozen=True)
class DeliverySummary:
    """One delivery an event produced."""

    id: str
    channel: str
    status: str
    distribution_id: str | None
    reason: str | None = None


@dataclass(frozen=True)
class IngestResult:
    """The answer to an event; a repeat of the same event gets the original one."""

    event_id: str
    duplicate: bool
    deliveries: list[DeliverySummary]
    #: The customer it was about: ``{"id", "source_id"}`` (None for events stored before).
    customer: dict[str, Any] | None = None
    #: What went wrong on the way in without stopping the event.
    notes: tuple[str, ...] = ()


def stored_result(session: Session, project_id: str, dedupe_key: str) -> IngestResult | None:
    """The result of the event stored under that dedupe key, answered as a duplicate."""
    found = _STORED_RESULT.first(session.connection(), project_id, dedupe_key)
    if found is None:
        return None
    event_id, result = found
    result = result or {}
    return IngestResult(
        event_id=event_id,
        duplicate=True,
        deliveries=[DeliverySummary(**d) for d in result.get("deliveries", [])],
        customer=result.get("customer"),
        notes=tuple(result.get("notes", ())),
    )


def _find_or_upsert(session: Session, project: Project, ref: CustomerRef, where: str) -> Customer:
    if ref.voucherify_id is None:
        return _find_or_upsert_ours(session, project, ref, where)
    made_up = ref.source_id == VOUCHERIFY_SOURCE_PREFIX + ref.voucherify_id
    linked = find_by_external_id(session, project.id, VOUCHERIFY, ref.voucherify_id)
    if linked is not None and made_up:
        # Known by Voucherify's id alone: the linked customer, whatever its source id, gets
        # the fields the event carries.
        if ref.fields is not None and linked.source_id:
            fields = msgspec.structs.replace(ref.fields, source_id=linked.source_id)
            linked = _find_or_upsert_ours(
                session, project, CustomerRef(source_id=linked.source_id, fields=fields), where
            )
        return linked
    customer = _find_or_upsert_ours(session, project, ref, where)
    link_external_id(session, project.id, VOUCHERIFY, ref.voucherify_id, customer.id)
    return customer


def _find_or_upsert_ours(
    session: Session, project: Project, ref: CustomerRef, where: str
) -> Customer:
    if ref.fields is not None:
        outcome = upsert_customer(
            session, project.id, ref.fields, default_region=project.default_region
        )
        return outcome.customer
    key = ref.id or ref.source_id or ""
    try:
        return get_customer(session, project.id, key)
    except NotFoundError:
        if ref.source_id and not ref.id:
            created = upsert_customer(
                session,
                project.id,
                CustomerIn(source_id=ref.source_id),
                default_region=project.default_region,
            )
            return created.customer
        # Voucherify's customer ids look like ours: a caller of its API (track_custom_event's
        # customer.id, referral.referrer_id) names customers by them.
        known = find_by_external_id(session, project.id, VOUCHERIFY, key) if ref.id else None
        if known is not None:
            return known
        raise InvalidInputError(
            [FieldError(where, f"no customer {key!r} in this project")]
        ) from None


def _people(
    session: Session, project: Project, incoming: IncomingEvent
) -> tuple[Customer, Customer | None]:
    """The event's customer and referrer, found or upserted."""
    customer = _find_or_upsert(session, project, incoming.customer, "customer")
    if incoming.referrer is None:
        return customer, None
    return customer, _find_or_upsert(session, project, incoming.referrer, "referrer")


def ingest_event(
    session: Session,
    project: Project,
    incoming: IncomingEvent,
    links: LinkSettings,
) -> IngestResult:
    """Store ``incoming`` and write its deliveries; the caller commits, then wakes the worker.

    What does not change from one event to the next (distributions, segments, live templates)
    comes from ``distribution.accounts.project_cache``; rows are written with one statement per
    table, on the driver's cursor. A concurrent twin (same dedupe key) fails on the event's unique
    key with IntegrityError: see ``receive_events``.
    """
    if incoming.upstream_id:  # a key made up below cannot have been stored before
        stored = stored_result(session, project.id, incoming.upstream_id)
        if stored is not None:
            return stored
    customer, referrer = _people(session, project, incoming)
    writer = OutboxWriter(session, project, new_id("evt"), incoming, links)
    redemption = redemption_input(incoming, writer.now)
    campaign_id = (incoming.campaign or {}).get("id")
    for rule in matching_distributions(
        session, project.id, event_type=incoming.type, campaign_id=campaign_id
    ):
        distribution = rule.distribution
        if distribution.schedule and incoming.data.get("distribution_id") != distribution.id:
            continue  # a date trigger's event is made for one distribution (date_triggers)
        recipient = customer if distribution.recipient == "customer" else referrer
        if distribution.delay_seconds:
            writer.wait(rule, recipient, referrer)
        else:
            writer.write(rule, recipient, referrer)
    summaries = writer.summaries
    about = {"id": customer.id, "source_id": customer.source_id}
    _INSERT_EVENT.execute(
        session.connection(),
        [
            {
                "id": writer.event_id,
                "project_id": project.id,
                "dedupe_key": incoming.upstream_id or new_id("evk"),
                "type": incoming.type,
                "source": incoming.source,
                "customer_id": customer.id,
                "payload": _payload(incoming),
                "result": {
                    "deliveries": [s.__dict__ for s in summaries],
                    "customer": about,
                    "notes": list(incoming.notes),
                },
                "received_at": writer.now,
            }
        ],
    )
    insert_deliveries(session, writer.rows)
    writer.insert_follow_ups()
    if redemption is not None:
        record_redemption(
            session, project.id, redemption, event_id=writer.event_id, customer_id=customer.id
        )
    return IngestResult(
        event_id=writer.event_id,
        duplicate=False,
        deliveries=summaries,
        customer=about,
        notes=incoming.notes,
    )


def preview_distribution(
    session: Session,
    project: Project,
    distribution: Distribution,
    incoming: IncomingEvent,
    links: LinkSettings,
) -> list[dict[str, Any]]:
    """The delivery rows ``incoming`` would give one distribution (paused or not), unwritten.

    The same preparation as a real event, without its checks of trigger and campaign. The
    caller rolls the session back: an embedded customer is upserted to be prepared for, and
    the rows' webhooks are queued, as for an event; neither may outlive the preview. An empty
    list: the recipient does not fit the distribution's filters.
    """
    customer, referrer = _people(session, project, incoming)
    writer = OutboxWriter(
        session,
        project,
        new_id("evt"),
        incoming,
        links,
        segment=_previewed_segment(session, project.id, distribution, incoming),
    )
    recipient = customer if distribution.recipient == "customer" else referrer
    writer.write(rule_of(distribution), recipient, referrer)
    return writer.rows


def _previewed_segment(
    session: Session, project_id: str, distribution: Distribution, incoming: IncomingEvent
) -> dict[str, str] | None:
    """The segment a previewed segment event is about: the distribution's, else the one the
    sample event names (``data.segment.id``); None for other events."""
    if incoming.type not in SEGMENT_EVENTS:
        return None
    named = incoming.data.get("segment")
    segment_id = distribution.filters.get("segment_id") or (
        named.get("id") if isinstance(named, dict) else None
    )
    for segment in list_segments(session, project_id):
        if segment.id == segment_id:
            return {"id": segment.id, "name": segment.name}
    return None


def write_follow_up(
    session: Session, project: Project, follow_up: FollowUp, event: Event, links: LinkSettings
) -> list[DeliverySummary]:
    """Write the deliveries a due follow-up's wait was for, as its event would have.

    The event is read back from its stored payload and the recipient by id; the rows carry the
    event's id, so their idempotency keys are the ones an undelayed send would have had. The
    caller has re-checked the follow-up and commits.
    """
    distribution = session.get(Distribution, follow_up.distribution_id)
    if distribution is None:
        return []
    payload = event.payload or {}
    incoming = IncomingEvent(
        type=event.type,
        customer=CustomerRef(id=event.customer_id),
        upstream_id=event.dedupe_key,
        source=event.source,
        campaign=payload.get("campaign"),
        code=payload.get("code"),
        reward=payload.get("reward"),
        order=payload.get("order"),
        data=payload.get("data") or {},
        created_at=payload.get("created_at"),
    )
    recipient = session.get(Customer, follow_up.customer_id) if follow_up.customer_id else None
    referrer = session.get(Customer, follow_up.referrer_id) if follow_up.referrer_id else None
    writer = OutboxWriter(session, project, event.id, incoming, links)
    writer.write(rule_of(distribution), recipient, referrer)
    insert_deliveries(session, writer.rows)
    return writer.summaries


def receive_event(
    database: Database, project_id: str, incoming: IncomingEvent, links: LinkSettings
) -> IngestResult:
    """Ingest in its own transaction; a twin that committed first answers for both."""
    [outcome] = receive_events(database, [(project_id, incoming)], links)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def receive_events(
    database: Database,
    items: Sequence[tuple[str, IncomingEvent]],
    links: LinkSettings,
) -> list[IngestResult | Exception]:
    """Ingest several events in one transaction (group commit): one outcome per item, in order.

    Each event runs in a savepoint of its own, so an event that fails (a 4xx, or a bug) is
    undone alone and its outcome is the exception; the others still commit. A repeated dedupe
    key inside the batch answers with the original's result, as a repeat across batches does,
    since the lookup sees the batch's own writes. One transaction for many events spares SQLite
    a BEGIN IMMEDIATE, a commit and a lock handover per event.

    If the transaction as a whole fails (its commit, or an error a savepoint cannot undo),
    nothing of it was stored: every event is then ingested again in a transaction of its own.
    """
    try:
        with database.session() as session:
            return [
                _savepointed(session, project_id, incoming, links) for project_id, incoming in items
            ]
    except Exception:
        if len(items) == 1:
            raise
    return [_alone(database, item, links) for item in items]


def _alone(
    database: Database, item: tuple[str, IncomingEvent], links: LinkSettings
) -> IngestResult | Exception:
    try:
        return receive_event(database, item[0], item[1], links)
    except Exception as error:  # answered in its own request
        return error


def _savepointed(
    session: Session, project_id: str, incoming: IncomingEvent, links: LinkSettings
) -> IngestResult | Exception:
    savepoint = _Savepoint(session)
    try:
        project = cached_project(session, project_id)
        result = ingest_event(session, project, incoming, links)
    except IntegrityError as error:
        # A concurrent twin (same dedupe key) committed first: on SQLite another process, on
        # PostgreSQL another transaction, whose commit this one's unique check waited for.
        savepoint.undo(error)
        twin = (
            stored_result(session, project_id, incoming.upstream_id)
            if incoming.upstream_id
            else None
        )
        return error if twin is None else twin
    except Exception as error:  # undone alone, raised in its own request
        savepoint.undo(error)
        return error
    savepoint.release()
    return result


class _Savepoint:
    """One event's savepoint, written straight to the driver's connection.

    SQLAlchemy's savepoints (the session's, or even the connection's) compiled and tracked
    each one, which cost 30-40 times the SAVEPOINT and RELEASE statements themselves. The
    event path keeps nothing in the session that SQLAlchemy would have to expire (rows are
    written as dicts, an upserted customer is built detached), and whatever a lookup by id left
    there is dropped after each event: the next starts with an empty session, as it did in a
    transaction of its own.
    """

    _NAME = "ingest_event"

    def __init__(self, session: Session) -> None:
        self._session = session
        self._cursor = session.connection().connection.cursor()
        self._cursor.execute(f"SAVEPOINT {self._NAME}")

    def release(self) -> None:
        self._cursor.execute(f"RELEASE SAVEPOINT {self._NAME}")
        self._cursor.close()
        self._session.expunge_all()

    def undo(self, failure: Exception) -> None:
        """Undo the event's writes; raise ``failure`` if it took the whole transaction with it.

        SQLite itself rolls the transaction back on some errors (a trigger's RAISE(ROLLBACK), a
        full disk, an I/O error), and a connection can drop: the savepoint is gone then, and so
        is every event of the batch. ``failure`` is raised for ``receive_events`` to ingest each
        event alone, and it, not the "no such savepoint" that followed, is what this one answers.
        """
        try:
            self._cursor.execute(f"ROLLBACK TO SAVEPOINT {self._NAME}")
        except Exception:
            self._cursor.close()
            raise failure from None
        self.release()


def _payload(incoming: IncomingEvent) -> dict[str, Any]:
    return {
        "type": incoming.type,
        "source": incoming.source,
        "campaign": incoming.campaign,
        "code": incoming.code,
        "reward": incoming.reward,
        "order": incoming.order,
        "data": incoming.data,
        "created_at": incoming.created_at,
        "notes": list(incoming.notes),
    }


class OutboxWriter:
    """Builds one event's delivery rows in memory (``insert_deliveries`` writes them).

    ``segment`` is the segment a ``customer.segment.*`` event is about: a distribution's
    ``segment_id`` then picks the event (the customer who left a segment is no longer in it),
    and templates get it as ``segment``.
    """

    def __init__(
        self,
        session: Session,
        project: Project,
        event_id: str,
        incoming: IncomingEvent,
        links: LinkSettings,
        *,
        segment: dict[str, str] | None = None,
    ) -> None:
        self.segment = segment
        self.session = session
        self.project = project
        self.event_id = event_id
        self.incoming = incoming
        self.links = links
        self.now = utcnow()
        self.campaign_id: str | None = (incoming.campaign or {}).get("id")
        code = (incoming.code or {}).get("code")
        self.code: str | None = code if isinstance(code, str) and code else None
        self.summaries: list[DeliverySummary] = []
        self._rows: list[dict[str, Any]] = []
        self._follow_ups: list[dict[str, Any]] = []
        self._members: dict[str, list[str]] = {}
        # Distributions that already have a message (of this event) counting against their cap.
        self._counted: set[str] = set()

    def _member_of(self, recipient: Customer) -> list[str]:
        """The recipient's segments, oldest first (variant resolution ranks them in this order)."""
        if recipient.id not in self._members:
            self._members[recipient.id] = [
                segment_id
                for segment_id, parsed in parsed_segments(self.session, self.project.id)
                if matches(parsed, recipient)
            ]
        return self._members[recipient.id]

    def _fits(self, rule: ActiveRule, recipient: Customer | None) -> list[str] | None:
        """The recipient's segments if it passes the distribution's filters, else None."""
        if recipient is None:
            return []
        segment_filter = None
        segment_id = rule.distribution.filters.get("segment_id")
        # A segment event's distribution names the segment the event is about (entered or
        # left), not one the recipient must be in now.
        if segment_id and self.segment is None:
            found = [
                f for s, f in parsed_segments(self.session, self.project.id) if s == segment_id
            ]
            if not found:
                return None  # the segment was deleted: it has no members
            segment_filter = found[0]
        if not recipient_fits(rule, recipient, segment_filter):
            return None
        return self._member_of(recipient)

    def write(
        self, rule: ActiveRule, recipient: Customer | None, referrer: Customer | None
    ) -> None:
        """Add the rows of one matching distribution (none when the recipient does not fit)."""
        member_of = self._fits(rule, recipient)
        if member_of is None:
            return
        for index, spec in enumerate(rule.channels):
            self._one(rule, index, spec, recipient, referrer, member_of)

    def wait(self, rule: ActiveRule, recipient: Customer | None, referrer: Customer | None) -> None:
        """Start a delayed distribution's wait (a ``follow_up`` row) if the recipient fits.

        Nothing is prepared now: when the wait is over the follow-up is re-checked and its
        rows written then (``write_follow_up``), with the template live at that time.
        """
        if self._fits(rule, recipient) is None:
            return
        distribution = rule.distribution
        self._follow_ups.append(
            {
                "id": new_id("fup"),
                "project_id": self.project.id,
                "event_id": self.event_id,
                "distribution_id": distribution.id,
                "customer_id": recipient.id if recipient else None,
                "referrer_id": referrer.id if referrer else None,
                "status": "waiting",
                "reason": None,
                "due_at": self.now + timedelta(seconds=distribution.delay_seconds or 0),
                "created_at": self.now,
                "done_at": None,
            }
        )

    def _one(
        self,
        rule: ActiveRule,
        index: int,
        spec: ChannelSpec,
        recipient: Customer | None,
        referrer: Customer | None,
        member_of: Sequence[str],
    ) -> None:
        distribution = rule.distribution
        lookups = _EventLookups(self, rule, referrer, member_of)
        prepared = prepare_message(recipient, spec, lookups)
        if isinstance(prepared, Refusal):
            status, reason, content = prepared.status, prepared.reason, {}
            next_attempt_at = self.now
        else:
            status, reason, content = DeliveryStatus.QUEUED, None, prepared.content
            next_attempt_at = self.now
            if distribution.quiet_hours and recipient is not None:
                next_attempt_at = _after_quiet_hours(
                    self.now, distribution.quiet_hours, recipient.timezone
                )
        row: dict[str, Any] = {
            "id": new_id("msg"),
            "project_id": self.project.id,
            "idempotency_key": f"{self.event_id}:{distribution.id}:{index}",
            "event_id": self.event_id,
            "distribution_id": distribution.id,
            "customer_id": recipient.id if recipient else None,
            "campaign_id": self.campaign_id,
            "channel": spec.channel,
            "provider": spec.provider,
            "template_id": spec.template or None,
            "template_version_id": prepared.version_id,
            "marketing": prepared.marketing,
            "recipient": prepared.address,
            "status": status,
            "content": content,
            "last_error": reason,
            "created_at": self.now,
            "updated_at": self.now,
            "next_attempt_at": next_attempt_at,
            # What a redemption of the code is attributed by; a refused row carried nothing.
            "code": None if isinstance(prepared, Refusal) else self.code,
        }
        self._rows.append(row)
        if status in OUTGOING_STATUSES and spec.channel != PROFILE:
            self._counted.add(distribution.id)
        if status in (DeliveryStatus.QUEUED, DeliveryStatus.FAILED):
            emit(
                self.session,
                self.project.id,
                f"message.{status}",
                message_data(
                    id=row["id"],
                    status=status,
                    channel=spec.channel,
                    distribution_id=distribution.id,
                    event_id=self.event_id,
                    customer_id=row["customer_id"],
                    campaign_id=row["campaign_id"],
                    reason=reason,
                ),
            )
        self.summaries.append(
            DeliverySummary(
                id=row["id"],
                channel=spec.channel,
                status=status,
                distribution_id=distribution.id,
                reason=reason,
            )
        )

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows written so far (inserted by ``insert_deliveries``)."""
        return list(self._rows)

    def insert_follow_ups(self) -> None:
        """Insert the follow-ups that wait (after the event: one statement)."""
        if self._follow_ups:
            _INSERT_FOLLOW_UPS.execute(self.session.connection(), self._follow_ups)

    def event_variables(
        self, recipient: CustomerLike, referrer: Customer | None, unsubscribe_url: str
    ) -> dict[str, Any]:
        incoming = self.incoming
        extra: dict[str, Any] = {
            "event": {
                "type": incoming.type,
                "id": self.event_id,
                "created_at": incoming.created_at or self.now.isoformat() + "Z",
                "data": incoming.data,
            },
            "links": {"unsubscribe_url": unsubscribe_url, "preferences_url": unsubscribe_url},
        }
        for name in ("code", "reward", "campaign", "order"):
            value = getattr(incoming, name)
            if value:
                extra[name] = {k: v for k, v in value.items() if v is not None}
        if "code" in extra and "qr_url" not in extra["code"]:
            extra["code"]["qr_url"] = self.links.qr_url(extra["code"]["code"])
        if referrer is not None and referrer.id != recipient.id:
            extra["referrer"] = customer_variables(referrer)
        if self.segment is not None:
            extra["segment"] = self.segment
        return extra

    def capped(self, distribution_id: str, hours: int, recipient: CustomerLike) -> bool:
        """Whether the recipient already has a message of this distribution within the cap."""
        if distribution_id in self._counted:  # an earlier channel of this very event
            return True
        values = {
            "project_id": self.project.id,
            "distribution_id": distribution_id,
            "customer_id": recipient.id,
            "since": self.now - timedelta(hours=hours),
        }
        count = self.session.connection().execute(_CAP_COUNT, values).scalar_one()
        return int(count) > 0


def insert_deliveries(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert delivery rows (of one event or many) and their first status, one statement each."""
    if not rows:
        return
    connection = session.connection()
    _INSERT_DELIVERIES.execute(connection, rows)
    _INSERT_STATUS_CHANGES.execute(
        connection,
        [
            {
                "delivery_id": row["id"],
                "status": row["status"],
                "detail": row["last_error"],
                "at": row["created_at"],
            }
            for row in rows
        ],
    )


class _EventLookups:
    """What one event's matching distribution reads while preparing its recipient's messages."""

    def __init__(
        self,
        writer: OutboxWriter,
        rule: ActiveRule,
        referrer: Customer | None,
        member_of: Sequence[str],
    ) -> None:
        self.writer = writer
        self.rule = rule
        self.referrer = referrer
        self.member_of = member_of

    def provider(self, spec: ChannelSpec) -> ChannelProvider | None:
        writer = self.writer
        return channel_provider(writer.session, writer.project.id, spec.provider)

    def live_choice(self, recipient: CustomerLike, spec: ChannelSpec) -> LiveChoice:
        writer = self.writer
        live = cached_live_template(writer.session, writer.project.id, spec.template)
        _variant, version = choose_live_version(
            live,
            campaign_id=writer.campaign_id,
            segment_ids=self.member_of,
            locale=recipient.locale,
            customer_id=recipient.id,
        )
        template = live.template
        return LiveChoice(template.id, template.channel, template.category == "marketing", version)

    def suppressed(self, recipient: CustomerLike, spec: ChannelSpec, address: str) -> bool:
        writer = self.writer
        return is_suppressed(writer.session, writer.project.id, spec.channel, address, recipient.id)

    def capped_hours(self, recipient: CustomerLike) -> int | None:
        distribution = self.rule.distribution
        hours = distribution.frequency_cap_hours
        if hours and self.writer.capped(distribution.id, hours, recipient):
            return hours
        return None

    def unsubscribe_url(
        self, recipient: CustomerLike, spec: ChannelSpec, choice: LiveChoice
    ) -> str:
        writer = self.writer
        return writer.links.unsubscribe_url(writer.project.id, recipient.id, spec.channel)

    def context(self, recipient: CustomerLike, unsubscribe_url: str) -> dict[str, Any]:
        writer = self.writer
        extra = writer.event_variables(recipient, self.referrer, unsubscribe_url)
        return build_context(recipient, project=writer.project, extra=extra)

    def compiled(self, version: TemplateVersion) -> CompiledEmail | CompiledSms:
        return compile_version(version)


def _after_quiet_hours(now: datetime, quiet: dict[str, Any], timezone: str | None) -> datetime:
    """``now`` (naive UTC), or the end of the quiet hours in the customer's zone if inside them."""
    zone = customer_zone(timezone)
    local = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
    start = time.fromisoformat(quiet["start"])
    end = time.fromisoformat(quiet["end"])
    current = local.time()
    inside = start <= current < end if start <= end else current >= start or current < end
    if not inside:
        return now
    ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
