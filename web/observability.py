"""Structured JSON logs with request ids, and Prometheus metrics.

Every log line is one JSON object (``ts``, ``level``, ``logger``, ``msg``, plus ``request_id``
inside a request and any ``extra`` fields such as ``delivery_id``). Each request gets an id (the
caller's ``X-Request-Id`` when it sends a sane one) that is echoed in the response.
"""

from __future__ import annotations

import json
import logging
import random
import re
import sys
import time
from collections.abc import Coroutine, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import col, select

from distribution.distributed import queue_depths
from distribution.models import Delivery, Redemption, utcnow
from distribution.outbox.delivery import SenderSource
from distribution.storage.db import Database
from providers import (
    BatchSync,
    ProfileRequest,
    ProfileUpdate,
    Provider,
    ProviderError,
    SendResult,
    Sync,
    TransientProviderError,
)
from providers import Message as OutgoingMessage

__all__ = [
    "DeliveryCollector",
    "MeasuredSenders",
    "QueueCollector",
    "SendMetrics",
    "align_access_log",
    "configure_logging",
    "metrics",
    "request_id_middleware",
]

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Attributes every LogRecord has; anything else was passed as ``extra`` and is logged as a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, so log pipelines need no parsing rules."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str, *, json_logs: bool) -> None:
    """Route the root logger to stderr, as JSON lines or plain text."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # procrastinate logs two lines per job at INFO (the sweeper's every few seconds): only
    # its warnings unless debugging. Our jobs log what they did, with the delivery ids.
    quiet = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    logging.getLogger("procrastinate").setLevel(quiet)


def align_access_log() -> None:
    """A startup hook: uvicorn's access log follows the configured level, as every logger does.

    uvicorn configures its loggers at INFO when it starts, after ``configure_logging``; at
    DM_LOG_LEVEL=WARNING a line per request was still formatted and written (4% of the CPU of
    an event).
    """
    root = logging.getLogger().level
    access = logging.getLogger("uvicorn.access")
    access.setLevel(max(root, access.level))


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Give each HTTP request an id, in the logs and in the ``X-Request-Id`` response header."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        # Unique, not secret: a Mersenne draw, not a read of os.urandom per request.
        request_id = given if _SANE_ID.match(given) else f"{random.getrandbits(64):016x}"
        token = REQUEST_ID.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)

    return middleware


class DeliveryCollector(Collector):
    """Gauges read from the delivery table at scrape time, so they are true across processes."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Any:
        by_status = GaugeMetricFamily(
            "dm_deliveries", "Deliveries by status and provider", labels=["status", "provider"]
        )
        due = GaugeMetricFamily("dm_queue_depth", "Queued deliveries that are due now")
        with self.database.reader() as session:
            rows = session.exec(
                select(Delivery.status, Delivery.provider, func.count()).group_by(
                    col(Delivery.status), col(Delivery.provider)
                )
            ).all()
            depth = session.exec(
                select(func.count()).where(
                    col(Delivery.status) == "queued", col(Delivery.next_attempt_at) <= utcnow()
                )
            ).one()
            redeemed = session.exec(
                select(
                    Redemption.attributed,
                    Redemption.currency,
                    func.count(),
                    func.coalesce(func.sum(Redemption.amount), 0),
                ).group_by(col(Redemption.attributed), col(Redemption.currency))
            ).all()
        for status, provider, count in rows:
            by_status.add_metric([status, provider], count)
        due.add_metric([], depth)
        yield by_status
        yield due
        # Redemptions are never deleted (erasure keeps amounts), so these only grow: counters.
        redemptions = CounterMetricFamily(
            "dm_redemptions",
            "Redemptions received, attributed to a message or not",
            labels=["attributed"],
        )
        revenue = CounterMetricFamily(
            "dm_attributed_revenue_minor_units",
            "Order amounts of redemptions attributed to a message, in minor units, by currency",
            labels=["currency"],
        )
        counts = {"true": 0, "false": 0}
        amounts: dict[str, int] = {}
        for attributed, currency, count, amount in redeemed:
            counts["true" if attributed else "false"] += int(count)
            if attributed and currency:
                amounts[currency] = amounts.get(currency, 0) + int(amount or 0)
        for label, count in counts.items():
            redemptions.add_metric([label], count)
        for currency, amount in sorted(amounts.items()):
            revenue.add_metric([currency], amount)
        yield redemptions
        yield revenue


