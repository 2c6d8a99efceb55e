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

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from distribution.consent import is_suppressed, unsubscribe_token
from distribution.customer_input import CustomerIn
from distribution.customers import get_customer, upsert_customer
from distribution.db import Database
from distribution.distributions import matching_distributions, recipient_fits
from distribution.errors import DistributionError, FieldError, InvalidInputError, NotFoundError
from distribution.event_input import CustomerRef, IncomingEvent
from distribution.ids import new_id
from distribution.models import (
    Customer,
    Delivery,
    DeliveryStatusChange,
    Distribution,
    Event,
    MessageTemplate,
    Project,
    Segment,
    utcnow,
)
from distribution.segment_filter import Filter, matches, parse_filter
from distribution.segments import list_segments
from distribution.template_store.rendering import (
    build_context,
    customer_variables,
    render_version,
    resolve_template,
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
]

# Statuses that count against a frequency cap: the message went, or is going, out.
_CAPPED = ("queued", "sending", "sent", "delivered", "unknown")


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


def _result_of(event: Event, duplicate: bool) -> IngestResult:
    return IngestResult(
        event_id=event.id,
        duplicate=duplicate,
        deliveries=[DeliverySummary(**d) for d in event.result.get("deliveries", [])],
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
    """Store ``incoming`` and write its deliveries; the caller commits, then wakes the worker."""
    dedupe_key = incoming.upstream_id or new_id("evk")
    existing = session.exec(
        select(Event).where(Event.project_id == project.id, Event.dedupe_key == dedupe_key)
    ).first()
    if existing is not None:
        return _result_of(existing, duplicate=True)

    customer = _find_or_upsert(session, project, incoming.customer, "customer")
    referrer = (
        _find_or_upsert(session, project, incoming.referrer, "referrer")
        if incoming.referrer
        else None
    )
    event = Event(
        id=new_id("evt"),
        project_id=project.id,
        dedupe_key=dedupe_key,
        type=incoming.type,
        source=incoming.source,
        customer_id=customer.id,
        payload=_payload(incoming),
    )
    session.add(event)
    session.flush()  # a concurrent twin fails here with IntegrityError: see receive_event
    campaign_id = (incoming.campaign or {}).get("id")
    distributions = matching_distributions(
        session, project.id, event_type=incoming.type, campaign_id=campaign_id
    )
    writer = _OutboxWriter(session, project, event, incoming, links)
    summaries: list[DeliverySummary] = []
    for distribution in distributions:
        recipient = customer if distribution.recipient == "customer" else referrer
        summaries += writer.write(distribution, recipient, referrer)
    event.result = {"deliveries": [s.__dict__ for s in summaries]}
    session.add(event)
    session.flush()
    return IngestResult(event_id=event.id, duplicate=False, deliveries=summaries)


def receive_event(
    database: Database, project_id: str, incoming: IncomingEvent, links: LinkSettings
) -> IngestResult:
    """Ingest in its own transaction; a twin that committed first answers for both."""
    try:
        with database.session() as session:
            project = session.get(Project, project_id)
            if project is None:
                raise NotFoundError("project", project_id)
            return ingest_event(session, project, incoming, links)
    except IntegrityError:
        if not incoming.upstream_id:
            raise
        with database.reader() as session:
            twin = session.exec(
                select(Event).where(
                    Event.project_id == project_id, Event.dedupe_key == incoming.upstream_id
                )
            ).first()
        if twin is None:
            raise
        return _result_of(twin, duplicate=True)


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
    """Writes one event's delivery rows; caches what all its distributions share."""

    def __init__(
        self,
        session: Session,
        project: Project,
        event: Event,
        incoming: IncomingEvent,
        links: LinkSettings,
    ) -> None:
        self.session = session
        self.project = project
        self.event = event
        self.incoming = incoming
        self.links = links
        self.now = utcnow()
        self._segments: list[tuple[Segment, Filter]] | None = None

    def segments(self) -> list[tuple[Segment, Filter]]:
        if self._segments is None:
            self._segments = [
                (s, parse_filter(s.filter)) for s in list_segments(self.session, self.project.id)
            ]
        return self._segments

    def write(
        self, distribution: Distribution, recipient: Customer | None, referrer: Customer | None
    ) -> list[DeliverySummary]:
        segment_id = distribution.filters.get("segment_id")
        member_of = [s.id for s, f in self.segments() if matches(f, recipient)] if recipient else []
        if recipient is not None:
            segment_filter = None
            if segment_id:
                found = [f for s, f in self.segments() if s.id == segment_id]
                if not found:
                    return []  # the segment was deleted: it has no members
                segment_filter = found[0]
            if not recipient_fits(distribution, recipient, segment_filter):
                return []
        summaries = []
        for index, channel in enumerate(distribution.channels):
            summaries.append(
                self._one(distribution, index, channel, recipient, referrer, member_of)
            )
        return summaries

    def _one(
        self,
        distribution: Distribution,
        index: int,
        channel_spec: dict[str, Any],
        recipient: Customer | None,
        referrer: Customer | None,
        member_of: Sequence[str],
    ) -> DeliverySummary:
        channel = str(channel_spec["channel"])
        delivery = Delivery(
            id=new_id("msg"),
            project_id=self.project.id,
            idempotency_key=f"{self.event.id}:{distribution.id}:{index}",
            event_id=self.event.id,
            distribution_id=distribution.id,
            customer_id=recipient.id if recipient else None,
            campaign_id=(self.incoming.campaign or {}).get("id"),
            channel=channel,
            provider=str(channel_spec["provider"]),
            template_id=str(channel_spec["template"]),
            created_at=self.now,
            updated_at=self.now,
            next_attempt_at=self.now,
        )
        try:
            self._prepare(delivery, distribution, recipient, referrer, member_of)
        except _Refused as refused:
            delivery.status = refused.status
            delivery.last_error = refused.reason
        self.session.add(delivery)
        if delivery.status in ("queued", "failed"):
            emit(
                self.session,
                self.project.id,
                f"message.{delivery.status}",
                {
                    "object": "message",
                    "id": delivery.id,
                    "status": delivery.status,
                    "channel": channel,
                    "distribution_id": distribution.id,
                    "event_id": self.event.id,
                    "customer_id": delivery.customer_id,
                    "campaign_id": delivery.campaign_id,
                    "reason": delivery.last_error,
                },
            )
        self.session.add(
            DeliveryStatusChange(
                delivery_id=delivery.id,
                status=delivery.status,
                detail=delivery.last_error,
                at=self.now,
            )
        )
        return DeliverySummary(
            id=delivery.id,
            channel=channel,
            status=delivery.status,
            distribution_id=distribution.id,
            reason=delivery.last_error,
        )

    def _prepare(
        self,
        delivery: Delivery,
        distribution: Distribution,
        recipient: Customer | None,
        referrer: Customer | None,
        member_of: Sequence[str],
    ) -> None:
        if recipient is None:
            raise _Refused("failed", "the event names no referrer to send to")
        address = recipient.email if delivery.channel == "email" else recipient.phone
        if not address:
            raise _Refused("failed", f"the customer has no {_ADDRESS[delivery.channel]}")
        delivery.recipient = address
        try:
            _variant, version = resolve_template(
                self.session,
                self.project.id,
                delivery.template_id or "",
                campaign_id=delivery.campaign_id,
                segment_ids=member_of,
                locale=recipient.locale,
            )
        except DistributionError as error:
            raise _Refused("failed", str(error)) from None
        template = self.session.get(MessageTemplate, version.template_id)
        assert template is not None
        if template.channel != delivery.channel:
            raise _Refused(
                "failed",
                f"template {template.id} is for {template.channel}, not {delivery.channel}",
            )
        delivery.template_version_id = version.id
        delivery.marketing = template.category == "marketing"
        if delivery.marketing and is_suppressed(
            self.session, self.project.id, delivery.channel, address, recipient.id
        ):
            raise _Refused("suppressed", "the customer unsubscribed from marketing on this channel")
        if distribution.frequency_cap_hours and self._capped(distribution, recipient):
            raise _Refused(
                "suppressed",
                f"frequency cap: already sent within {distribution.frequency_cap_hours} h",
            )
        unsubscribe_url = self.links.unsubscribe_url(
            self.project.id, recipient.id, delivery.channel
        )
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
        delivery.content = message_content(
            rendered, recipient.name, unsubscribe_url if delivery.marketing else None
        )
        if distribution.quiet_hours:
            delivery.next_attempt_at = _after_quiet_hours(
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

    def _capped(self, distribution: Distribution, recipient: Customer) -> bool:
        since = self.now - timedelta(hours=distribution.frequency_cap_hours or 0)
        count = self.session.exec(
            select(func.count()).where(
                Delivery.project_id == self.project.id,
                Delivery.distribution_id == distribution.id,
                Delivery.customer_id == recipient.id,
                col(Delivery.status).in_(_CAPPED),
                col(Delivery.created_at) >= since,
            )
        ).one()
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
