"""Health endpoints for load balancers and orchestrators."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from sqlalchemy import text

from distribution.db import Database

__all__ = ["live", "ready"]


@get("/health/live", tags=["health"], summary="The process is up")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@get("/health/ready", tags=["health"], summary="The database answers", sync_to_thread=True)
def ready(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    database: Database = request.app.state.database
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # any failure means "not ready"; the reason goes to the log, not the probe
        request.logger.exception("readiness check failed")
        return Response({"status": "unavailable", "database": "down"}, status_code=503)
    return Response({"status": "ok", "database": "ok"})
