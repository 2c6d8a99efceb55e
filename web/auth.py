"""API authentication: the ``X-App-Id``/``X-App-Token`` pair, resolved to the caller's project."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import anyio
from litestar import Request
from litestar.di import NamedDependency

from distribution.accounts.project_cache import API_KEYS, CACHE, MISSING
from distribution.accounts.projects import authenticate
from distribution.storage.db import Database

__all__ = ["SECURITY", "SECURITY_SCHEMES", "Caller", "provide_caller"]


@dataclass(frozen=True)
class Caller:
    """The project a request acts for. Every query of the request is scoped to it."""

    project_id: str
    project_name: str
    default_region: str
    #: Who acts, recorded on what the request writes (template versions): the API key's app id.
    actor: str = ""


async def provide_caller(request: Request[Any, Any, Any], db: NamedDependency[Database]) -> Caller:
    """Dependency: the authenticated caller, or AuthenticationError (401).

    A key seen within ``project_cache.TTL_SECONDS`` and not revoked since is answered from the
    cache on the event loop; only a miss goes to a thread (a hop cost more than the lookup).
    """
    app_id = request.headers.get("x-app-id")
    token = request.headers.get("x-app-token")
    key = ("caller", app_id, hashlib.sha256(token.encode()).hexdigest()) if token else None
    if app_id and key is not None:
        cached: Caller = CACHE.peek(API_KEYS, key)
        if cached is not MISSING:
            return cached
    return await anyio.to_thread.run_sync(_caller, db, app_id, token, key)


def _caller(
    db: Database, app_id: str | None, token: str | None, key: tuple[str, str | None, str] | None
) -> Caller:
    def load() -> Caller:
        # The session opens no transaction when `authenticate` has the key cached.
        with db.reader() as session:
            project = authenticate(session, app_id, token)
        return Caller(
            project_id=project.id,
            project_name=project.name,
            default_region=project.default_region,
            actor=app_id or "",
        )

    # Cached in the API keys' scope, as `authenticate` caches the project: a revocation clears it.
    return load() if key is None or not app_id else CACHE.get(API_KEYS, key, load)


# OpenAPI security scheme name -> the header it reads.
SECURITY_SCHEMES = {"AppId": "X-App-Id", "AppToken": "X-App-Token"}
SECURITY: list[dict[str, list[str]]] = [{"AppId": [], "AppToken": []}]
