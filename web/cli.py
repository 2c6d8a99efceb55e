"""The ``dm`` command: serve, migrate, manage projects, keys and the development setup."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from distribution.accounts.projects import (
    authenticate,
    create_api_key,
    create_project,
    find_project,
    list_api_keys,
    revoke_api_key,
)
from distribution.accounts.users import ROLES, authenticate_user, create_user, reset_password
from distribution.distributed import WorkerRuntime, build_queue_app, run_worker
from distribution.errors import DistributionError
from distribution.storage.db import Database
from distribution.storage.migrate import queue_schema_applied, upgrade, upgrade_queue
from distribution.template_store.render_pool import (
    RenderPool,
    close_render_pool,
    install_render_pool,
)
from web.settings import Settings

__all__ = ["main"]

DEV_PROJECT = "development"
DEV_ADMIN = "admin@example.com"


def _serve(settings: Settings) -> None:
    import uvicorn

    from web.app import create_app

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


def _migrate(settings: Settings) -> Database:
    settings.check_mode()
    database = Database(settings.database_url)
    upgrade(database.engine)
    if settings.mode == "distributed":
        upgrade_queue(database.engine)
    return database


async def _work(settings: Settings) -> None:
    """``dm worker``: deliveries, bulk rounds and the sweeper as procrastinate jobs, plus the
    webhook dispatcher, until SIGTERM/SIGINT (then the jobs in flight finish or are released)."""
    from prometheus_client import CollectorRegistry, start_http_server

    from web.app import delivery_policy, link_settings, provider_registry, webhook_dispatcher
    from web.observability import MeasuredSenders, SendMetrics

    database = Database(settings.database_url)
    providers = provider_registry(settings, database)
    queue = build_queue_app(
        settings.database_url,
        sweep_interval=settings.sweep_interval,
        schedule_interval=settings.schedule_interval,
        pool_size=settings.worker_concurrency + 4,
    )
    dispatcher = webhook_dispatcher(settings, database)
    prometheus = CollectorRegistry()
    senders = MeasuredSenders(providers, SendMetrics(prometheus))
    if settings.worker_metrics_port:
        # Each worker exposes its own sends; the queue and delivery gauges come from the API.
        start_http_server(settings.worker_metrics_port, addr=settings.host, registry=prometheus)
    runtime = WorkerRuntime(database, senders, delivery_policy(settings), link_settings(settings))
    render_pool = RenderPool(settings.render_limits)  # compiles and slow-path renders of sends
    install_render_pool(render_pool)
    try:
        async with queue.open_async():
            await dispatcher.start()
            try:
                await run_worker(
                    queue,
                    runtime,
                    concurrency=settings.worker_concurrency,
                    queues=settings.worker_queues,
                    shutdown_grace=settings.shutdown_grace,
                )
            finally:
                await dispatcher.stop()
    finally:
        close_render_pool(render_pool)
        await providers.aclose()
        database.dispose()


def _worker(settings: Settings) -> int:
    if settings.mode != "distributed":
        print(
            "dm: dm worker needs DM_MODE=distributed (embedded, dm serve sends by itself)",
            file=sys.stderr,
        )
        return 2
    settings.check_mode()
    from web.observability import configure_logging

    configure_logging(settings.log_level, json_logs=settings.log_format == "json")
    database = Database(settings.database_url)
    try:
        ready = queue_schema_applied(database.engine)
    finally:
        database.dispose()
    if not ready:
        print("dm: the job queue's tables are missing: run dm migrate first", file=sys.stderr)
        return 2
    asyncio.run(_work(settings))
    return 0


def _print_key(project_name: str, app_id: str, token: str) -> None:
    print(f"project:     {project_name}")
    print(f"X-App-Id:    {app_id}")
    print(f"X-App-Token: {token}   (shown once: store it now)")


def _dev_credentials(settings: Settings, database: Database) -> dict[str, str]:
    """The development project's key, kept in the data folder so every `make run` shows it."""
    path: Path = settings.data_dir / "dev-credentials.json"
    with database.session() as session:
        if path.exists():
            saved = json.loads(path.read_text())
            try:
                authenticate(session, saved.get("app_id"), saved.get("token"))
                return dict(saved)
            except DistributionError:
                pass
        try:
            project = find_project(session, DEV_PROJECT)
        except DistributionError:
            project = create_project(session, DEV_PROJECT)
        new = create_api_key(session, project.id, "development")
        saved = {"project": project.name, "app_id": new.key.app_id, "token": new.token}
    path.touch(mode=0o600)
    path.write_text(json.dumps(saved, indent=2))
    return saved


def _dev_admin(settings: Settings, database: Database, project_name: str) -> str:
    """The development admin's password, kept in the data folder beside the API credentials."""
    path: Path = settings.data_dir / "dev-admin.json"
    with database.session() as session:
        project = find_project(session, project_name)
        if path.exists():
            saved = json.loads(path.read_text())
            try:
                authenticate_user(
                    session, DEV_ADMIN, str(saved.get("password", "")), project_id=project.id
                )
                return str(saved["password"])
            except DistributionError:
                pass
        try:
            password = create_user(session, project.id, DEV_ADMIN, "admin").password
        except DistributionError:
            # The user exists but the saved password is lost: the development admin gets a new one.
            password = reset_password(session, project.id, DEV_ADMIN)
    path.touch(mode=0o600)
    path.write_text(json.dumps({"email": DEV_ADMIN, "password": password}, indent=2))
    return password


