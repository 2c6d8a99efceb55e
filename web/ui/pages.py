"""Pages not yet in a module of their own (customers, segments, settings), and ``page``."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from distribution.customers.segments import count_members, list_segments
from distribution.customers.store import list_customers
from distribution.errors import DistributionError
from distribution.storage.db import Database
from web.ui.session import ADMINS_ONLY, UiUser, csrf_token

__all__ = ["PagesController"]


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


class PagesController(Controller):
    """HTML pages. Every page but sign-in needs a signed-in user."""

    path = "/"

    @get("/", sync_to_thread=False)
    def home(self, user: NamedDependency[UiUser]) -> Redirect:
        """The templates list is the start page."""
        return Redirect(path="/templates", status_code=303)

    @get("/customers", sync_to_thread=True)
    def customers(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        q: FromQuery[str] = "",
        after: FromQuery[str] = "",
    ) -> Template:
        """Customers, searchable by name, email or source id."""
        with db.reader() as tx:
            found = list_customers(
                tx, user.project_id, limit=50, starting_after=after or None, query=q or None
            )
        return page(
            request,
            "customers.html",
            user,
            section="customers",
            q=q,
            customers=found.customers,
            next_cursor=found.next_cursor,
        )

    @get("/segments", sync_to_thread=True)
    def segments(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
    ) -> Template:
        """Segments with their live member counts."""
        rows = []
        with db.reader() as tx:
            for segment in list_segments(tx, user.project_id):
                try:
                    members: int | None = count_members(tx, user.project_id, segment)
                except DistributionError:
                    members = None
                rows.append({"segment": segment, "members": members})
        return page(request, "segments.html", user, section="segments", segments=rows)

    @get("/settings", sync_to_thread=False, guards=[ADMINS_ONLY])
    def settings_page(
        self, request: Request[Any, Any, Any], user: NamedDependency[UiUser]
    ) -> Template:
        """Where providers and API keys are managed (admins)."""
        return page(request, "settings.html", user, section="settings")
