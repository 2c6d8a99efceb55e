"""Pages for providers and integrations, and Settings (API keys, webhooks, inbound secret).

The pages render a frame; ``providers.js``, ``provider.js`` and ``settings.js`` read and change
everything through ``/ui/v1`` (the public API behind the session), so the rules and errors are
the API's. Everyone signed in reads providers; only admins get the buttons (the gateway refuses
other roles' changes anyway). Settings is for admins.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template

from distribution.provider_configs.store import BUILT_IN_CAPTURE, get_provider
from distribution.storage.db import Database
from distribution.webhooks.subscriptions import EVENT_TYPES, WILDCARD
from web.ui.pages import page
from web.ui.session import ADMINS_ONLY, UiUser

__all__ = ["AdminPagesController"]


class AdminPagesController(Controller):
    """Providers (read by all, changed by admins) and Settings (admins)."""

    path = "/"

    @get("/providers", sync_to_thread=False)
    def providers(self, request: Request[Any, Any, Any], user: NamedDependency[UiUser]) -> Template:
        """Every provider of the project; ``providers.js`` fills the table."""
        return page(
            request,
            "providers.html",
            user,
            section="providers",
            can_change=user.can("admin"),
            built_in=BUILT_IN_CAPTURE,
        )

    @get("/providers/new", sync_to_thread=False, guards=[ADMINS_ONLY])
    def new_provider(
        self, request: Request[Any, Any, Any], user: NamedDependency[UiUser]
    ) -> Template:
        """The form for a new provider of any kind, generated from the kind's schema."""
        return page(
            request, "provider.html", user, section="providers", provider_name="", can_change=True
        )

    @get("/providers/{name:str}", sync_to_thread=True)
    def provider(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        name: FromPath[str],
    ) -> Template:
        """One provider: its settings (secrets only as set / not set), check, disable, delete."""
        with db.reader() as tx:
            found = get_provider(tx, user.project_id, name)  # an unknown name is the 404 page
        return page(
            request,
            "provider.html",
            user,
            section="providers",
            provider_name=found.name,
            can_change=user.can("admin"),
        )

    @get("/settings", sync_to_thread=False, guards=[ADMINS_ONLY])
    def settings_page(
        self, request: Request[Any, Any, Any], user: NamedDependency[UiUser]
    ) -> Template:
        """API keys, webhook subscriptions and the inbound signing secret (admins)."""
        return page(
            request,
            "settings.html",
            user,
            section="settings",
            event_types=EVENT_TYPES,
            wildcard=WILDCARD,
        )
