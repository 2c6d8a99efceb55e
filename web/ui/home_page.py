"""Home (``/``): what needs attention today, and for a new project what to set up first.

Messages sent and failed in the last 24 h by channel, providers that failed messages in that
time (or are disabled), pools below their low-stock threshold, bulk sends in progress or
scheduled; each with a link to where it is dealt with.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.response import Template
from sqlalchemy import func
from sqlmodel import Session, col, select

from distribution.bulk.jobs import FINAL
from distribution.codes.campaigns import list_campaigns
from distribution.codes.code_pools import pool_stats
from distribution.events.distributions import list_distributions
from distribution.models import BulkJob, CodePool, Delivery, MessageTemplate, utcnow
from distribution.provider_configs.store import list_providers
from distribution.storage.db import Database
from web.ui.feeds_views import campaign_names, job_json
from web.ui.pages import page
from web.ui.session import UiUser

__all__ = ["HomeController"]

#: How far back "today" looks.
WINDOW = timedelta(hours=24)
#: Delivery statuses grouped as the home page counts them.
_GROUPS = {
    "sent": ("sent", "delivered"),
    "failed": ("failed", "bounced", "unknown"),
    "waiting": ("queued", "sending", "paused"),
    "skipped": ("suppressed", "cancelled"),
}


def _group(status: str) -> str:
    return next((name for name, members in _GROUPS.items() if status in members), "skipped")


def _by_channel(session: Session, project_id: str, since: Any) -> list[dict[str, Any]]:
    rows = session.exec(
        select(Delivery.channel, Delivery.status, func.count())
        .where(Delivery.project_id == project_id, col(Delivery.created_at) >= since)
        .group_by(col(Delivery.channel), col(Delivery.status))
    ).all()
    channels: dict[str, dict[str, int]] = {}
    for channel, status, count in rows:
        counts = channels.setdefault(str(channel), dict.fromkeys(_GROUPS, 0))
        counts[_group(str(status))] += int(count)
    return [{"channel": name, **counts} for name, counts in sorted(channels.items())]


def _failing_providers(session: Session, project_id: str, since: Any) -> list[dict[str, Any]]:
    failed = dict(
        session.exec(
            select(Delivery.provider, func.count())
            .where(
                Delivery.project_id == project_id,
                col(Delivery.created_at) >= since,
                col(Delivery.status).in_(_GROUPS["failed"]),
            )
            .group_by(col(Delivery.provider))
        ).all()
    )
    rows = []
    for name, count in sorted(failed.items()):
        last_error = session.exec(
            select(Delivery.last_error)
            .where(
                Delivery.project_id == project_id,
                Delivery.provider == name,
                col(Delivery.status).in_(_GROUPS["failed"]),
                col(Delivery.created_at) >= since,
            )
            .order_by(col(Delivery.updated_at).desc())
            .limit(1)
        ).first()
        rows.append({"name": str(name), "failed": int(count), "reason": last_error})
    disabled = [
        {"name": p.name, "failed": int(failed.get(p.name, 0)), "reason": None, "disabled": True}
        for p in list_providers(session, project_id)
        if p.disabled_at is not None and p.name not in failed
    ]
    return rows + disabled


def _low_pools(session: Session, project_id: str) -> list[dict[str, Any]]:
    pools = session.exec(
        select(CodePool).where(
            CodePool.project_id == project_id, col(CodePool.low_stock_threshold).is_not(None)
        )
    ).all()
    low: list[dict[str, Any]] = []
    for pool in pools:
        available = pool_stats(session, pool.id).available
        if available < (pool.low_stock_threshold or 0):
            low.append({"pool": pool, "available": available})
    names = campaign_names(session, project_id, {row["pool"].campaign_id for row in low})
    return [{**row, "campaign": names.get(row["pool"].campaign_id, "")} for row in low]


def _active_jobs(session: Session, project_id: str) -> list[dict[str, Any]]:
    jobs = session.exec(
        select(BulkJob)
        .where(BulkJob.project_id == project_id, col(BulkJob.status).not_in(FINAL))
        .order_by(col(BulkJob.id).desc())
        .limit(20)
    ).all()
    shown = [job_json(session, job) for job in jobs]
    names = campaign_names(session, project_id, {j["campaign_id"] for j in shown})
    return [{**j, "campaign": names.get(j["campaign_id"] or "", "Bulk send")} for j in shown]


def _setup(session: Session, project_id: str, can_act: bool) -> list[dict[str, Any]]:
    # The built-in capture provider records messages without sending them: a real project
    # needs one of its own first.
    has_template = (
        session.exec(
            select(MessageTemplate.id).where(MessageTemplate.project_id == project_id).limit(1)
        ).first()
        is not None
    )
    sent_anything = bool(list_distributions(session, project_id)) or (
        session.exec(select(BulkJob.id).where(BulkJob.project_id == project_id).limit(1)).first()
        is not None
    )
    return [
        {
            "done": bool(list_providers(session, project_id)),
            "text": "Connect an email or SMS provider",
            "links": [("/providers", "Providers")],
        },
        {
            "done": bool(list_campaigns(session, project_id)),
            "text": "Create a campaign and a pool of codes",
            "links": [("/campaigns", "Campaigns")],
        },
        {
            "done": has_template,
            "text": "Write and publish a template",
            "links": [("/templates", "Templates")],
        },
        {
            "done": sent_anything,
            "text": "Send: a distribution that follows events, or a bulk invite",
            "links": [("/distributions", "Distributions")]
            + (
                [("/bulk-sends/new", "New bulk invite")]
                if can_act
                else [("/bulk-sends", "Bulk sends")]
            ),
        },
    ]


class HomeController(Controller):
    """Read by every signed-in user."""

    path = "/"

    @get("/", sync_to_thread=True)
    def home(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
    ) -> Template:
        """Today's counts and what needs attention; the first steps while any is left."""
        since = utcnow() - WINDOW
        with db.reader() as tx:
            context: dict[str, Any] = {
                "channels": _by_channel(tx, user.project_id, since),
                "providers": _failing_providers(tx, user.project_id, since),
                "low_pools": _low_pools(tx, user.project_id),
                "jobs": _active_jobs(tx, user.project_id),
                "setup": _setup(tx, user.project_id, user.can("editor")),
            }
        return page(
            request,
            "home.html",
            user,
            section="home",
            can_act=user.can("editor"),
            **context,
        )
