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

from sqlalchemy import Table, bindparam, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from distribution.consent import is_suppressed, unsubscribe_token
from distribution.customer_input import CustomerIn
from distribution.customers import get_customer, upsert_customer
from distribution.db import Database
from distribution.distributions import ActiveRule, matching_distributions, recipient_fits
from distribution.driver_sql import DriverInsert, DriverSelect
from distribution.errors import DistributionError, FieldError, InvalidInputError, NotFoundError
from distribution.event_input import CustomerRef, IncomingEvent
from distribution.ids import new_id
from distribution.models import (
    Customer,
    Delivery,
    DeliveryStatusChange,
    Event,
    Project,
    utcnow,
)
from distribution.projects import cached_project
from distribution.segment_filter import matches
from distribution.segments import parsed_segments
from distribution.template_store.live import cached_live_template
from distribution.template_store.rendering import (
    build_context,
    choose_live_version,
    customer_variables,
    render_version,
)
from distribution.webhooks import emit
from templates import MissingVariablesError, RenderedEmail, RenderedSms, TemplateError

__all__ = [
    "ADDRESS_NAMES",
    "DeliverySummary",
    "IngestResult",
    "LinkSettings",
    "ingest_event",
    "message_content",
    "receive_event",
    "receive_events",
]

# Statuses that count against a frequency cap: the message went, or is going, out.
_CAPPED = ("queued", "sending", "sent", "delivered", "unknown")
# Rows are inserted as column dicts, not ORM objects: the ORM's per-object work cost more than
# the database's own.
_EVENTS: Table = Event.__table__  # type: ignore[attr-defined]
_DELIVERIES: Table = Delivery.__table__  # type: ignore[attr-defined]
_STATUS_CHANGES: Table = DeliveryStatusChange.__table__  # type: ignore[attr-defined]
# The statements every event runs go straight to the driver (see distribution.driver_sql).
_INSERT_EVENT = DriverInsert(_EVENTS)
_INSERT_DELIVERIES = DriverInsert(_DELIVERIES)
_INSERT_STATUS_CHANGES = DriverInsert(_STATUS_CHANGES)
_STORED_RESULT = DriverSelect(_EVENTS, ["id", "result"], ["project_id", "dedupe_key"])
# Built once: constructing a statement cost about as much as running it.
_CAP_COUNT = select(func.count()).where(
    _DELIVERIES.c.project_id == bindparam("project_id"),
    _DELIVERIES.c.distribution_id == bindparam("distribution_id"),
    _DELIVERIES.c.customer_id == bindparam("customer_id"),
    _DELIVERIES.c.status.in_(_CAPPED),
    _DELIVERIES.c.created_at >= bindparam("since"),
)


@dataclass(frozen=True)
class LinkSettings:
    """What links in messages need: the service's public URL and the signing secret."""

    public_url: str
    secret_key: str

    def unsubscribe_url(self, project_id: str, customer_id: str, channel: str) -> str:
        token = unsubscribe_token(self.secret_key, project_id, customer_id, channel)
        return f"{self.public_url}/u/{token}"


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


def _stored_result(session: Session, project_id: str, dedupe_key: str) -> IngestResult | None:
    found = _STORED_RESULT.first(session.connection(), project_id, dedupe_key)
    if found is None:
        return None
    event_id, result = found
    return IngestResult(
        event_id=event_id,
        duplicate=True,
        deliveries=[DeliverySummary(**d) for d in (result or {}).get("deliveries", [])],
    )


def _find_or_upsert(session: Session, project: Project, ref: CustomerRef, where: str) -> Customer:
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
        raise InvalidInputError(
            [FieldError(where, f"no customer {key!r} in this project")]
        ) from None


