"""Campaigns with their code pools, and customers: the page shells.

Everything on these pages is read and changed through ``/ui/v1`` (the public API) by
``campaigns.js`` and ``customers.js``; the handlers only render the layout, the id the page is
about, and whether the user may change things (viewers get no forms; the API refuses them too).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template

from web.ui.pages import page
from web.ui.session import UiUser

__all__ = ["CatalogPagesController"]


class CatalogPagesController(Controller):
    """``/campaigns``, ``/campaigns/{id}``, ``/customers`` and ``/customers/{id}``."""

    path = "/"

    @get("/campaigns", sync_to_thread=False)
    def campaigns(self, request: Request[Any, Any, Any], user: NamedDependency[UiUser]) -> Template:
        """Campaigns with their pools and available codes; editors create them here."""
        return page(
            request, "campaigns.html", user, section="campaigns", can_edit=user.can("editor")
        )

    @get("/campaigns/{campaign_id:str}", sync_to_thread=False)
    def campaign(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        campaign_id: FromPath[str],
    ) -> Template:
        """One campaign: its pools' stock, threshold, import and generation."""
        return page(
            request,
            "campaign.html",
            user,
            section="campaigns",
            campaign_id=campaign_id,
            can_edit=user.can("editor"),
        )

    @get("/customers", sync_to_thread=False)
    def customers(self, request: Request[Any, Any, Any], user: NamedDependency[UiUser]) -> Template:
        """Customers: search with paging, create, import and export."""
        return page(
            request, "customers.html", user, section="customers", can_edit=user.can("editor")
        )

    @get("/customers/{customer_id:str}", sync_to_thread=False)
    def customer(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        customer_id: FromPath[str],
    ) -> Template:
        """A customer's profile: fields, consents, codes and messages; edit and erase."""
        return page(
            request,
            "customer.html",
            user,
            section="customers",
            customer_id=customer_id,
            can_edit=user.can("editor"),
        )
