"""``OPTIONS`` answers name every method of their path in ``Allow``.

Litestar builds a path's automatic ``OPTIONS`` handler with the first handler registered for the
path; when handlers of the same path are added later (``GET /v1/templates`` after ``POST``), the
path's route knows every method but that handler still lists only the first ones, so clients and
the OpenAPI document disagreed. The route itself is the truth, so its methods are used.
"""

from __future__ import annotations

from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["allow_header_middleware"]


def _route_methods(scope: Scope) -> list[str] | None:
    template = scope.get("path_template")
    for route in scope["app"].routes:
        if isinstance(route, HTTPRoute) and route.path_format == template:
            return sorted(route.methods)
    return None


def allow_header_middleware(app: ASGIApp) -> ASGIApp:
    """Put the route's own methods in the ``Allow`` header of an ``OPTIONS`` answer."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        methods = _route_methods(scope) if scope.get("method") == "OPTIONS" else None
        if methods is None:
            await app(scope, receive, send)
            return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                headers.append((b"allow", ", ".join(methods).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_allow)

    return middleware
