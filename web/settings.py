"""Service settings: the only place that reads the environment.

- ``DATABASE_URL``: SQLite file (default ``sqlite:///<DM_DATA_DIR>/dm.sqlite3``) or
  ``postgresql+psycopg://...``.
- ``DM_DATA_DIR`` (``./data``): the SQLite file, the generated secret key, development
  credentials, captured messages.
- ``DM_SECRET_KEY``: signs tokens and encrypts stored secrets; generated into
  ``DM_DATA_DIR/secret.key`` when unset (set it in production, the same on every process).
- ``DM_HOST``/``DM_PORT`` (``127.0.0.1``/``8000``): where ``dm serve`` listens.
- ``DM_MODE`` (``embedded``): ``embedded`` (one process sends, SQLite or PostgreSQL) or
  ``distributed`` (PostgreSQL only: API processes enqueue procrastinate jobs, ``dm worker``
  processes send).
- ``DM_RUN_WORKER`` (``true``): run the background work inside the API process. Embedded: the
  delivery worker, bulk runner and webhook dispatcher. Distributed: also a procrastinate worker
  (a small single-machine deployment, and the tests); set ``false`` when ``dm worker`` runs.
- ``DM_WORKER_CONCURRENCY`` (``4``): jobs one ``dm worker`` runs at once (each a batch of up to
  200 deliveries).
- ``DM_WORKER_QUEUES`` (all: ``deliveries,bulk,maintenance``): the queues ``dm worker`` takes
  jobs from.
- ``DM_BULK_BATCH_SIZE`` (``2000``): recipients a bulk job prepares per transaction in embedded
  mode (codes, renders and delivery rows; 1 to 10,000). Smaller batches hold SQLite's one writer
  for less time at a time, larger ones cost less per recipient.
- ``DM_SWEEP_INTERVAL`` (``5``): seconds between sweeps that enqueue due deliveries without a job
  and recover abandoned ones (distributed mode; 1 to 59).
- ``DM_WORKER_METRICS_PORT`` (unset): where ``dm worker`` serves its Prometheus metrics
  (provider latency, retries) on ``DM_HOST``.
- ``DM_SHUTDOWN_GRACE`` (``30``): seconds a stopping worker waits for jobs in flight before it
  aborts them (their unsent deliveries go back to ``queued``).
- ``DM_SESSION_MAX_AGE`` (``43200``, 12 hours): seconds an editor sign-in lasts at most, however
  busy; then the person signs in again.
- ``DM_SESSION_IDLE_TIMEOUT`` (``7200``, 2 hours): seconds without a request after which an
  editor sign-in ends.
- ``DM_PUBLIC_URL`` (``http://<host>:<port>``): base of links in messages (unsubscribe); one-click
  unsubscribe (RFC 8058) needs it to be https.
- ``DM_UNSUBSCRIBE_LINK_DAYS`` (``365``): days an unsubscribe link in a message keeps working
  (also until the customer opts in again on its channel, whichever comes first).
- ``DM_LOG_LEVEL`` (``INFO``); ``DM_LOG_FORMAT``: ``json`` (default: one JSON object per line
  with the request id) or ``text``.
- ``DM_MAX_ATTEMPTS`` (``8``): sends of one delivery before a transient error becomes final.
- ``DM_RETRY_BACKOFF`` (``5``), ``DM_RETRY_MAX_BACKOFF`` (``3600``): seconds before the first
  retry of a transient error, doubling per attempt up to the maximum (with jitter, and never
  sooner than the provider's Retry-After).
- ``DM_SENDING_RECOVERY`` (``unknown``): what happens to a delivery found in flight after a
  crash: ``unknown`` (listed for the operator, never sent twice) or ``retry``.
- ``DM_LEASE_SECONDS`` (``120``): how long a claimed delivery may take before it counts as
  abandoned by a dead worker (longer than the slowest provider call).
- ``DM_ALLOW_PRIVATE_NETWORKS`` (``false``): let every outbound destination (provider API
  URLs, SMTP hosts, webhook providers and subscriptions) be loopback, private, link-local or an
  internal name (development, tests, a relay on the operator's own network). Projects cannot
  change it. ``DM_WEBHOOKS_ALLOW_PRIVATE`` is its former, deprecated name.
- ``DM_WEBHOOK_RETRY_SCHEDULE`` (``5,300,1800,7200,18000,36000,50400,72000,86400``): seconds
  between a failed webhook call and its next attempt, one entry per retry.
- ``DM_WEBHOOK_DISABLE_AFTER`` (``5``): consecutive calls that failed every attempt before a
  subscription is disabled.
- ``DM_RENDER_WORKERS`` (``2``), ``DM_RENDER_MEMORY_MB`` (``512``, at least 128),
  ``DM_RENDER_TIMEOUT_SECONDS`` (``5``): the render pool's processes, which preview, check and
  compile user-written templates, and each one's address space and time per render.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from distribution.storage.db import is_sqlite
from distribution.template_store.render_pool import RenderPoolLimits

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    """Everything the composition root needs; tests build their own."""

    database_url: str
    data_dir: Path
    secret_key: str
    host: str = "127.0.0.1"
    port: int = 8000
    mode: Literal["embedded", "distributed"] = "embedded"
    public_url: str = "http://127.0.0.1:8000"
    unsubscribe_link_days: int = 365
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    migrate_on_start: bool = True
    # Background work runs inside the API process: the embedded worker (embedded mode) or an
    # in-process procrastinate worker besides ``dm worker`` processes (distributed mode).
    run_worker: bool = True
    worker_concurrency: int = 4
    worker_queues: tuple[str, ...] = ("deliveries", "bulk", "maintenance")
    bulk_batch_size: int = 2000
    sweep_interval: int = 5
    # Seconds between rounds of the scheduler (date triggers, due follow-ups); at most 60.
    schedule_interval: int = 60
    shutdown_grace: float = 30.0
    worker_metrics_port: int | None = None
    worker_poll_interval: float = 1.0
    max_attempts: int = 8
    retry_backoff: float = 5.0
    retry_max_backoff: float = 3600.0
    # A delivery found in flight after a crash: "unknown" (never risk a duplicate) or "retry".
    sending_recovery: Literal["unknown", "retry"] = "unknown"
    lease_seconds: float = 120.0
    # The operator's outbound policy for every destination: providers, SMTP, webhooks.
    allow_private_networks: bool = False
    webhook_retry_schedule: tuple[float, ...] = (
        5.0,
        300.0,
        1800.0,
        7200.0,
        18000.0,
        36000.0,
        50400.0,
        72000.0,
        86400.0,
    )
    webhook_disable_after: int = 5
    webhook_poll_interval: float = 0.5
    # Customer sync: seconds between pulls of Braze's list of email unsubscribes.
    unsubscribe_pull_interval: float = 900.0
    render_limits: RenderPoolLimits = field(default_factory=RenderPoolLimits)
    session_max_age: int = 12 * 3600
    session_idle_timeout: int = 2 * 3600

    def check_mode(self) -> None:
        """Refuse a mode the database cannot serve."""
        if self.mode == "distributed" and is_sqlite(self.database_url):
            raise ValueError(
                "DM_MODE=distributed needs PostgreSQL (DATABASE_URL=postgresql+psycopg://...): "
                "workers on several machines cannot share a SQLite file"
            )

    def __repr__(self) -> str:
        return f"Settings(database_url={self.database_url!r}, mode={self.mode!r}, secret_key=***)"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from environment variables (see the module docstring)."""
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("DM_DATA_DIR", "data")).resolve()
        host = env.get("DM_HOST", "127.0.0.1")
        port = int(env.get("DM_PORT", "8000"))
        mode = env.get("DM_MODE", "embedded")
        if mode not in ("embedded", "distributed"):
            raise ValueError(f"DM_MODE must be embedded or distributed, not {mode!r}")
        return cls(
            database_url=env.get("DATABASE_URL", f"sqlite:///{data_dir / 'dm.sqlite3'}"),
            data_dir=data_dir,
            secret_key=env.get("DM_SECRET_KEY") or _stored_secret(data_dir),
            host=host,
            port=port,
            mode=mode,  # type: ignore[arg-type]
            public_url=env.get("DM_PUBLIC_URL", f"http://{host}:{port}").rstrip("/"),
            unsubscribe_link_days=_positive_int("DM_UNSUBSCRIBE_LINK_DAYS", env, "365"),
            log_level=env.get("DM_LOG_LEVEL", "INFO"),
            log_format="text" if env.get("DM_LOG_FORMAT") == "text" else "json",
            max_attempts=int(env.get("DM_MAX_ATTEMPTS", "8")),
            retry_backoff=float(env.get("DM_RETRY_BACKOFF", "5")),
            retry_max_backoff=float(env.get("DM_RETRY_MAX_BACKOFF", "3600")),
            sending_recovery=_recovery(env.get("DM_SENDING_RECOVERY", "unknown")),
            lease_seconds=float(env.get("DM_LEASE_SECONDS", "120")),
            allow_private_networks=_flag(
                env.get("DM_ALLOW_PRIVATE_NETWORKS", env.get("DM_WEBHOOKS_ALLOW_PRIVATE", ""))
            ),
            webhook_retry_schedule=_schedule(env.get("DM_WEBHOOK_RETRY_SCHEDULE")),
            webhook_disable_after=int(env.get("DM_WEBHOOK_DISABLE_AFTER", "5")),
            run_worker=_flag(env.get("DM_RUN_WORKER", "true")),
            worker_concurrency=_positive_int("DM_WORKER_CONCURRENCY", env, "4"),
            worker_queues=_queues(env.get("DM_WORKER_QUEUES")),
            bulk_batch_size=_bulk_batch_size(env.get("DM_BULK_BATCH_SIZE", "2000")),
            sweep_interval=_sweep_interval(env.get("DM_SWEEP_INTERVAL", "5")),
            schedule_interval=_schedule_interval(env.get("DM_SCHEDULE_INTERVAL", "60")),
            shutdown_grace=float(env.get("DM_SHUTDOWN_GRACE", "30")),
            session_max_age=_positive_int("DM_SESSION_MAX_AGE", env, "43200"),
            session_idle_timeout=_positive_int("DM_SESSION_IDLE_TIMEOUT", env, "7200"),
            unsubscribe_pull_interval=_positive_int("DM_UNSUBSCRIBE_PULL_INTERVAL", env, "900"),
            worker_metrics_port=int(env["DM_WORKER_METRICS_PORT"])
            if env.get("DM_WORKER_METRICS_PORT")
            else None,
            render_limits=_render_limits(env),
        )


