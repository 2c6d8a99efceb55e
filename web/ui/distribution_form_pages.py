"""The guided form that creates or edits a distribution (``/distributions/new``,
``/distributions/{id}/edit``).

The page renders the heading; ``distribution_form.js`` loads the triggers, campaigns, segments,
templates, providers and the rule itself from the public API (``/ui/v1``) and saves through it.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template

from distribution.events.distributions import get_distribution
from distribution.storage.db import Database
from web.ui.pages import page
from web.ui.session import UiUser

__all__ = ["DistributionFormPagesController"]


class DistributionFormPagesController(Controller):
    """Viewers may open the form (read-only: it has no save buttons); the API refuses changes."""

    path = "/distributions"

    @get("/new", sync_to_thread=False)
    def new_distribution(
        self, request: Request[Any, Any, Any], user: NamedDependency[UiUser]
    ) -> Template:
        """The form, empty."""
        return page(
            request,
            "distribution_form.html",
            user,
            section="distributions",
            d=None,
            can_edit=user.can("editor"),
        )

    @get("/{distribution_id:str}/edit", sync_to_thread=True)
    def edit_distribution(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        distribution_id: FromPath[str],
    ) -> Template:
        """The form of a saved distribution; its name is the heading."""
        with db.reader() as tx:
            found = get_distribution(tx, user.project_id, distribution_id)
        return page(
            request,
            "distribution_form.html",
            user,
            section="distributions",
            d=found,
            can_edit=user.can("editor"),
        )
