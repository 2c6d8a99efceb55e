"""The public API for the signed-in browser: ``/ui/v1/...`` is ``/v1/...`` behind the session.

The UI's pages do what they do through the same API developers use (one set of handlers, one
set of rules and errors); only how the caller is known differs. Here the caller is the session's
user, unsafe methods need the session's CSRF token, and the user's role decides what they may
change:

- viewers read everything and change nothing;
- editors change templates, customers, segments, campaigns and codes, distributions, events
  and bulk sends;
- admins also change providers, API keys, webhook subscriptions and the inbound signing secret.

The router is excluded from the OpenAPI document: ``/v1`` is the documented API.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
from litestar import Request, Response, Router
from litestar.datastructures import ResponseHeader
from litestar.di import Provide
from litestar.types import ControllerRouterHandler

from distribution.accounts.users import Role
from web.auth import Caller
from web.problems import problem
from web.settings import Settings
from web.ui.session import (
    CsrfError,
    ForbiddenError,
    SignInRequiredError,
    check_csrf,
    session_middleware,
    signed_in_user,
)

__all__ = ["ADMIN_PATHS", "GATEWAY_PREFIX", "needed_role", "ui_api_gateway"]

GATEWAY_PREFIX = "/ui"
#: API paths (under ``/v1``) only admins may change: credentials and where data leaves us.
ADMIN_PATHS = (
    "/v1/providers",
    "/v1/api-keys",
    "/v1/webhooks",
    "/v1/settings",
)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def needed_role(method: str, api_path: str) -> Role:
    """The least role that may make this request (``api_path`` without the gateway prefix).

    A preview or a dry run is a POST that changes nothing, but it may render customer data and
    call providers' checks: it needs an editor like any POST, which keeps the rule one line.
    """
    if method in _SAFE_METHODS:
        return "viewer"
    if any(api_path == p or api_path.startswith(p + "/") for p in ADMIN_PATHS):
        return "admin"
    return "editor"


async def provide_session_caller(request: Request[Any, Any, Any]) -> Caller:
    """Dependency: the signed-in user as the API's caller, once the token and role are checked."""
    await check_csrf(request)
    user = await anyio.to_thread.run_sync(signed_in_user, request)
    needed = needed_role(request.method, request.url.path.removeprefix(GATEWAY_PREFIX))
    if not user.can(needed):
        raise ForbiddenError(f"this needs the {needed} role; you are a {user.role}")
    return Caller(
        project_id=user.project_id,
        project_name=user.project_name,
        default_region=user.default_region,
        actor=user.email,
    )


def _unauthorized(request: Request[Any, Any, Any], _error: Exception) -> Response[Any]:
    return problem(request, 401, "sign in again: the session ended")


def _forbidden(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    return problem(request, 403, str(error))


def ui_api_gateway(settings: Settings, controllers: Sequence[ControllerRouterHandler]) -> Router:
    """The ``controllers`` of the public API again under ``/ui``, for the session's user."""
    return Router(
        path=GATEWAY_PREFIX,
        route_handlers=list(controllers),
        middleware=[session_middleware(settings)],
        dependencies={"caller": Provide(provide_session_caller)},
        exception_handlers={
            SignInRequiredError: _unauthorized,
            ForbiddenError: _forbidden,
            CsrfError: _forbidden,
        },
        response_headers=[ResponseHeader(name="Cache-Control", value="no-store")],
        include_in_schema=False,
    )
