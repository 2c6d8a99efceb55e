"""The composition root: ``create_app(settings)`` builds the database, routes and workers."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from prometheus_client import CollectorRegistry

from distribution.bulk import BulkRunner
from distribution.db import Database, is_sqlite
from distribution.delivery import DeliveryPolicy
from distribution.ingest import LinkSettings
from distribution.migrate import upgrade
from distribution.provider_registry import ProviderRegistry
from distribution.provider_store import SecretBox
from distribution.webhook_dispatch import WebhookDispatcher, WebhookPolicy
from distribution.worker import EmbeddedWorker
from web.auth import SECURITY_SCHEMES, provide_caller
from web.bulk_api import BulkSendController
from web.campaigns_api import CampaignController, CodeController, CodePoolController, qr_image
from web.consent_api import ConsentController, unsubscribe_page, unsubscribe_post
from web.customers_api import CustomerController
from web.distributions_api import DistributionController
from web.events_api import EventController
from web.health import live, ready
from web.keys_api import ApiKeyController
from web.messages_api import MessageController
from web.observability import (
    DeliveryCollector,
    configure_logging,
    metrics,
    request_id_middleware,
)
from web.problems import EXCEPTION_HANDLERS, document_problems
from web.providers_api import ProviderController, ProviderWebhookController
from web.segments_api import SegmentController
from web.settings import Settings
from web.templates_api import TemplateController
from web.ui import UI_TEMPLATES, ui_routes
from web.webhooks_api import InboundSecretController, WebhookController

__all__ = ["create_app"]


def create_app(settings: Settings) -> Litestar:
    """Build the service for ``settings``; nothing here reads the environment."""
    configure_logging(settings.log_level, json_logs=settings.log_format == "json")
    if settings.mode == "distributed":
        if is_sqlite(settings.database_url):
            raise ValueError(
                "DM_MODE=distributed needs PostgreSQL (DATABASE_URL=postgresql+psycopg://...): "
                "workers on several machines cannot share a SQLite file"
            )
        raise ValueError("DM_MODE=distributed is not available yet; use embedded")
    database = Database(settings.database_url)
    # Large imports check rows in worker processes; "spawn" because forking a threaded server
    # is unsafe. No process starts until the first large import.
    import_pool = ProcessPoolExecutor(
        max_workers=os.cpu_count() or 2, mp_context=multiprocessing.get_context("spawn")
    )
    if settings.migrate_on_start:
        upgrade(database.engine)
    secret_box = SecretBox(settings.secret_key)
    provider_registry = ProviderRegistry(database, secret_box)
    prometheus = CollectorRegistry()
    prometheus.register(DeliveryCollector(database))
    links = LinkSettings(public_url=settings.public_url, secret_key=settings.secret_key)
    worker = EmbeddedWorker(
        database,
        provider_registry,
        DeliveryPolicy(
            max_attempts=settings.max_attempts,
            recovery=settings.sending_recovery,
            lease_seconds=settings.lease_seconds,
            public_url=settings.public_url,
        ),
        poll_interval=settings.worker_poll_interval,
    )
    bulk_runner = BulkRunner(database, links, worker.wake)
    dispatcher = WebhookDispatcher(
        database,
        secret_box,
        WebhookPolicy(
            schedule=settings.webhook_retry_schedule,
            disable_after=settings.webhook_disable_after,
            allow_private=settings.webhooks_allow_private,
        ),
        poll_interval=settings.webhook_poll_interval,
    )

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
    app = Litestar(
        route_handlers=[
            live,
            ready,
            metrics,
            CustomerController,
            SegmentController,
            ApiKeyController,
            *ui_routes(settings),
            TemplateController,
            ProviderController,
            ProviderWebhookController,
            DistributionController,
            EventController,
            MessageController,
            ConsentController,
            unsubscribe_page,
            unsubscribe_post,
            WebhookController,
            InboundSecretController,
            CampaignController,
            CodePoolController,
            CodeController,
            qr_image,
            BulkSendController,
        ],
        template_config=UI_TEMPLATES,
        dependencies={
            "db": Provide(lambda: database, use_cache=True, sync_to_thread=False),
            "caller": Provide(provide_caller, sync_to_thread=True),
            "providers": Provide(lambda: provider_registry, use_cache=True, sync_to_thread=False),
            "worker": Provide(lambda: worker, use_cache=True, sync_to_thread=False),
            "links": Provide(lambda: links, use_cache=True, sync_to_thread=False),
            "prometheus": Provide(lambda: prometheus, use_cache=True, sync_to_thread=False),
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
            "secret_box": Provide(lambda: secret_box, use_cache=True, sync_to_thread=False),
            "dispatcher": Provide(lambda: dispatcher, use_cache=True, sync_to_thread=False),
            "bulk_runner": Provide(lambda: bulk_runner, use_cache=True, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[request_id_middleware],
        openapi_config=openapi,
        state=State(
            {
                "database": database,
                "settings": settings,
                "import_pool": import_pool,
                "providers": provider_registry,
                "worker": worker,
                "dispatcher": dispatcher,
                "bulk_runner": bulk_runner,
            }
        ),
        on_startup=[worker.start, dispatcher.start, bulk_runner.start]
        if settings.run_worker
        else [],
        on_shutdown=[
            bulk_runner.stop,
            worker.stop,
            dispatcher.stop,
            provider_registry.aclose,
            database.dispose,
            lambda: import_pool.shutdown(cancel_futures=True),
        ],
    )
    document_problems(app.openapi_schema)
    return app
