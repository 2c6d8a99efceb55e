"""``/v1/providers``: per-project provider configs (secrets write-only), checks, and the kinds;
``/v1/provider-webhooks``: the signed delivery status callbacks providers call.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, head, patch, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath

from distribution.events.source_webhooks import receive_source_webhook
from distribution.models import ProviderConfig
from distribution.outbox.notifiers import DeliveryNotifier
from distribution.provider_configs.callbacks import (
    CallbackRequest,
    is_event_source,
    receive_status_callback,
)
from distribution.provider_configs.registry import ProviderRegistry
from distribution.provider_configs.store import (
    MAX_CONCURRENCY,
    MAX_RATE_PER_SECOND,
    create_provider,
    delete_provider,
    get_provider,
    has_secret,
    list_providers,
    update_provider,
)
from distribution.storage.db import Database
from providers import PROVIDER_KINDS
from web.auth import SECURITY, Caller
from web.events_api import EventAccepted, event_accepted
from web.settings import Settings
from web.stored_times import utc

__all__ = ["ProviderController", "ProviderWebhookController", "callback_url"]

Concurrency = Annotated[int, msgspec.Meta(ge=1, le=MAX_CONCURRENCY)]
Rate = Annotated[float, msgspec.Meta(gt=0, le=MAX_RATE_PER_SECOND)]

SMTP_EXAMPLE = {
    "name": "mail",
    "kind": "smtp",
    "config": {
        "host": "smtp.example.com",
        "port": 587,
        "security": "starttls",
        "username": "apikey",
        "password": "s3cret-smtp-password",
        "from_email": "rewards@example.com",
        "from_name": "Example Rewards",
    },
    "max_concurrency": 4,
}
TWILIO_EXAMPLE = {
    "name": "sms",
    "kind": "twilio",
    "config": {
        "account_sid": "AC" + "0" * 32,
        "auth_token": "your-twilio-auth-token",
        "from_number": "+15005550006",
    },
    "rate_per_second": 10,
}

VOUCHERIFY_EXAMPLE = {
    "name": "voucherify",
    "kind": "voucherify",
    "config": {
        "webhook_secret": "the-project-webhook-secret-key",
        "app_id": "your-application-id",
        "app_token": "your-secret-key",
        "currency": "EUR",
    },
}


class ProviderIn(msgspec.Struct, forbid_unknown_fields=True):
    """A provider: a project-unique name, a kind (see /v1/providers/kinds) and its config."""

    name: str
    kind: str
    config: dict[str, Any]
    max_concurrency: Concurrency | None = None
    rate_per_second: Rate | None = None


class ProviderPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Fields to change; a field left out keeps its value. ``config`` is merged field by
    field (null removes a field); ``max_concurrency`` or ``rate_per_second`` null removes the
    limit."""

    config: dict[str, Any] | None = None
    max_concurrency: Concurrency | msgspec.UnsetType | None = msgspec.UNSET
    rate_per_second: Rate | msgspec.UnsetType | None = msgspec.UNSET
    disabled: bool | None = None


class ProviderOut(msgspec.Struct):
    """A provider config as the API shows it: secret fields never appear, only ``has_secret``."""

    id: str
    name: str
    kind: str
    role: str
    channels: list[str]
    config: dict[str, Any]
    has_secret: dict[str, bool]
    max_concurrency: int | None
    rate_per_second: float | None
    disabled: bool
    callback_url: str | None
    created_at: datetime
    updated_at: datetime
    object: str = "provider"


class KindOut(msgspec.Struct):
    """A provider kind, its channels and its config schema (secret fields are ``writeOnly``)."""

    kind: str
    role: str
    channels: list[str]
    description: str
    secret_fields: list[str]
    config_schema: dict[str, Any]


class CheckOut(msgspec.Struct):
    """The outcome of a credentials check: ``ok`` false carries the provider's reason."""

    ok: bool
    detail: str


class CallbackOut(msgspec.Struct, omit_defaults=True):
    """How many events the callback carried; for a source (Voucherify), the event stored."""

    received: int
    event: EventAccepted | None = None