def ingest_event(
    session: Session,
    project: Project,
    incoming: IncomingEvent,
    links: LinkSettings,
) -> IngestResult:
    """Store ``incoming`` and write its deliveries; the caller commits, then wakes the worker.

    What does not change from one event to the next (distributions, segments, live templates)
    comes from ``distribution.project_cache``; rows are written with one statement per table,
    on the driver's cursor. A concurrent twin (same dedupe key) fails on the event's unique key
    with IntegrityError: see ``receive_events``.
    """
    if incoming.upstream_id:  # a key made up below cannot have been stored before
        stored = _stored_result(session, project.id, incoming.upstream_id)
        if stored is not None:
            return stored
    customer = _find_or_upsert(session, project, incoming.customer, "customer")
    referrer = (
        _find_or_upsert(session, project, incoming.referrer, "referrer")
        if incoming.referrer
        else None
    )
    writer = _OutboxWriter(session, project, new_id("evt"), incoming, links)
    campaign_id = (incoming.campaign or {}).get("id")
    for rule in matching_distributions(
        session, project.id, event_type=incoming.type, campaign_id=campaign_id
    ):
        recipient = customer if rule.distribution.recipient == "customer" else referrer
        writer.write(rule, recipient, referrer)
    summaries = writer.summaries
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
                "result": {"deliveries": [s.__dict__ for s in summaries]},
                "received_at": writer.now,
            }
        ],
    )
    writer.insert_rows()
    return IngestResult(event_id=writer.event_id, duplicate=False, deliveries=summaries)


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
            _stored_result(session, project_id, incoming.upstream_id)
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
    }


