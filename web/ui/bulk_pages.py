"""The bulk invite wizard (``/bulk-sends/new``): campaign and pool, audience, channels, the
preflight as a checklist, when, and confirm.

The page lists what can be picked (campaigns with their pools and stock, segments, live
templates, providers and their channels); ``bulk_new.js`` runs the preflight and starts the
send through the API (``/ui/v1/bulk-sends``), so the browser does exactly what an API user does.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.response import Template
from sqlmodel import Session, col, select

from distribution.codes.campaigns import list_campaigns
from distribution.codes.code_pools import pool_stats
from distribution.customers.segments import list_segments
from distribution.models import CodePool
from distribution.provider_configs.store import BUILT_IN_CAPTURE, list_providers
from distribution.storage.db import Database
from distribution.template_store.store import MAX_PAGE, list_templates
from providers import PROVIDER_KINDS
from web.ui.pages import page
from web.ui.session import EDITORS_ONLY, UiUser

__all__ = ["BulkPagesController"]


def _pools(session: Session, project_id: str) -> list[dict[str, Any]]:
    pools = session.exec(
        select(CodePool)
        .where(CodePool.project_id == project_id)
        .order_by(col(CodePool.created_at), col(CodePool.id))
    )
    rows = []
    for pool in pools:
        available = pool_stats(session, pool.id).available
        rows.append(
            {"id": pool.id, "campaign": pool.campaign_id, "name": pool.name, "available": available}
        )
    return rows


def _providers(session: Session, project_id: str) -> list[dict[str, Any]]:
    rows = []
    for row in list_providers(session, project_id):
        spec = PROVIDER_KINDS.get(row.kind)
        if spec is None or row.disabled_at is not None or spec.role == "source":
            continue
        channels = ["profile"] if spec.role == "sync" else sorted(spec.channels)
        rows.append({"name": row.name, "kind": row.kind, "channels": channels})
    if not any(r["name"] == BUILT_IN_CAPTURE for r in rows):
        rows.append({"name": BUILT_IN_CAPTURE, "kind": "capture", "channels": ["email", "sms"]})
    return rows


class BulkPagesController(Controller):
    """Starting a bulk send changes data: editors and admins only."""

    path = "/bulk-sends"

    @get("/new", sync_to_thread=True, guards=[EDITORS_ONLY])
    def new_bulk_send(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
    ) -> Template:
        """The wizard, with everything it offers to pick."""
        with db.reader() as tx:
            campaigns = list_campaigns(tx, user.project_id)
            pools = _pools(tx, user.project_id)
            segments = list_segments(tx, user.project_id)
            live = list_templates(tx, user.project_id, status="live", limit=MAX_PAGE)
            templates = [summary.template for summary in live.templates]
            providers = _providers(tx, user.project_id)
        return page(
            request,
            "bulk_new.html",
            user,
            section="bulk-sends",
            campaigns=campaigns,
            pools=pools,
            segments=segments,
            templates=templates,
            providers=providers,
        )
