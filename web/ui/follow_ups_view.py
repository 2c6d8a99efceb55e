"""The follow-ups section of a distribution's page: one page of its follow-ups, as plain dicts.

The rows come from ``list_follow_ups``, the function behind ``GET /v1/distributions/{id}/
follow-ups``, so the page filters and pages (by cursor) exactly as the API does; this adds
only what a person reads instead of ids: the customer's name.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlmodel import Session, col, select

from distribution.events.follow_ups import FOLLOW_UP_STATUSES, list_follow_ups
from distribution.models import Customer, Distribution
from web.ui.feeds_views import iso

__all__ = ["FOLLOW_UPS_SHOWN", "follow_ups_section"]

#: Follow-ups on one page of the section.
FOLLOW_UPS_SHOWN = 25


def _customer_labels(session: Session, project_id: str, ids: Collection[str]) -> dict[str, str]:
    """How each of these customers is shown (one query): name, else email, phone, source id."""
    if not ids:
        return {}
    rows = session.exec(
        select(Customer).where(Customer.project_id == project_id, col(Customer.id).in_(ids))
    )
    return {
        c.id: "(erased)"
        if c.erased_at is not None
        else c.name or c.email or c.phone or c.source_id or c.id
        for c in rows
    }


def follow_ups_section(
    session: Session, distribution: Distribution, status: str, after: str | None
) -> dict[str, Any] | None:
    """One page of the distribution's follow-ups, newest first, with ``status`` (``""`` for all;
    an unknown one reads as all) and the cursor of the next page.

    None when there is nothing to show: the distribution has no wait and no follow-up left
    from one (a cleared wait leaves its follow-ups, which still settle and are listed).
    """
    status = status if status in FOLLOW_UP_STATUSES else ""
    page = list_follow_ups(
        session,
        distribution.project_id,
        distribution.id,
        limit=FOLLOW_UPS_SHOWN,
        starting_after=after or None,
        status=status or None,
    )
    rows = page.rows
    if not (distribution.delay_seconds or rows or status or after):
        return None
    names = _customer_labels(
        session, distribution.project_id, {f.customer_id for f in rows if f.customer_id}
    )
    return {
        "status": status,
        "after": after or None,
        "next_cursor": page.next_cursor,
        "rows": [
            {
                "id": f.id,
                "status": f.status,
                "reason": f.reason,
                "due_at": iso(f.due_at),
                "done_at": iso(f.done_at),
                "customer_id": f.customer_id,
                "customer": names.get(f.customer_id or "", f.customer_id),
            }
            for f in rows
        ],
    }