def callback_url(settings: Settings, project_id: str, name: str) -> str:
    """The URL to configure in the provider for status callbacks."""
    return f"{settings.public_url}/v1/provider-webhooks/{project_id}/{name}"


def _out(row: ProviderConfig, registry: ProviderRegistry, settings: Settings) -> ProviderOut:
    spec = PROVIDER_KINDS.get(row.kind)
    hidden = spec.secret_fields if spec else frozenset()
    return ProviderOut(
        id=row.id,
        name=row.name,
        kind=row.kind,
        role=spec.role if spec else "unknown",
        channels=sorted(spec.channels) if spec else [],
        # Only public fields are stored in settings; filtering again costs nothing.
        config={k: v for k, v in row.settings.items() if k not in hidden},
        has_secret=has_secret(row, registry.box),
        max_concurrency=row.max_concurrency,
        rate_per_second=row.rate_per_second,
        disabled=row.disabled_at is not None,
        callback_url=(
            callback_url(settings, row.project_id, row.name)
            if spec and (spec.callbacks or spec.inbound)
            else None
        ),
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
    )


def _settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


class ProviderController(Controller):
    """Providers of the caller's project."""

    path = "/v1/providers"
    tags = ["providers"]
    security = SECURITY

    @post("/", sync_to_thread=True, summary="Configure a provider")
    def create(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        providers: NamedDependency[ProviderRegistry],
        data: Annotated[
            ProviderIn,
            Body(
                examples=[
                    Example(summary="SMTP relay", value=SMTP_EXAMPLE),
                    Example(summary="Twilio SMS", value=TWILIO_EXAMPLE),
                    Example(
                        summary="Voucherify webhooks (a source: its callback_url)",
                        value=VOUCHERIFY_EXAMPLE,
                    ),
                ]
            ),
        ],
    ) -> ProviderOut:
        with db.session() as session:
            row = create_provider(
                session,
                caller.project_id,
                providers.box,
                name=data.name,
                kind=data.kind,
                config=data.config,
                max_concurrency=data.max_concurrency,
                rate_per_second=data.rate_per_second,
                guard=providers.guard,
            )
            return _out(row, providers, _settings(request))

    @get("/", sync_to_thread=True, summary="List providers")
    def index(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        providers: NamedDependency[ProviderRegistry],
    ) -> list[ProviderOut]:
        settings = _settings(request)
        with db.reader() as session:
            rows = list_providers(session, caller.project_id)
            return [_out(row, providers, settings) for row in rows]

    @get("/kinds", sync_to_thread=False, summary="Provider kinds and their config schemas")
    def kinds(self, caller: NamedDependency[Caller]) -> list[KindOut]:
        return [
            KindOut(
                kind=spec.kind,
                role=spec.role,
                channels=sorted(spec.channels),
                description=spec.description,
                secret_fields=sorted(spec.secret_fields),
                config_schema=spec.config_schema,
            )
            for spec in PROVIDER_KINDS.values()
        ]

    @get("/{name:str}", sync_to_thread=True, summary="A provider")
    def retrieve(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        providers: NamedDependency[ProviderRegistry],
        name: FromPath[str],
    ) -> ProviderOut:
        with db.reader() as session:
            row = get_provider(session, caller.project_id, name)
            return _out(row, providers, _settings(request))

    @patch("/{name:str}", sync_to_thread=True, summary="Change a provider (omitted secrets kept)")
    def update(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        providers: NamedDependency[ProviderRegistry],
        name: FromPath[str],
        data: Annotated[
            ProviderPatch,
            Body(
                examples=[
                    Example(
                        summary="Change the sender, keep the stored password",
                        value={"config": {"from_name": "Rewards team"}},
                    )
                ]
            ),
        ],
    ) -> ProviderOut:
        with db.session() as session:
            row = update_provider(
                session,
                caller.project_id,
                providers.box,
                name,
                config=data.config,
                max_concurrency=data.max_concurrency,
                rate_per_second=data.rate_per_second,
                disabled=data.disabled,
                guard=providers.guard,
            )
            return _out(row, providers, _settings(request))

    @delete("/{name:str}", sync_to_thread=True, status_code=204, summary="Delete a provider")
    def remove(
        self, db: NamedDependency[Database], caller: NamedDependency[Caller], name: FromPath[str]
    ) -> None:
        with db.session() as session:
            delete_provider(session, caller.project_id, name)

    @post("/{name:str}/check", status_code=200, summary="Verify the provider's credentials")
    async def check(
        self,
        caller: NamedDependency[Caller],
        providers: NamedDependency[ProviderRegistry],
        name: FromPath[str],
    ) -> CheckOut:
        outcome = await providers.check(caller.project_id, name)
        return CheckOut(ok=outcome.ok, detail=outcome.detail)


