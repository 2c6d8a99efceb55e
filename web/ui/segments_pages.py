"""Segments: the list, and the page of one segment with its visual filter builder.

The pages render what a heading needs; ``segments.js`` reads and changes segments through the
public API (``/ui/v1/segments``): the live count, the sample, save and delete.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template

from distribution.customers.segments import count_members, get_segment, list_segments
from distribution.errors import DistributionError
from distribution.storage.db import Database
from web.ui.feeds_views import iso
from web.ui.pages import page
from web.ui.session import UiUser

__all__ = ["SegmentPagesController"]


class SegmentPagesController(Controller):
    """Every signed-in user sees segments; editors and admins get the change buttons."""

    path = "/segments"

    @get("/", sync_to_thread=True)
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
                rows.append(
                    {"segment": segment, "members": members, "updated": iso(segment.updated_at)}
                )
        return page(
            request,
            "segments.html",
            user,
            section="segments",
            segments=rows,
            can_edit=user.can("editor"),
        )

    @get("/new", sync_to_thread=False)
    def new_segment(
        self, request: Request[Any, Any, Any], user: NamedDependency[UiUser]
    ) -> Template:
        """An empty builder (editors; viewers get the page read-only and the API refuses)."""
        return page(
            request,
            "segment.html",
            user,
            section="segments",
            segment=None,
            can_edit=user.can("editor"),
        )

    @get("/{segment_id:str}", sync_to_thread=True)
    def segment(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[UiUser],
        db: NamedDependency[Database],
        segment_id: FromPath[str],
    ) -> Template:
        """One segment: its name in the heading; the builder loads its filter from the API."""
        with db.reader() as tx:
            found = get_segment(tx, user.project_id, segment_id)
        return page(
            request,
            "segment.html",
            user,
            section="segments",
            segment=found,
            can_edit=user.can("editor"),
        )
