"""The composition root: ``create_app(settings)`` builds the database, routes and workers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from prometheus_client import CollectorRegistry

from distribution.bulk import BulkRunner
from distribution.customers.async_actions import AsyncActionRunner
from distribution.customers.customer_files import new_import_pool
from distribution.distributed import (
    BulkKick,
    InProcessWorker,
    QueueNotifier,
    WorkerRuntime,
    build_queue_app,
)
from distribution.events.scheduler import Scheduler
from distribution.events.segment_events import SegmentEventRunner
from distribution.models import utcnow
from distribution.outbox import LinkSettings
from distribution.outbox.delivery import DeliveryPolicy, SenderSource
from distribution.outbox.notifiers import DeliveryNotifier, Waker
from distribution.outbox.rate_limit import shared_limiter_factory
from distribution.outbox.worker import EmbeddedWorker
from distribution.provider_configs.registry import ProviderRegistry
from distribution.provider_configs.unsubscribe_pull import UnsubscribePull
from distribution.storage.db import Database
from distribution.storage.migrate import upgrade, upgrade_queue
from distribution.storage.secrets import SecretBox
from distribution.template_store.render_pool import (
    RenderPool,
    close_render_pool,
    install_render_pool,
)
from distribution.webhooks.dispatch import WebhookDispatcher, WebhookPolicy
from providers.address_guard import AddressGuard, Resolver, system_resolver
from providers.list_unsubscribe import one_click_allowed
from web.ab_tests_api import AbTestController
from web.allow_header import allow_header_middleware
from web.async_actions_api import AsyncActionController
from web.auth import SECURITY_SCHEMES, provide_caller
from web.bulk_api import BulkSendController
from web.campaigns_api import CampaignController, CodeController, CodePoolController, qr_image
from web.consent_api import ConsentController, unsubscribe_page, unsubscribe_post
from web.customer_events_api import CustomerEventController
from web.customers_api import CustomerController
from web.distributions_api import DistributionController
from web.events_api import EventController
from web.health import live, ready
from web.input_guard import BoundedJsonRequest, refuse_nul_characters
from web.keys_api import ApiKeyController
from web.messages_api import MessageController
from web.observability import (
    DeliveryCollector,
    MeasuredSenders,
    QueueCollector,
    SendMetrics,
    align_access_log,
    configure_logging,
    metrics,
    request_id_middleware,
)
from web.problems import EXCEPTION_HANDLERS, document_problems
from web.providers_api import ProviderController, ProviderWebhookController
from web.redemptions_api import RedemptionController
from web.segments_api import SegmentController
from web.settings import Settings
from web.streams_api import StreamController
from web.templates_api import TemplateController
from web.ui import UI_TEMPLATES, page_not_found, ui_routes
from web.ui.gateway import ui_api_gateway
from web.ui.session import Clock, SignIns
from web.voucherify_customers_api import VoucherifyCustomerController
from web.webhooks_api import InboundSecretController, WebhookController

log = logging.getLogger("web.app")

__all__ = [
    "create_app",
    "delivery_policy",
    "link_settings",
    "provider_registry",
    "webhook_dispatcher",
]


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    """Retry and lease settings of every worker, embedded or distributed."""
    return DeliveryPolicy(
        max_attempts=settings.max_attempts,
        base_backoff=settings.retry_backoff,
        max_backoff=settings.retry_max_backoff,
        recovery=settings.sending_recovery,
        lease_seconds=settings.lease_seconds,
        public_url=settings.public_url,
    )


def link_settings(settings: Settings) -> LinkSettings:
    """How links in messages are built and signed."""
    return LinkSettings(public_url=settings.public_url, secret_key=settings.secret_key)


def webhook_dispatcher(settings: Settings, database: Database) -> WebhookDispatcher:
    """The outgoing webhook dispatcher (leased claims: any number of processes may run one)."""
    return WebhookDispatcher(
        database,
        SecretBox(settings.secret_key),
        WebhookPolicy(
            schedule=settings.webhook_retry_schedule,
            disable_after=settings.webhook_disable_after,
            allow_private=settings.allow_private_networks,
        ),
        poll_interval=settings.webhook_poll_interval,
    )


def provider_registry(
    settings: Settings, database: Database, *, resolver: Resolver | None = None
) -> ProviderRegistry:
    """Live providers; distributed, their rate limits hold across all processes together.

    ``resolver`` replaces the system resolver of the address guard (tests).
    """
    secret_box = SecretBox(settings.secret_key)
    guard = AddressGuard(
        allow_private=settings.allow_private_networks, resolver=resolver or system_resolver
    )
    if settings.mode == "distributed":
        return ProviderRegistry(
            database, secret_box, limiter_factory=shared_limiter_factory(database), guard=guard
        )
    return ProviderRegistry(database, secret_box, guard=guard)


#: The public API's controllers: under ``/v1`` for API keys, and again under ``/ui/v1`` for the
#: signed-in browser (``web.ui.gateway``), so the UI does everything through the same handlers.
API_CONTROLLERS = [
    CustomerController,
    VoucherifyCustomerController,
    AsyncActionController,
    SegmentController,
    ApiKeyController,
    TemplateController,
    AbTestController,
    ProviderController,
    DistributionController,
    EventController,
    MessageController,
    RedemptionController,
    ConsentController,
    CustomerEventController,
    WebhookController,
    StreamController,
    InboundSecretController,
    CampaignController,
    CodePoolController,
    CodeController,
    BulkSendController,
]

#: Handler dependencies, each one of the services the app's state holds (dependency: state key).
_DEPENDENCIES_FROM_STATE = {
    "db": "database",
    "providers": "providers",
    "worker": "worker",
    "links": "links",
    "prometheus": "prometheus",
    "settings": "settings",
    "secret_box": "secret_box",
    "dispatcher": "dispatcher",
    "bulk_runner": "bulk_runner",
    "sign_ins": "sign_ins",
}


def _from_state(state: State, key: str) -> Provide:
    """A dependency answering the service ``state`` holds under ``key``."""

    # No parameters: Litestar validates a dependency's parameters on every request, cached
    # value or not, and taking the state as one cost more than handing the service over.
    def service() -> Any:
        return state[key]

    # The state's services live as long as the app: the first answer is every answer.
    return Provide(service, use_cache=True, sync_to_thread=False)


@dataclass(frozen=True)
class _Engine:
    """The delivery engine of a mode: what handlers notify, and what starts and stops."""

    notifier: DeliveryNotifier
    bulk: Waker
    on_startup: list[Callable[[], Awaitable[None]]]
    on_shutdown: list[Callable[[], Awaitable[None]]]


def _embedded(
    settings: Settings,
    database: Database,
    senders: SenderSource,
    dispatcher: WebhookDispatcher,
) -> _Engine:
    worker = EmbeddedWorker(
        database,
        senders,
        delivery_policy(settings),
        poll_interval=settings.worker_poll_interval,
    )
    bulk_runner = BulkRunner(
        database,
        link_settings(settings),
        worker.wake,
        batch_size=settings.bulk_batch_size,
        render_limits=settings.render_limits,
    )
    # Date triggers and due follow-ups; in distributed mode a periodic task runs them instead.
    scheduler = Scheduler(
        database, link_settings(settings), worker, poll_interval=settings.schedule_interval
    )
    return _Engine(
        notifier=worker,
        bulk=bulk_runner,
        on_startup=[worker.start, dispatcher.start, bulk_runner.start, scheduler.start]
        if settings.run_worker
        else [],
        on_shutdown=[scheduler.stop, bulk_runner.stop, worker.stop, dispatcher.stop],
    )


def _distributed(
    settings: Settings,
    database: Database,
    senders: SenderSource,
    dispatcher: WebhookDispatcher,
) -> _Engine:
    # API processes only enqueue; ``dm worker`` processes (and this one when run_worker) send.
    queue = build_queue_app(
        settings.database_url,
        sweep_interval=settings.sweep_interval,
        schedule_interval=settings.schedule_interval,
    )
    notifier = QueueNotifier(queue, database)

    async def open_queue() -> None:
        # open_async() returns an awaitable context manager, not a coroutine Litestar awaits.
        await queue.open_async()

    on_startup: list[Callable[[], Awaitable[None]]] = [open_queue, notifier.start]
    on_shutdown: list[Callable[[], Awaitable[None]]] = [notifier.stop]
    if settings.run_worker:
        worker = InProcessWorker(
            queue,
            WorkerRuntime(database, senders, delivery_policy(settings), link_settings(settings)),
            concurrency=settings.worker_concurrency,
            queues=settings.worker_queues,
            shutdown_grace=settings.shutdown_grace,
        )
        on_startup += [worker.start, dispatcher.start]
        on_shutdown = [worker.stop, dispatcher.stop, *on_shutdown]
    on_shutdown.append(queue.close_async)
    return _Engine(notifier, BulkKick(notifier), on_startup, on_shutdown)


def _warn_without_one_click(settings: Settings) -> None:
    """Say at start-up that marketing email goes without RFC 8058 one-click unsubscribe.

    Unsubscribe links are built on DM_PUBLIC_URL; one-click needs an HTTPS one, so with http the
    providers leave `List-Unsubscribe-Post` out (`providers.list_unsubscribe`) and Gmail and
    Yahoo may treat the bulk mail as not meeting their sender requirements.
    """
    if not one_click_allowed(settings.public_url):
        log.warning(
            "DM_PUBLIC_URL %s is not https: marketing email is sent without "
            "List-Unsubscribe-Post (RFC 8058 one-click unsubscribe needs an HTTPS URL)",
            settings.public_url,
        )


def create_app(
    settings: Settings, *, resolver: Resolver | None = None, clock: Clock = utcnow
) -> Litestar:
    """Build the service for ``settings``; nothing here reads the environment.

    Tests only: ``resolver`` replaces the system resolver for outbound destinations; ``clock``
    tells the time of editor sign-ins (tests move it to expire sessions).
    """
    configure_logging(settings.log_level, json_logs=settings.log_format == "json")
    settings.check_mode()
    _warn_without_one_click(settings)
    database = Database(settings.database_url)
    links = link_settings(settings)
    # Large imports check and write chunks in worker processes (see new_import_pool); each
    # worker runs the ``dm`` script again, which imports web.cli.
    import_pool = new_import_pool(program=["web.cli"])
    if settings.migrate_on_start:
        upgrade(database.engine)
        if settings.mode == "distributed":
            upgrade_queue(database.engine)
    secret_box = SecretBox(settings.secret_key)
    providers = provider_registry(settings, database, resolver=resolver)
    prometheus = CollectorRegistry()
    prometheus.register(DeliveryCollector(database))
    if settings.mode == "distributed":
        prometheus.register(QueueCollector(database))
    senders = MeasuredSenders(providers, SendMetrics(prometheus))
    dispatcher = webhook_dispatcher(settings, database)
    build_engine = _distributed if settings.mode == "distributed" else _embedded
    engine = build_engine(settings, database, senders, dispatcher)
    # Every API process runs the async actions its requests enqueue (and any a stopped one
    # left): they are API work, not deliveries, so they do not wait for a worker process.
    async_actions = AsyncActionRunner(database)
    # Likewise the distributions of the segment entered / left events customer writes store.
    segment_events = SegmentEventRunner(database, links)
    # Customer sync: platforms that list their unsubscribes (Braze) are asked periodically.
    unsubscribe_pull = UnsubscribePull(
        database, providers, poll_interval=settings.unsubscribe_pull_interval
    )
    # Previews, checks and compiles of user-written source run in these worker processes.
    render_pool = RenderPool(settings.render_limits)

    async def start_render_pool() -> None:
        install_render_pool(render_pool)

    async def stop_render_pool() -> None:
        close_render_pool(render_pool)

    openapi = OpenAPIConfig(
        title="Distribution manager",
        version="0.1.0",
        description=(
            "Templates, customers, segments and message delivery for referral and promotion "
            "campaigns. Authenticate with the `X-App-Id` and `X-App-Token` headers."
        ),
        path="/schema",
        components=Components(
            security_schemes={
                name: SecurityScheme(type="apiKey", name=header, security_scheme_in="header")
                for name, header in SECURITY_SCHEMES.items()
            }
        ),
    )
    state = State(
        {
            "database": database,
            "settings": settings,
            "import_pool": import_pool,
            "providers": providers,
            "worker": engine.notifier,
            "links": links,
            "secret_box": secret_box,
            "dispatcher": dispatcher,
            "bulk_runner": engine.bulk,
            "async_actions": async_actions,
            "segment_events": segment_events,
            "unsubscribe_pull": unsubscribe_pull,
            "prometheus": prometheus,
            "sign_ins": SignIns.from_settings(settings, clock),
        }
    )
    app = Litestar(
        route_handlers=[
            live,
            ready,
            metrics,
            *API_CONTROLLERS,
            ProviderWebhookController,
            unsubscribe_page,
            unsubscribe_post,
            qr_image,
            *ui_routes(settings),
            ui_api_gateway(settings, API_CONTROLLERS),
        ],
        template_config=UI_TEMPLATES,
        dependencies={
            name: _from_state(state, key) for name, key in _DEPENDENCIES_FROM_STATE.items()
        }
        | {"caller": Provide(provide_caller)},
        # Unknown pages get the UI's error page when a browser asks; the API keeps its problems.
        exception_handlers={**EXCEPTION_HANDLERS, NotFoundException: page_not_found},
        middleware=[request_id_middleware, allow_header_middleware],
        # Logging is configure_logging's: Litestar's default configuration replaced its handler
        # (JSON lines) and level (DM_LOG_LEVEL) with its own when the app was built.
        logging_config=None,
        before_request=refuse_nul_characters,
        request_class=BoundedJsonRequest,
        openapi_config=openapi,
        state=state,
        on_startup=[
            align_access_log,
            start_render_pool,
            async_actions.start,
            segment_events.start,
            unsubscribe_pull.start,
            *engine.on_startup,
        ],
        on_shutdown=[
            async_actions.stop,
            segment_events.stop,
            unsubscribe_pull.stop,
            *engine.on_shutdown,
            stop_render_pool,
            providers.aclose,
            database.dispose,
            lambda: import_pool.shutdown(cancel_futures=True),
        ],
    )
    document_problems(app.openapi_schema)
    return app