class ProviderWebhookController(Controller):
    """Status callbacks from providers. No API key: the provider's signature authenticates."""

    path = "/v1/provider-webhooks"
    tags = ["provider webhooks"]

    @post(
        "/{project_id:str}/{provider_name:str}",
        status_code=200,
        summary="Receive a provider's delivery status callback, or a Voucherify webhook",
        description=(
            "Configure this URL in the provider (the `callback_url` of the provider). A "
            "`voucherify` connection receives the Voucherify project's webhooks here, verified "
            "with `x-voucherify-signature` (the stored `webhook_secret`): each is stored once "
            "per event id and its deliveries queued (see docs/voucherify.md); an event about no "
            "customer is acknowledged with `received: 0` and not stored. Twilio "
            "status callbacks are verified with `X-Twilio-Signature` (the stored `auth_token`), "
            "Mailchimp Transactional events with `X-Mandrill-Signature` (`webhook_key`), SMTP "
            "bounce reports with Standard Webhooks headers (`bounce_webhook_secret`). A missing "
            "or wrong signature answers 401 and changes nothing; so does a URL naming no such "
            "project or provider, or a provider without status callbacks, with the same body."
        ),
    )
    async def receive(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        providers: NamedDependency[ProviderRegistry],
        project_id: FromPath[str],
        provider_name: FromPath[str],
    ) -> CallbackOut:
        body = await request.body()
        query = request.url.query
        # Providers sign the URL they were given, which is the public one, not the one we see
        # behind a proxy.
        url = _settings(request).public_url + request.url.path + (f"?{query}" if query else "")
        callback = CallbackRequest(url=url, headers=dict(request.headers), body=body)

        def is_source() -> bool:
            with db.reader() as session:
                return is_event_source(session, project_id, provider_name)

        if await asyncio.to_thread(is_source):
            state = request.app.state
            result = await receive_source_webhook(
                db, providers, state.links, project_id, provider_name, callback
            )
            if result is None:  # about no customer: acknowledged, nothing to distribute
                return CallbackOut(received=0)
            if not result.duplicate:
                notifier: DeliveryNotifier = state.worker
                notifier.queued([d.id for d in result.deliveries if d.status == "queued"])
            return CallbackOut(received=1, event=event_accepted(result))

        def receive_in_thread() -> int:
            with db.session() as session:
                return receive_status_callback(
                    session, providers.box, project_id, provider_name, callback
                )

        return CallbackOut(received=await asyncio.to_thread(receive_in_thread))

    @head(
        "/{project_id:str}/{provider_name:str}",
        status_code=200,
        summary="Answer Mandrill's unsigned URL check",
    )
    async def probe(self, project_id: FromPath[str], provider_name: FromPath[str]) -> None:
        # Mandrill sends an unsigned HEAD when the webhook is added and refuses a URL that does
        # not answer 200; nothing is read or changed, so nothing needs verifying.
        return None

    @get(
        "/{project_id:str}/{provider_name:str}",
        status_code=200,
        summary="Answer Mailchimp's URL check",
        description="Mailchimp checks an audience webhook's URL with a GET when it is added "
        "and refuses one that does not answer 200. Nothing is read or changed.",
    )
    async def validate(self, project_id: FromPath[str], provider_name: FromPath[str]) -> None:
        return None