class QueueCollector(Collector):
    """Distributed mode: jobs due and waiting for a worker, per queue, at scrape time."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Any:
        waiting = GaugeMetricFamily(
            "dm_jobs_waiting", "Jobs due and waiting for a worker, per queue", labels=["queue"]
        )
        for queue, depth in queue_depths(self.database).items():
            waiting.add_metric([queue], depth)
        yield waiting


class SendMetrics:
    """Provider call latency and retries of the sends made by this process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.latency = Histogram(
            "dm_provider_send_seconds",
            "Time of one provider send call (waits for its rate and concurrency limits included)",
            ["provider_kind"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.retries = Counter(
            "dm_delivery_retries",
            "Sends that failed transiently: each is retried later, up to DM_MAX_ATTEMPTS",
            ["provider_kind"],
            registry=registry,
        )


class MeasuredSenders:
    """A ``SenderSource`` whose providers' sends are timed and their retries counted."""

    def __init__(self, inner: SenderSource, measures: SendMetrics) -> None:
        self.inner = inner
        self.measures = measures

    async def sender(self, project_id: str, name: str) -> Provider:
        return _MeasuredProvider(await self.inner.sender(project_id, name), self.measures)

    async def sync(self, project_id: str, name: str) -> Sync:
        inner = await self.inner.sync(project_id, name)
        if isinstance(inner, BatchSync):
            return _MeasuredBatchSync(inner, self.measures)
        return _MeasuredSync(inner, self.measures)


class _Measured:
    """Times the calls of one provider object and counts its transient failures."""

    def __init__(self, kind: str, measures: SendMetrics) -> None:
        self.measures = measures
        self.kind = kind
        # Looked up once, not per send (a labels() call locks and hashes: 3% of an event's CPU).
        self._latency = measures.latency.labels(kind)

    async def _timed(self, call: Coroutine[Any, Any, SendResult]) -> SendResult:
        started = time.perf_counter()
        try:
            return await call
        except TransientProviderError:
            self.measures.retries.labels(self.kind).inc()
            raise
        finally:
            self._latency.observe(time.perf_counter() - started)


class _MeasuredProvider(_Measured):
    def __init__(self, inner: Provider, measures: SendMetrics) -> None:
        super().__init__(inner.kind, measures)
        self.inner = inner
        self.name = inner.name
        self.channels = inner.channels

    async def send(self, message: OutgoingMessage) -> SendResult:
        return await self._timed(self.inner.send(message))

    async def check(self) -> None:
        await self.inner.check()

    async def aclose(self) -> None:
        # The registry owns the provider and closes it; this wrapper holds nothing.
        return None


class _MeasuredSync(_Measured):
    def __init__(self, inner: Sync, measures: SendMetrics) -> None:
        super().__init__(inner.kind, measures)
        self.inner = inner
        self.name = inner.name

    async def sync(self, update: ProfileUpdate) -> SendResult:
        return await self._timed(self.inner.sync(update))

    def requests(self, update: ProfileUpdate) -> list[ProfileRequest]:
        return self.inner.requests(update)

    async def check(self) -> None:
        await self.inner.check()

    async def aclose(self) -> None:
        return None  # the registry owns the sync


class _MeasuredBatchSync(_MeasuredSync):
    """A batch sync stays one: a batch is timed as one call, each update failed transiently
    counts as a retry."""

    def __init__(self, inner: BatchSync, measures: SendMetrics) -> None:
        super().__init__(inner, measures)
        self.batch_inner = inner

    async def sync_many(self, updates: Sequence[ProfileUpdate]) -> list[SendResult | ProviderError]:
        started = time.perf_counter()
        try:
            outcomes = await self.batch_inner.sync_many(updates)
        finally:
            self._latency.observe(time.perf_counter() - started)
        transient = sum(isinstance(o, TransientProviderError) for o in outcomes)
        if transient:
            self.measures.retries.labels(self.kind).inc(transient)
        return outcomes


@get("/metrics", include_in_schema=False, sync_to_thread=True)
def metrics(prometheus: NamedDependency[CollectorRegistry]) -> Response[bytes]:
    """Prometheus text exposition of the service's metrics."""
    return Response(generate_latest(prometheus), media_type=CONTENT_TYPE_LATEST)