def _flag(value: str) -> bool:
    return value.lower() in ("1", "true", "yes")


def _positive_int(name: str, env: Mapping[str, str], default: str) -> int:
    value = int(env.get(name, default))
    if value < 1:
        raise ValueError(f"{name} must be at least 1")
    return value


def _render_limits(env: Mapping[str, str]) -> RenderPoolLimits:
    memory_mb = int(env.get("DM_RENDER_MEMORY_MB", "512"))
    if memory_mb < 128:  # a worker needs about 60 MB before it renders anything
        raise ValueError("DM_RENDER_MEMORY_MB must be at least 128")
    timeout = float(env.get("DM_RENDER_TIMEOUT_SECONDS", "5"))
    if not timeout > 0:
        raise ValueError("DM_RENDER_TIMEOUT_SECONDS must be more than 0")
    return RenderPoolLimits(
        workers=_positive_int("DM_RENDER_WORKERS", env, "2"),
        memory_mb=memory_mb,
        timeout_seconds=timeout,
    )


def _queues(value: str | None) -> tuple[str, ...]:
    if not value:
        return Settings.worker_queues
    queues = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = set(queues) - set(Settings.worker_queues)
    if not queues or unknown:
        raise ValueError(
            f"DM_WORKER_QUEUES must list some of {', '.join(Settings.worker_queues)}"
            + (f"; unknown: {', '.join(sorted(unknown))}" if unknown else "")
        )
    return queues


