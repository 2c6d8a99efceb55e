"""Health endpoints for load balancers and orchestrators."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from sqlalchemy import text

from distribution.distributed import queue_depths
from distribution.storage.db import Database
from web.settings import Settings

__all__ = ["live", "ready"]


@get("/health/live", tags=["health"], summary="The process is up")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/health/ready",
    tags=["health"],
    summary="The database answers (distributed: and the job queue, with its depth)",
    sync_to_thread=True,
)
def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    database: Database = request.app.state.database
    settings: Settings = request.app.state.settings
    # Any failure means "not ready"; the reason goes to the log, not the probe.
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        request.logger.exception("readiness check failed: database")
        return Response({"status": "unavailable", "database": "down"}, status_code=503)
    if settings.mode != "distributed":
        return Response({"status": "ok", "database": "ok"})
    try:
        depths = queue_depths(database)
    except Exception:
        request.logger.exception("readiness check failed: job queue")
        body = {"status": "unavailable", "database": "ok", "queue": "down"}
        return Response(body, status_code=503)
    return Response({"status": "ok", "database": "ok", "queue": "ok", "queue_depth": depths})
