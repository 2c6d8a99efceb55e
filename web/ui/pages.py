"""``page``: how every server-rendered page of the UI is rendered."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from litestar.response import Template

from web.ui.session import UiUser, csrf_token

__all__ = ["page"]


def page(
    request: Request[Any, Any, Any],
    name: str,
    user: NamedDependency[UiUser] | None,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """A page with what the layout needs: the user, the CSRF token, the current section."""
    return Template(
        template_name=name,
        context={"user": user, "csrf": csrf_token(request), **context},
        status_code=status_code,
    )