def _bulk_batch_size(value: str) -> int:
    size = int(value)
    if not 1 <= size <= 10_000:
        raise ValueError("DM_BULK_BATCH_SIZE must be between 1 and 10000")
    return size


def _schedule_interval(value: str) -> int:
    seconds = int(value)
    if not 1 <= seconds <= 60:
        raise ValueError("DM_SCHEDULE_INTERVAL must be between 1 and 60 seconds")
    return seconds


def _sweep_interval(value: str) -> int:
    # A cron seconds field: "*/N" fires at the seconds divisible by N within each minute.
    seconds = int(value)
    if not 1 <= seconds <= 59:
        raise ValueError("DM_SWEEP_INTERVAL must be between 1 and 59 seconds")
    return seconds


def _recovery(value: str) -> Literal["unknown", "retry"]:
    if value not in ("unknown", "retry"):
        raise ValueError(f"DM_SENDING_RECOVERY must be unknown or retry, not {value!r}")
    return "retry" if value == "retry" else "unknown"


def _schedule(value: str | None) -> tuple[float, ...]:
    if not value:
        return Settings.webhook_retry_schedule
    try:
        delays = tuple(float(part) for part in value.split(","))
    except ValueError:
        raise ValueError("DM_WEBHOOK_RETRY_SCHEDULE must be comma-separated seconds") from None
    if any(d < 0 for d in delays):
        raise ValueError("DM_WEBHOOK_RETRY_SCHEDULE must not be negative")
    return delays


def _stored_secret(data_dir: Path) -> str:
    # Development convenience: a key generated once and kept beside the SQLite file. Production
    # sets DM_SECRET_KEY so that every process shares it.
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(key)
    return key
