"""Pages that follow sending: the live delivery feed, distributions and bulk sends.

The feed and a bulk send's progress update in the browser (``feeds.js`` polls the UI API);
these handlers render the first state so the pages read well before the first poll.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlmodel import Session

from distribution.bulk import get_job
from distribution.codes.campaigns import get_campaign
from distribution.customers.segments import get_segment
from distribution.errors import NotFoundError
from distribution.events.distributions import get_distribution, list_distributions
from distribution.events.redemptions import attributed_messages, list_redemptions
from distribution.models import Distribution
from distribution.outbox.messages import DELIVERY_STATUSES, labels_for, list_bulk_jobs
from distribution.storage.db import Database
from web.ui.feeds_views import (
    CHANNELS,
    WINDOWS,
    campaign_names,
    conversion_text,
    distribution_counts,
    iso,
    job_json,
    parse_window,
)
from web.ui.follow_ups_view import follow_ups_section
from web.ui.pages import page
from web.ui.session import UiUser

__all__ = ["FeedsPagesController"]

# The redemptions page's filter: all, credited to a message, or credited to none.
_SHOWN: dict[str, bool | None] = {"all": None, "attributed": True, "unattributed": False}


def _template_names(
    tx: Session, project_id: str, distributions: list[Distribution]
) -> dict[str, str]:
    ids = {str(c["template"]) for d in distributions for c in d.channels if c.get("template")}
    return labels_for(tx, project_id, template_ids=ids).templates


def _filter_names(tx: Session, project_id: str, filters: dict[str, Any]) -> dict[str, str]:
    """The names of the campaign and segment a distribution's filters name (the id when gone)."""
    names: dict[str, str] = {}
    for key in ("campaign_id", "segment_id"):
        wanted = filters.get(key)
        if not wanted:
            continue
        try:
            found = (get_campaign if key == "campaign_id" else get_segment)(
                tx, project_id, str(wanted)
            )
            names[key] = found.name
        except NotFoundError:
            names[key] = f"{wanted} (deleted)"
    return names


class FeedsPagesController(Controller):
    """Read by every signed-in user; the bulk-send buttons show for editors and admins."""

    path = "/"

    @get("/deliveries", sync_to_thread=False)
    def deliveries(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        status: FromQuery[str] = "",
        channel: FromQuery[str] = "",
        distribution: FromQuery[str] = "",
        bulk_job: FromQuery[str] = "",
        test: FromQuery[str] = "",
    ) -> Template:
        """The live feed; ``feeds.js`` fills and follows it."""
        return page(
            request,
            "deliveries.html",
            user,
            section="deliveries",
            statuses=DELIVERY_STATUSES,
            channels=CHANNELS,
            status=status if status in DELIVERY_STATUSES else "",
            channel=channel if channel in CHANNELS else "",
            distribution=distribution,
            bulk_job=bulk_job,
            test=test if test in ("true", "false") else "",
        )

    @get("/distributions", sync_to_thread=True)
    def distributions(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        window: FromQuery[str] = "24h",
    ) -> Template:
        """Every distribution with its state and its counts by status over the window."""
        parse_window(window)
        with db.reader() as tx:
            found = list_distributions(tx, user.project_id)
            rows = [{"d": d, "counts": distribution_counts(tx, d, window)} for d in found]
            templates = _template_names(tx, user.project_id, found)
        return page(
            request,
            "distributions.html",
            user,
            section="distributions",
            rows=rows,
            templates=templates,
            can_edit=user.can("editor"),
            window=window,
            windows=WINDOWS,
            statuses=DELIVERY_STATUSES,
        )

    @get("/distributions/{distribution_id:str}", sync_to_thread=True)
    def distribution(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        distribution_id: FromPath[str],
        window: FromQuery[str] = "24h",
        follow_ups: FromQuery[str] = "",
        follow_ups_after: FromQuery[str | None] = None,
    ) -> Template:
        """One distribution: its rule, its follow-ups (a delayed one: ``follow_ups`` filters
        them by status, ``follow_ups_after`` is the cursor) and its counts by status, channel
        and day."""
        parse_window(window)
        with db.reader() as tx:
            found = get_distribution(tx, user.project_id, distribution_id)
            waits = follow_ups_section(tx, found, follow_ups, follow_ups_after)
            counts = distribution_counts(tx, found, window)
            templates = _template_names(tx, user.project_id, [found])
            filter_names = _filter_names(tx, user.project_id, found.filters or {})
        return page(
            request,
            "distribution.html",
            user,
            section="distributions",
            d=found,
            counts=counts,
            templates=templates,
            window=window,
            windows=WINDOWS,
            statuses=DELIVERY_STATUSES,
            updated_at=iso(found.updated_at),
            filter_names=filter_names,
            follow_ups=waits,
            can_edit=user.can("editor"),
        )

    @get("/redemptions", sync_to_thread=True)
    def redemptions(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        show: FromQuery[str] = "all",
        after: FromQuery[str | None] = None,
    ) -> Template:
        """Codes redeemed, newest first: the order, and the messages credited (or none)."""
        attributed = _SHOWN.get(show)
        with db.reader() as tx:
            found = list_redemptions(
                tx, user.project_id, limit=50, starting_after=after, attributed=attributed
            )
            rows = [
                {
                    "id": r.id,
                    "code": r.code,
                    "order_id": r.order_id,
                    "amount": conversion_text(r.amount, r.currency) or "—",
                    "redeemed_at": iso(r.redeemed_at),
                    "messages": attributed_messages(tx, r.id) if r.attributed else [],
                }
                for r in found.rows
            ]
        return page(
            request,
            "redemptions.html",
            user,
            section="deliveries",
            rows=rows,
            show=show if show in _SHOWN else "all",
            next_cursor=found.next_cursor,
        )

    @get("/bulk-sends", sync_to_thread=True)
    def bulk_sends(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
    ) -> Template:
        """The newest bulk sends with their outcome and their sent and failed counts."""
        with db.reader() as tx:
            jobs = [job_json(tx, job) for job in list_bulk_jobs(tx, user.project_id)]
            campaigns = campaign_names(tx, user.project_id, {j["campaign_id"] for j in jobs})
        return page(
            request,
            "bulk_sends.html",
            user,
            section="bulk-sends",
            jobs=jobs,
            campaigns=campaigns,
            can_act=user.can("editor"),
        )

    @get("/bulk-sends/{job_id:str}", sync_to_thread=True)
    def bulk_send(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        job_id: FromPath[str],
    ) -> Template:
        """One bulk send: progress, counts, rate and ETA, preflight, and its buttons."""
        with db.reader() as tx:
            job = job_json(tx, get_job(tx, user.project_id, job_id))
            names = campaign_names(tx, user.project_id, {job["campaign_id"]})
        return page(
            request,
            "bulk_send.html",
            user,
            section="bulk-sends",
            job=job,
            campaign=names.get(job["campaign_id"] or ""),
            can_act=user.can("editor"),
        )
