"""``/v1/distributions``: trigger rules that turn events into messages."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Response, get, post, put
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath, FromQuery, QueryParameter

from distribution.accounts.projects import cached_project
from distribution.events.distributions import (
    DistributionSpec,
    create_distribution,
    get_distribution,
    list_distributions,
    set_distribution_status,
    update_distribution,
)
from distribution.events.event_input import parse_event
from distribution.events.follow_ups import list_follow_ups
from distribution.events.ingest import preview_distribution
from distribution.models import Distribution
from distribution.outbox import PROFILE, LinkSettings
from distribution.outbox.conversions import Scope, scope_days
from distribution.outbox.messages import distribution_stats
from distribution.provider_configs.registry import ProviderRegistry
from distribution.storage.db import Database
from distribution.storage.ids import new_id
from web.auth import SECURITY, Caller
from web.channel_schemas import ChannelIn
from web.paging import PAGING, CursorList, PageQuery
from web.profile_preview import add_profile_requests
from web.stats_schemas import RevenueOut, days_response
from web.stored_times import utc, utc_or_none

__all__ = ["DistributionController"]

EXAMPLE = {
    "name": "Reward granted",
    "trigger": "redemption.succeeded",
    "filters": {"campaign_id": None, "segment_id": None, "conditions": None},
    "recipient": "customer",
    "channels": [
        {"channel": "email", "template": "tmpl_...", "provider": "smtp"},
        {"channel": "sms", "template": "tmpl_...", "provider": "twilio"},
    ],
    "frequency_cap_hours": 24,
    "quiet_hours": {"start": "21:00", "end": "08:00"},
}


class FiltersIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    campaign_id: str | None = None
    segment_id: str | None = None
    conditions: dict[str, Any] | None = None


class QuietHoursIn(msgspec.Struct, forbid_unknown_fields=True):
    start: str
    end: str


PREVIEW_EXAMPLE = {
    "customer": {"source_id": "shop-42"},
    "code": {"code": "ANA-7K2Q", "referral_link": "https://shop.example.com/r/ANA-7K2Q"},
    "campaign": {"id": "camp_spring", "name": "Spring referral"},
}


class PreviewRowOut(msgspec.Struct):
    """One delivery the event would make: a message's content, or a profile write's values
    and the calls its sync would make (``requests``: method, path, JSON body)."""

    channel: str
    provider: str
    status: str
    reason: str | None
    recipient: str | None
    template_id: str | None
    content: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    requests: list[dict[str, Any]] | None = None
    requests_error: str | None = None


class PreviewOut(msgspec.Struct):
    """What an event would make of the distribution; nothing was stored or sent."""

    deliveries: list[PreviewRowOut]
    #: Why there are none (the recipient does not fit the filters), when there are none.
    note: str | None = None


def _preview_rows(
    db: Database,
    project_id: str,
    distribution_id: str | DistributionSpec,
    body: dict[str, Any],
    links: LinkSettings,
) -> list[dict[str, Any]]:
    """Prepare the event's rows in a transaction that is rolled back (see preview_distribution).

    ``distribution_id`` names a stored distribution, or is the rule of an unsaved one: it is
    created in the same transaction (checked as ``POST /v1/distributions`` checks it, under a
    throwaway name so it never collides with the one being edited) and rolled back with it.
    """
    with db.session() as session:
        try:
            if isinstance(distribution_id, DistributionSpec):
                unsaved = replace(distribution_id, name=f"preview {new_id('dist')}")
                distribution = create_distribution(session, project_id, unsaved, actor="preview")
            else:
                distribution = get_distribution(session, project_id, distribution_id)
            incoming = parse_event({"type": distribution.trigger} | body)
            rows = preview_distribution(
                session, cached_project(session, project_id), distribution, incoming, links
            )
        finally:
            session.rollback()
    items = []
    for row in rows:
        content = row["content"] or None
        profile = content.get("profile") if content and row["channel"] == PROFILE else None
        items.append(
            {
                "channel": row["channel"],
                "provider": row["provider"],
                "status": str(row["status"]),
                "reason": row["last_error"],
                "recipient": row["recipient"],
                "template_id": row["template_id"],
                "content": None if profile is not None else content,
                "profile": profile,
            }
        )
    return items


class DistributionIn(msgspec.Struct, forbid_unknown_fields=True):
    """A rule: when ``trigger`` happens and ``filters`` fit, send on every channel."""

    name: str
    trigger: str
    channels: list[ChannelIn]
    filters: FiltersIn = msgspec.field(default_factory=FiltersIn)
    recipient: Literal["customer", "referrer"] = "customer"
    frequency_cap_hours: int | None = None
    quiet_hours: QuietHoursIn | None = None
    #: A date trigger (``trigger`` ``customer.date``): ``{"field", "offset_days", "at",
    #: "repeat"}``, checked by the distribution layer, which names the wrong field.
    schedule: dict[str, Any] | None = None
    #: Wait this long after the trigger: seconds, or an ISO 8601 duration (``P2D``, ``PT12H``).
    delay: int | str | None = None
    #: Checked when the wait is over: ``{"code": "not_redeemed", "conditions": {...}}``.
    recheck: dict[str, Any] | None = None

    def spec(self) -> DistributionSpec:
        return DistributionSpec(
            name=self.name,
            trigger=self.trigger,
            channels=[c.spec() for c in self.channels],
            filters={k: v for k, v in msgspec.to_builtins(self.filters).items() if v is not None},
            recipient=self.recipient,
            frequency_cap_hours=self.frequency_cap_hours,
            quiet_hours=msgspec.to_builtins(self.quiet_hours) if self.quiet_hours else None,
            schedule=self.schedule,
            delay=self.delay,
            recheck=self.recheck,
        )


class UnsavedPreviewIn(msgspec.Struct, forbid_unknown_fields=True):
    """A rule not saved yet, and the event to try it with."""

    distribution: DistributionIn
    event: dict[str, Any] = msgspec.field(default_factory=dict)


class DistributionOut(msgspec.Struct):
    id: str
    name: str
    trigger: str
    filters: dict[str, Any]
    recipient: str
    channels: list[dict[str, Any]]
    frequency_cap_hours: int | None
    quiet_hours: dict[str, Any] | None
    status: str
    created_by: str | None
    updated_by: str | None
    created_at: datetime
    updated_at: datetime
    schedule: dict[str, Any] | None = None
    delay_seconds: int | None = None
    recheck: dict[str, Any] | None = None
    object: str = "distribution"


class FollowUpOut(msgspec.Struct):
    """A delayed distribution's wait for one event: ``waiting`` until ``due_at``, then ``sent``
    or ``skipped`` (with the ``reason``)."""

    id: str
    event_id: str
    customer_id: str | None
    status: str
    reason: str | None
    due_at: datetime
    created_at: datetime
    done_at: datetime | None
    object: str = "follow_up"


class FollowUpList(CursorList):
    """A page of follow-ups, newest first; pass ``next_cursor`` as ``starting_after``."""

    follow_ups: list[FollowUpOut]
    data_ref: str = "follow_ups"


class StatsOut(msgspec.Struct):
    """Counts by status: in total, per channel and per day of creation (UTC); messages
    credited with a redemption (``converted``), the redemptions (``conversions``, each once),
    their revenue by currency (docs/attribution.md) and the unsubscribes through the messages'
    links (``unsubscribed``)."""

    total: dict[str, int]
    by_channel: dict[str, dict[str, int]]
    by_day: list[dict[str, Any]]
    converted: int
    conversions: int
    revenue: list[RevenueOut]
    #: Unsubscribes through a link in one of the distribution's messages.
    unsubscribed: int


def _out(d: Distribution) -> DistributionOut:
    return DistributionOut(
        id=d.id,
        name=d.name,
        trigger=d.trigger,
        filters=d.filters,
        recipient=d.recipient,
        channels=d.channels,
        frequency_cap_hours=d.frequency_cap_hours,
        quiet_hours=d.quiet_hours,
        status=d.status,
        created_by=d.created_by,
        updated_by=d.updated_by,
        created_at=utc(d.created_at),
        updated_at=utc(d.updated_at),
        schedule=d.schedule,
        delay_seconds=d.delay_seconds,
        recheck=d.recheck,
    )


class DistributionController(Controller):
    """Distributions of the caller's project."""

    path = "/v1/distributions"
    tags = ["distributions"]
    security = SECURITY

    @post("/", sync_to_thread=True, summary="Create a distribution")
    def create(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        data: Annotated[DistributionIn, Body(examples=[Example(summary="Reward", value=EXAMPLE)])],
    ) -> DistributionOut:
        with db.session() as session:
            return _out(
                create_distribution(session, caller.project_id, data.spec(), actor=caller.actor)
            )

    @get("/", sync_to_thread=True, summary="List distributions")
    def list(
        self, db: NamedDependency[Database], caller: NamedDependency[Caller]
    ) -> list[DistributionOut]:
        with db.reader() as session:
            return [_out(d) for d in list_distributions(session, caller.project_id)]

    @get("/{distribution_id:str}", sync_to_thread=True, summary="One distribution")
    def retrieve(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        distribution_id: FromPath[str],
    ) -> DistributionOut:
        with db.reader() as session:
            return _out(get_distribution(session, caller.project_id, distribution_id))

    @put("/{distribution_id:str}", sync_to_thread=True, summary="Replace a distribution's rule")
    def replace(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        distribution_id: FromPath[str],
        data: Annotated[DistributionIn, Body()],
    ) -> DistributionOut:
        with db.session() as session:
            return _out(
                update_distribution(
                    session, caller.project_id, distribution_id, data.spec(), actor=caller.actor
                )
            )

    @post("/{distribution_id:str}/pause", sync_to_thread=True, status_code=200, summary="Pause")
    def pause(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        distribution_id: FromPath[str],
    ) -> DistributionOut:
        with db.session() as session:
            return _out(
                set_distribution_status(
                    session, caller.project_id, distribution_id, "paused", actor=caller.actor
                )
            )

    @post("/{distribution_id:str}/resume", sync_to_thread=True, status_code=200, summary="Resume")
    def resume(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        distribution_id: FromPath[str],
    ) -> DistributionOut:
        with db.session() as session:
            return _out(
                set_distribution_status(
                    session, caller.project_id, distribution_id, "active", actor=caller.actor
                )
            )

    @post(
        "/{distribution_id:str}/preview",
        status_code=200,
        summary="What an event would make of this distribution, for one customer",
        description=(
            "Takes the body of `POST /v1/events` (`type` defaults to the trigger; `customer` "
            "names a stored customer or embeds one) and prepares the distribution's deliveries "
            "as the event would, paused or not: each channel's status and reason, a message's "
            "rendered content, a profile write's values and the exact requests its sync would "
            "make. Nothing is stored or sent."
        ),
    )
    async def preview(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        links: NamedDependency[LinkSettings],
        providers: NamedDependency[ProviderRegistry],
        distribution_id: FromPath[str],
        data: Annotated[
            dict[str, Any], Body(examples=[Example(summary="A code", value=PREVIEW_EXAMPLE)])
        ],
    ) -> PreviewOut:
        items = await asyncio.to_thread(
            _preview_rows, db, caller.project_id, distribution_id, data, links
        )
        await add_profile_requests(providers, caller.project_id, items)
        note = None if items else "the customer does not fit the distribution's filters"
        return PreviewOut([PreviewRowOut(**item) for item in items], note)

    @post(
        "/preview",
        status_code=200,
        summary="What an event would make of an unsaved distribution, for one customer",
        description=(
            "`distribution` is a rule as `POST /v1/distributions` takes it (checked the same "
            "way) and `event` the body of `POST /v1/events` (`type` defaults to the trigger). "
            "The answer is the one of `POST /v1/distributions/{id}/preview`. Nothing is stored "
            "or sent: for the form that composes a distribution before it is saved."
        ),
    )
    async def preview_unsaved(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        links: NamedDependency[LinkSettings],
        providers: NamedDependency[ProviderRegistry],
        data: Annotated[UnsavedPreviewIn, Body()],
    ) -> PreviewOut:
        items = await asyncio.to_thread(
            _preview_rows, db, caller.project_id, data.distribution.spec(), data.event, links
        )
        await add_profile_requests(providers, caller.project_id, items)
        note = None if items else "the customer does not fit the distribution's filters"
        return PreviewOut([PreviewRowOut(**item) for item in items], note)

    @get(
        "/{distribution_id:str}/stats/days",
        sync_to_thread=True,
        summary="The distribution's figures per UTC day (JSON, or CSV with ?format=csv)",
    )
    def daily(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        distribution_id: FromPath[str],
        format: Annotated[Literal["json", "csv"], QueryParameter()] = "json",
    ) -> Response[Any]:
        with db.reader() as session:
            get_distribution(session, caller.project_id, distribution_id)
            scope = Scope("distribution_id", distribution_id)
            days = scope_days(session, caller.project_id, scope)
        return days_response(days, format, f"distribution-{distribution_id}-days.csv")

    @get(
        "/{distribution_id:str}/follow-ups",
        sync_to_thread=True,
        summary="A delayed distribution's follow-ups, newest first",
        dependencies=PAGING,
    )
    def follow_ups(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        page: NamedDependency[PageQuery],
        distribution_id: FromPath[str],
        status: FromQuery[str | None] = None,
    ) -> FollowUpList:
        with db.reader() as session:
            get_distribution(session, caller.project_id, distribution_id)
            found = list_follow_ups(
                session,
                caller.project_id,
                distribution_id,
                limit=page.limit,
                starting_after=page.starting_after,
                status=status,
            )
        return FollowUpList(
            follow_ups=[
                FollowUpOut(
                    id=f.id,
                    event_id=f.event_id,
                    customer_id=f.customer_id,
                    status=f.status,
                    reason=f.reason,
                    due_at=utc(f.due_at),
                    created_at=utc(f.created_at),
                    done_at=utc_or_none(f.done_at),
                )
                for f in found.rows
            ],
            has_more=found.has_more,
            next_cursor=found.next_cursor,
        )

    @get("/{distribution_id:str}/stats", sync_to_thread=True, summary="Counts by status")
    def stats(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        distribution_id: FromPath[str],
    ) -> StatsOut:
        with db.reader() as session:
            get_distribution(session, caller.project_id, distribution_id)
            stats = distribution_stats(session, caller.project_id, distribution_id)
            return msgspec.convert(stats, StatsOut)
