"""``/v1/distributions``: trigger rules that turn events into messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, get, post, put
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath

from distribution.events.distributions import (
    DistributionSpec,
    create_distribution,
    get_distribution,
    list_distributions,
    set_distribution_status,
    update_distribution,
)
from distribution.models import Distribution
from distribution.outbox.messages import distribution_stats
from distribution.storage.db import Database
from web.auth import SECURITY, Caller
from web.channel_schemas import ChannelIn
from web.stored_times import utc

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


class DistributionIn(msgspec.Struct, forbid_unknown_fields=True):
    """A rule: when ``trigger`` happens and ``filters`` fit, send on every channel."""

    name: str
    trigger: str
    channels: list[ChannelIn]
    filters: FiltersIn = msgspec.field(default_factory=FiltersIn)
    recipient: Literal["customer", "referrer"] = "customer"
    frequency_cap_hours: int | None = None
    quiet_hours: QuietHoursIn | None = None

    def spec(self) -> DistributionSpec:
        return DistributionSpec(
            name=self.name,
            trigger=self.trigger,
            channels=[c.spec() for c in self.channels],
            filters={k: v for k, v in msgspec.to_builtins(self.filters).items() if v is not None},
            recipient=self.recipient,
            frequency_cap_hours=self.frequency_cap_hours,
            quiet_hours=msgspec.to_builtins(self.quiet_hours) if self.quiet_hours else None,
        )


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
    object: str = "distribution"


class StatsOut(msgspec.Struct):
    """Counts by status: in total, per channel and per day of creation (UTC)."""

    total: dict[str, int]
    by_channel: dict[str, dict[str, int]]
    by_day: list[dict[str, Any]]


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

    @get("/{distribution_id:str}/stats", sync_to_thread=True, summary="Counts by status")
    def stats(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        distribution_id: FromPath[str],
    ) -> StatsOut:
        with db.reader() as session:
            get_distribution(session, caller.project_id, distribution_id)
            return StatsOut(**distribution_stats(session, caller.project_id, distribution_id))