def _dev(settings: Settings) -> None:
    database = _migrate(settings)
    creds = _dev_credentials(settings, database)
    admin_password = _dev_admin(settings, database, creds["project"])
    database.dispose()
    url = f"http://{settings.host}:{settings.port}"
    print(
        f"""
Distribution manager (embedded mode, SQLite at {settings.database_url})

  URL:          {url}
  Editor:       {url}/   sign in as {DEV_ADMIN} / {admin_password}
  API docs:     {url}/schema
  Project:      {creds["project"]}
  X-App-Id:     {creds["app_id"]}
  X-App-Token:  {creds["token"]}

Try:
  curl -s {url}/v1/customers -H 'X-App-Id: {creds["app_id"]}' \\
       -H 'X-App-Token: {creds["token"]}' -H 'Content-Type: application/json' \\
       -d '{{"source_id": "shop-42", "name": "Ada Lovelace", "email": "ada@example.com"}}'
""",
        flush=True,
    )
    _serve(settings)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dm", description="Distribution manager")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate, then serve the API and the editor")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser(
        "worker", help="distributed mode: run a worker (DM_WORKER_CONCURRENCY jobs at once)"
    )
    commands.add_parser("dev", help="migrate, ensure a development project, print it, serve")

    projects = commands.add_parser("projects", help="manage projects").add_subparsers(
        dest="action", required=True
    )
    create = projects.add_parser("create", help="create a project and its first API key")
    create.add_argument("name")
    create.add_argument("--region", default="US", help="default phone region (ISO code)")

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    key_create = keys.add_parser("create", help="create an API key (token shown once)")
    key_create.add_argument("project")
    key_create.add_argument("--name", default="default")
    key_list = keys.add_parser("list", help="list a project's keys")
    key_list.add_argument("project")
    key_revoke = keys.add_parser("revoke", help="revoke a key")
    key_revoke.add_argument("project")
    key_revoke.add_argument("key_id")
    users = commands.add_parser("users", help="manage editor users").add_subparsers(
        dest="action", required=True
    )
    user_create = users.add_parser("create", help="create a user (prints a generated password)")
    user_create.add_argument("email")
    user_create.add_argument("--project", required=True, help="project name or id")
    user_create.add_argument("--role", choices=ROLES, default="viewer")
    user_create.add_argument("--password", help="at least 10 characters; generated when omitted")
    bulk = commands.add_parser("bulk-send", help="follow bulk sends").add_subparsers(
        dest="action", required=True
    )
    watch = bulk.add_parser("watch", help="show a bulk send's progress bar until it ends")
    watch.add_argument("job_id")
    watch.add_argument("--project", required=True, help="project name or id")
    return parser


def _watch_bulk(database: Database, project: str, job_id: str) -> None:
    """Print a progress bar of a bulk send (prepared and sent) until it ends."""
    import time

    from distribution.bulk import get_job, job_progress

    while True:
        with database.reader() as session:
            job = get_job(session, find_project(session, project).id, job_id)
            progress = job_progress(session, job)
        total = max(1, progress.audience * max(1, len(job.channels)))
        done = sum(v for k, v in progress.messages.items() if k not in ("queued", "paused"))
        filled = int(30 * min(1.0, done / total))
        rate = f"{progress.rate_per_second:,.0f}/s" if progress.rate_per_second else "-"
        eta = f"{progress.eta_seconds:,.0f}s" if progress.eta_seconds is not None else "-"
        print(
            f"\r[{'#' * filled}{'.' * (30 - filled)}] {done:,}/{total:,} {job.status} "
            f"prepared {progress.prepared:,} rate {rate} eta {eta}   ",
            end="",
            flush=True,
        )
        if job.status in ("completed", "cancelled", "failed"):
            print(
                f"\n{json.dumps(progress.messages)}" + (f" error: {job.error}" if job.error else "")
            )
            return
        time.sleep(1.0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dm`` and ``python -m web``."""
    args = _parser().parse_args(argv)
    settings = Settings.from_env()
    if getattr(args, "host", None) or getattr(args, "port", None):
        settings = replace(
            settings, host=args.host or settings.host, port=args.port or settings.port
        )
    try:
        if args.command == "serve":
            _serve(settings)
        elif args.command == "dev":
            # A person reads these logs in a terminal: plain lines unless asked otherwise.
            if "DM_LOG_FORMAT" not in os.environ:
                settings = replace(settings, log_format="text")
            _dev(settings)
        elif args.command == "worker":
            return _worker(settings)
        elif args.command == "migrate":
            _migrate(settings).dispose()
            print("database is up to date")
        elif args.command == "projects":
            database = _migrate(settings)
            with database.session() as session:
                project = create_project(session, args.name, default_region=args.region)
                new = create_api_key(session, project.id)
            _print_key(project.name, new.key.app_id, new.token)
        elif args.command == "keys":
            database = _migrate(settings)
            with database.session() as session:
                project = find_project(session, args.project)
                if args.action == "create":
                    new = create_api_key(session, project.id, args.name)
                    _print_key(project.name, new.key.app_id, new.token)
                elif args.action == "list":
                    for key in list_api_keys(session, project.id):
                        state = "revoked" if key.revoked_at else "active"
                        print(f"{key.id}  {key.app_id}  {key.name}  {state}")
                else:
                    revoke_api_key(session, project.id, args.key_id)
                    print(f"revoked {args.key_id}")
        elif args.command == "users":
            database = _migrate(settings)
            with database.session() as session:
                project = find_project(session, args.project)
                added = create_user(session, project.id, args.email, args.role, args.password)
            print(f"created {added.user.role} {added.user.email} in project {project.name}")
            if args.password is None:
                print(f"password: {added.password}   (shown once: store it now)")
        elif args.command == "bulk-send":
            _watch_bulk(_migrate(settings), args.project, args.job_id)
    except DistributionError as error:
        print(f"dm: {error}", file=sys.stderr)
        return 1
    return 0
