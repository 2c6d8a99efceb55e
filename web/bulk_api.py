"""``/v1/bulk-sends``: a campaign's codes and messages to a whole audience, with progress."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath

from distribution.bulk import (
    BulkSpec,
    JobAction,
    JobWakers,
    build_job,
    control_job,
    create_job,
    get_job,
    job_outcome,
    job_progress,
    preflight,
)
from distribution.errors import FieldError, InvalidInputError
from distribution.models import BulkJob
from distribution.outbox import LinkSettings
from distribution.outbox.notifiers import DeliveryNotifier, Waker
from distribution.provider_configs.registry import ProviderRegistry
from distribution.storage.db import Database
from web.auth import SECURITY, Caller
from web.channel_schemas import ChannelIn
from web.profile_preview import add_profile_requests, check_profile_providers
from web.stored_times import naive, utc, utc_or_none

__all__ = ["BulkSendController"]

EXAMPLE = {
    "campaign": "camp_...",
    "audience": {"segment": "seg_..."},
    "channels": [{"channel": "email", "template": "tmpl_...", "provider": "smtp"}],
    "send_delay_seconds": 600,
    "send_to_available": False,
}


class AudienceIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Exactly one: a segment id, customer ids or source ids, or CSV text (upserted first)."""

    segment: str | None = None
    customers: list[str] | None = None
    csv: str | None = None


class BulkSendIn(msgspec.Struct, forbid_unknown_fields=True):
    """A bulk send; ``scheduled_at`` (ISO 8601 with zone) starts it later."""

    campaign: str
    audience: AudienceIn
    channels: list[ChannelIn]
    pool: str | None = None
    send_delay_seconds: float = 600.0
    scheduled_at: datetime | None = None
    send_to_available: bool = False

    def spec(self) -> BulkSpec:
        scheduled = self.scheduled_at
        if scheduled is not None:
            if scheduled.tzinfo is None:
                raise InvalidInputError([FieldError("scheduled_at", "needs a time zone")])
            scheduled = naive(scheduled, "scheduled_at")
        return BulkSpec(
            campaign_id=self.campaign,
            channels=[c.spec() for c in self.channels],
            segment_id=self.audience.segment,
            customers=self.audience.customers,
            csv=self.audience.csv,
            pool_id=self.pool,
            send_delay_seconds=self.send_delay_seconds,
            scheduled_at=scheduled,
            send_to_available=self.send_to_available,
        )


class CancelIn(msgspec.Struct, forbid_unknown_fields=True):
    """``release_codes``: give codes of unsent recipients back to the pool."""

    release_codes: bool = False


class ProgressOut(msgspec.Struct):
    audience: int
    prepared: int
    messages: dict[str, int]
    rate_per_second: float | None
    eta_seconds: float | None


class BulkSendOut(msgspec.Struct):
    id: str
    status: str
    #: ``status`` as people read it: a completed job whose messages all failed is ``failed``
    #: (some failed: ``completed_with_failures``); otherwise the status.
    outcome: str
    campaign_id: str | None
    audience: dict[str, Any]
    channels: list[dict[str, Any]]
    options: dict[str, Any]
    preflight: dict[str, Any]
    counts: dict[str, Any]
    progress: ProgressOut
    error: str | None
    scheduled_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    object: str = "bulk_send"


# What a job's options answer: what was asked for and when it sends. The rest is the workers'
# bookkeeping (chunk plans, preflight parts), which grows with the audience.
_SHOWN_OPTIONS = ("pool_id", "send_delay_seconds", "send_to_available", "send_at")


def _out(session: Any, job: BulkJob) -> BulkSendOut:
    progress = job_progress(session, job)
    audience = dict(job.audience)
    if "customer_ids" in audience:  # a million ids are not a status answer
        audience = {"customers": len(audience.pop("customer_ids"))} | audience
    return BulkSendOut(
        id=job.id,
        status=job.status,
        outcome=job_outcome(job.status, progress.messages),
        campaign_id=job.campaign_id,
        audience=audience,
        channels=job.channels,
        options={key: job.options[key] for key in _SHOWN_OPTIONS if key in job.options},
        preflight=job.preflight,
        counts=job.counts,
        progress=ProgressOut(
            audience=progress.audience,
            prepared=progress.prepared,
            messages=progress.messages,
            rate_per_second=progress.rate_per_second,
            eta_seconds=progress.eta_seconds,
        ),
        error=job.error,
        scheduled_at=utc(job.scheduled_at),
        started_at=utc_or_none(job.started_at),
        finished_at=utc_or_none(job.finished_at),
        created_at=utc(job.created_at),
    )