class _OutboxWriter:
    """Builds one event's delivery rows in memory, then inserts them with one statement."""

    def __init__(
        self,
        session: Session,
        project: Project,
        event_id: str,
        incoming: IncomingEvent,
        links: LinkSettings,
    ) -> None:
        self.session = session
        self.project = project
        self.event_id = event_id
        self.incoming = incoming
        self.links = links
        self.now = utcnow()
        self.campaign_id: str | None = (incoming.campaign or {}).get("id")
        self.summaries: list[DeliverySummary] = []
        self._rows: list[dict[str, Any]] = []
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

    def write(
        self, rule: ActiveRule, recipient: Customer | None, referrer: Customer | None
    ) -> None:
        """Add the rows of one matching distribution (none when the recipient does not fit)."""
        distribution = rule.distribution
        member_of: list[str] = []
        if recipient is not None:
            segment_filter = None
            segment_id = distribution.filters.get("segment_id")
            if segment_id:
                found = [
                    f for s, f in parsed_segments(self.session, self.project.id) if s == segment_id
                ]
                if not found:
                    return  # the segment was deleted: it has no members
                segment_filter = found[0]
            if not recipient_fits(rule, recipient, segment_filter):
                return
            member_of = self._member_of(recipient)
        for index, channel in enumerate(distribution.channels):
            self._one(rule, index, channel, recipient, referrer, member_of)

    def _one(
        self,
        rule: ActiveRule,
        index: int,
        channel_spec: dict[str, Any],
        recipient: Customer | None,
        referrer: Customer | None,
        member_of: Sequence[str],
    ) -> None:
        distribution = rule.distribution
        channel = str(channel_spec["channel"])
        row: dict[str, Any] = {
            "id": new_id("msg"),
            "project_id": self.project.id,
            "idempotency_key": f"{self.event_id}:{distribution.id}:{index}",
            "event_id": self.event_id,
            "distribution_id": distribution.id,
            "customer_id": recipient.id if recipient else None,
            "campaign_id": self.campaign_id,
            "channel": channel,
            "provider": str(channel_spec["provider"]),
            "template_id": str(channel_spec["template"]),
            "template_version_id": None,
            "marketing": False,
            "recipient": None,
            "status": "queued",
            "content": {},
            "last_error": None,
            "created_at": self.now,
            "updated_at": self.now,
            "next_attempt_at": self.now,
        }
        try:
            self._prepare(row, rule, recipient, referrer, member_of)
        except _Refused as refused:
            row["status"] = refused.status
            row["last_error"] = refused.reason
        self._rows.append(row)
        if row["status"] in _CAPPED:
            self._counted.add(distribution.id)
        if row["status"] in ("queued", "failed"):
            emit(
                self.session,
                self.project.id,
                f"message.{row['status']}",
                {
                    "object": "message",
                    "id": row["id"],
                    "status": row["status"],
                    "channel": channel,
                    "distribution_id": distribution.id,
                    "event_id": self.event_id,
                    "customer_id": row["customer_id"],
                    "campaign_id": row["campaign_id"],
                    "reason": row["last_error"],
                },
            )
        self.summaries.append(
            DeliverySummary(
                id=row["id"],
                channel=channel,
                status=row["status"],
                distribution_id=distribution.id,
                reason=row["last_error"],
            )
        )

    def insert_rows(self) -> None:
        """Insert the deliveries and their first status (after the event: one statement each)."""
        if not self._rows:
            return
        connection = self.session.connection()
        _INSERT_DELIVERIES.execute(connection, self._rows)
        _INSERT_STATUS_CHANGES.execute(
            connection,
            [
                {
                    "delivery_id": row["id"],
                    "status": row["status"],
                    "detail": row["last_error"],
                    "at": self.now,
                }
                for row in self._rows
            ],
        )

    def _prepare(
        self,
        row: dict[str, Any],
        rule: ActiveRule,
        recipient: Customer | None,
        referrer: Customer | None,
        member_of: Sequence[str],
    ) -> None:
        distribution = rule.distribution
        if recipient is None:
            raise _Refused("failed", "the event names no referrer to send to")
        channel = row["channel"]
        address = recipient.email if channel == "email" else recipient.phone
        if not address:
            raise _Refused("failed", f"the customer has no {_ADDRESS[channel]}")
        row["recipient"] = address
        try:
            live = cached_live_template(self.session, self.project.id, row["template_id"])
            _variant, version = choose_live_version(
                live, campaign_id=self.campaign_id, segment_ids=member_of, locale=recipient.locale
            )
        except DistributionError as error:
            raise _Refused("failed", str(error)) from None
        template = live.template
        if template.channel != channel:
            raise _Refused(
                "failed", f"template {template.id} is for {template.channel}, not {channel}"
            )
        row["template_version_id"] = version.id
        marketing = row["marketing"] = template.category == "marketing"
        if marketing and is_suppressed(
            self.session, self.project.id, channel, address, recipient.id
        ):
            raise _Refused("suppressed", "the customer unsubscribed from marketing on this channel")
        if distribution.frequency_cap_hours and self._capped(
            distribution.id, distribution.frequency_cap_hours, recipient
        ):
            raise _Refused(
                "suppressed",
                f"frequency cap: already sent within {distribution.frequency_cap_hours} h",
            )
        unsubscribe_url = self.links.unsubscribe_url(self.project.id, recipient.id, channel)
        context = build_context(
            recipient,
            project=self.project,
            extra=self._extra(recipient, referrer, unsubscribe_url),
        )
        try:
            rendered = render_version(version, context, "send")
        except MissingVariablesError as error:
            raise _Refused("failed", "missing variables: " + ", ".join(error.missing)) from None
        except TemplateError as error:
            raise _Refused("failed", f"template error: {error}") from None
        row["content"] = message_content(
            rendered, recipient.name, unsubscribe_url if marketing else None
        )
        if distribution.quiet_hours:
            row["next_attempt_at"] = _after_quiet_hours(
                self.now, distribution.quiet_hours, recipient.timezone
            )

    def _extra(
        self, recipient: Customer, referrer: Customer | None, unsubscribe_url: str
    ) -> dict[str, Any]:
        incoming = self.incoming
        extra: dict[str, Any] = {
            "event": {"type": incoming.type, "data": incoming.data},
            "links": {"unsubscribe_url": unsubscribe_url, "preferences_url": unsubscribe_url},
        }
        for name in ("code", "reward", "campaign", "order"):
            value = getattr(incoming, name)
            if value:
                extra[name] = {k: v for k, v in value.items() if v is not None}
        if referrer is not None and referrer.id != recipient.id:
            extra["referrer"] = customer_variables(referrer)
        return extra

    def _capped(self, distribution_id: str, hours: int, recipient: Customer) -> bool:
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


_ADDRESS = {"email": "email address", "sms": "phone number"}
#: What a channel's address is called in reasons ("the customer has no email address").
ADDRESS_NAMES = _ADDRESS


def message_content(
    rendered: RenderedEmail | RenderedSms, to_name: str | None, unsubscribe_url: str | None
) -> dict[str, Any]:
    """The snapshot a delivery row keeps of one rendered message (what ``deliver`` sends)."""
    content: dict[str, Any] = {"to_name": to_name}
    if isinstance(rendered, RenderedEmail):
        content.update(subject=rendered.subject, html=rendered.html, text=rendered.text)
    else:
        content.update(body=rendered.body, segments=rendered.info.segments)
    if unsubscribe_url is not None:
        content["unsubscribe_url"] = unsubscribe_url
    return content


class _Refused(Exception):
    def __init__(self, status: str, reason: str) -> None:
        self.status = status
        self.reason = reason


def _after_quiet_hours(now: datetime, quiet: dict[str, Any], timezone: str | None) -> datetime:
    """``now`` (naive UTC), or the end of the quiet hours in the customer's zone if inside them."""
    zone = ZoneInfo(timezone or "UTC")
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
