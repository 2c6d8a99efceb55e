"""API authentication: the ``X-App-Id``/``X-App-Token`` pair, resolved to the caller's project."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.di import NamedDependency

from distribution.db import Database
from distribution.projects import authenticate

__all__ = ["SECURITY", "SECURITY_SCHEMES", "Caller", "provide_caller"]


@dataclass(frozen=True)
class Caller:
    """The project a request acts for. Every query of the request is scoped to it."""

    project_id: str
    project_name: str
    default_region: str
    #: Who acts, recorded on what the request writes (template versions): the API key's app id.
    actor: str = ""


def provide_caller(request: Request[Any, Any, Any], db: NamedDependency[Database]) -> Caller:
    """Dependency: the authenticated caller, or AuthenticationError (401)."""
    # After a key's first request this is a dictionary lookup: `authenticate` caches the answer
    # per (app id, token hash) until the key is revoked, and the session opens no transaction.
    with db.reader() as session:
        project = authenticate(
            session, request.headers.get("x-app-id"), request.headers.get("x-app-token")
        )
    return Caller(
        project_id=project.id,
        project_name=project.name,
        default_region=project.default_region,
        actor=request.headers.get("x-app-id", ""),
    )


# OpenAPI security scheme name -> the header it reads.
SECURITY_SCHEMES = {"AppId": "X-App-Id", "AppToken": "X-App-Token"}
SECURITY: list[dict[str, list[str]]] = [{"AppId": [], "AppToken": []}]
