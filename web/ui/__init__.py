"""The editor: server-rendered pages, their session-authenticated JSON endpoints, static files.

``ui_routes(settings)`` gives the routers to mount and ``UI_TEMPLATES`` the template config; the
composition root adds both to the app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Response, Router
from litestar.datastructures import ResponseHeader
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotFoundException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ControllerRouterHandler

from distribution.errors import DistributionError, NotFoundError
from web.problems import EXCEPTION_HANDLERS, problem
from web.settings import Settings
from web.ui.admin_pages import AdminPagesController
from web.ui.api import UiApiController
from web.ui.bulk_pages import BulkPagesController
from web.ui.catalog_pages import CatalogPagesController
from web.ui.distribution_form_pages import DistributionFormPagesController
from web.ui.feeds_api import FeedsApiController
from web.ui.feeds_pages import FeedsPagesController
from web.ui.home_page import HomeController
from web.ui.segments_pages import SegmentPagesController
from web.ui.session import (
    CsrfError,
    ForbiddenError,
    SignInRequiredError,
    check_csrf,
    csrf_token,
    known_user,
    provide_ui_user,
    session_middleware,
)
from web.ui.sign_in_pages import SignInPagesController
from web.ui.templates_pages import TemplatePagesController
from web.ui.users_pages import UsersPagesController

__all__ = ["CONTENT_SECURITY_POLICY", "UI_TEMPLATES", "page_not_found", "ui_routes"]

_HERE = Path(__file__).parent
UI_TEMPLATES = TemplateConfig(directory=_HERE / "templates", engine=JinjaTemplateEngine)

#: Scripts only from our own files (no inline script, no eval). The preview iframe's srcdoc
#: inherits this policy, which is why styles may be inline (emails are all inline styles) and
#: images may come from anywhere (emails link their images).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https: http:; font-src 'self' data:; connect-src 'self'; "
    "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _is_api(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/ui/api/")


def _error_page(request: Request[Any, Any, Any], status: int, message: str) -> Response[Any]:
    if _is_api(request):
        return problem(request, status, message)
    # The frame (nav, account) when the request had found its user; a bare page otherwise.
    user = known_user(request)
    context = {"status": status, "message": message, "user": user}
    if user is not None:
        context["csrf"] = csrf_token(request)
    return Template(
        template_name="error.html",
        context=context,
        status_code=status,
        headers=_PAGE_HEADERS,
    )


def _sign_in(request: Request[Any, Any, Any], _error: Exception) -> Response[Any]:
    if _is_api(request):
        return problem(request, 401, "sign in first")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(path="/login", query_params={"next": target}, status_code=303)


def _forbidden(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    return _error_page(request, 403, str(error))


def _distribution_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    if _is_api(request):
        return EXCEPTION_HANDLERS[DistributionError](request, error)
    if isinstance(error, NotFoundError):
        return _error_page(request, 404, str(error))
    return _error_page(request, 400, str(error))


def _http_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    if _is_api(request) or not isinstance(error, HTTPException):
        return EXCEPTION_HANDLERS[HTTPException](request, error)
    if isinstance(error, NotFoundException):
        return _error_page(request, 404, "There is no such page.")
    status = error.status_code
    return _error_page(request, status, error.detail if status < 500 else "Something went wrong.")


#: Paths whose answers are JSON whoever asks: the API, the UI's own endpoints, static files.
_NOT_PAGES = ("/v1/", "/ui/")


def page_not_found(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """App-wide 404: a browser opening an unknown page gets the error page, anyone else (and
    every API path) the problem document."""
    path = request.url.path
    browsing = request.method in ("GET", "HEAD") and "text/html" in request.headers.get(
        "accept", ""
    )
    if browsing and not path.startswith(_NOT_PAGES) and path not in ("/v1", "/ui"):
        return _error_page(request, 404, "There is no such page.")
    return EXCEPTION_HANDLERS[HTTPException](request, error)


def ui_routes(settings: Settings) -> list[ControllerRouterHandler]:
    """The editor's routers: pages and UI API behind the session, and the static files.

    A session is checked against the app state's ``database`` and ``sign_ins``.
    """
    pages = Router(
        path="/",
        route_handlers=[
            TemplatePagesController,
            UiApiController,
            FeedsPagesController,
            FeedsApiController,
            CatalogPagesController,
            SegmentPagesController,
            DistributionFormPagesController,
            AdminPagesController,
            BulkPagesController,
            HomeController,
            SignInPagesController,
            UsersPagesController,
        ],
        middleware=[session_middleware(settings)],
        dependencies={
            "user": Provide(provide_ui_user, sync_to_thread=True),
        },
        before_request=check_csrf,
        exception_handlers={
            SignInRequiredError: _sign_in,
            ForbiddenError: _forbidden,
            CsrfError: _forbidden,
            DistributionError: _distribution_error,
            HTTPException: _http_error,
        },
        response_headers=[ResponseHeader(name=k, value=v) for k, v in _PAGE_HEADERS.items()],
        include_in_schema=False,
    )
    static = create_static_files_router(
        path="/ui/static", directories=[_HERE / "static"], include_in_schema=False
    )
    return [pages, static]