def _dry_run(db: Database, caller: Caller, links: LinkSettings, data: BulkSendIn) -> dict[str, Any]:
    spec = data.spec()
    # A CSV audience is upserted to be counted; the dry run then rolls it back.
    session_factory = db.session if spec.csv is not None else db.reader
    with session_factory() as session:
        try:
            job, stock = build_job(
                session,
                caller.project_id,
                spec,
                actor=caller.actor,
                region=caller.default_region,
            )
            return preflight(session, job, links, stock)
        finally:
            session.rollback()


class BulkSendController(Controller):
    """Bulk sends of the caller's project."""

    path = "/v1/bulk-sends"
    tags = ["bulk sends"]
    security = SECURITY

    @post(
        "/",
        sync_to_thread=True,
        status_code=202,
        summary="Start a bulk send",
        description=(
            "Checks the request and that the pool covers the audience (409 otherwise, unless "
            "`send_to_available`), stores the job and answers at once. The job then runs its "
            "preflight, assigns codes and writes messages in batches; messages go out "
            "`send_delay_seconds` (default 600, 0 allowed) after it starts."
        ),
    )
    def create(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        bulk_runner: NamedDependency[Waker],
        data: Annotated[BulkSendIn, Body(examples=[Example(summary="Invite", value=EXAMPLE)])],
    ) -> BulkSendOut:
        with db.session() as session:
            job = create_job(
                session,
                caller.project_id,
                data.spec(),
                actor=caller.actor,
                region=caller.default_region,
            )
            answer = _out(session, job)
        bulk_runner.wake()
        return answer

    @post(
        "/preflight",
        status_code=200,
        summary="Dry run: what a bulk send would do",
        description=(
            "Nothing is stored, assigned or sent (a CSV audience is not upserted). A profile "
            "channel's platform is asked to check its credentials (and a Mailchimp audience "
            "that it exists): `provider_check`; its samples show the values and the exact "
            "`requests` its sync would make."
        ),
    )
    async def dry_run(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        links: NamedDependency[LinkSettings],
        providers: NamedDependency[ProviderRegistry],
        data: Annotated[BulkSendIn, Body(examples=[Example(summary="Invite", value=EXAMPLE)])],
    ) -> dict[str, Any]:
        report = await asyncio.to_thread(_dry_run, db, caller, links, data)
        await add_profile_requests(providers, caller.project_id, report["samples"])
        await check_profile_providers(providers, caller.project_id, report)
        return report

    @get("/{job_id:str}", sync_to_thread=True, summary="A bulk send with its progress")
    def retrieve(
        self, db: NamedDependency[Database], caller: NamedDependency[Caller], job_id: FromPath[str]
    ) -> BulkSendOut:
        with db.reader() as session:
            return _out(session, get_job(session, caller.project_id, job_id))

    @post(
        "/{job_id:str}/{action:str}",
        sync_to_thread=True,
        status_code=200,
        summary="Pause, resume, send now or cancel",
        description=(
            "`action` is one of: `pause` (stop preparing and sending), `resume`, `send-now` "
            "(skip the rest of the waiting window) or `cancel` (unsent messages are cancelled; "
            "their codes are kept unless the body asks `release_codes`). Only `cancel` uses "
            "a body. An action the job's status does not allow answers 409."
        ),
    )
    def control(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        bulk_runner: NamedDependency[Waker],
        worker: NamedDependency[DeliveryNotifier],
        job_id: FromPath[str],
        action: FromPath[JobAction],
        data: Annotated[CancelIn | None, Body()] = None,
    ) -> BulkSendOut:
        release = data.release_codes if data is not None else False
        return control_job(
            db,
            caller.project_id,
            job_id,
            action,
            _out,
            JobWakers(bulk_runner, worker),
            release_codes=release,
        )
