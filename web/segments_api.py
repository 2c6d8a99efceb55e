"""``/v1/segments``: named filters over customers, with live member counts and listings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath, FromQuery, QueryParameter

from distribution.customers.segment_filter import filter_clause, parse_filter
from distribution.customers.segments import (
    FIELD_SAMPLE,
    count_matching,
    count_members,
    create_segment,
    delete_segment,
    get_segment,
    list_segments,
    member_condition,
    metadata_keys,
    schema_fields,
    update_segment,
)
from distribution.customers.store import list_customers
from distribution.models import Segment
from distribution.storage.db import Database
from web.auth import SECURITY, Caller
from web.customers_api import CustomerList, CustomerOut, customer_out
from web.stored_times import utc

__all__ = ["SegmentController"]

FILTER_EXAMPLE = {
    "and": [
        {"field": "metadata.tier", "op": "in", "value": ["gold", "silver"]},
        {"field": "address.country", "op": "eq", "value": "GB"},
        {"not": {"field": "email", "op": "exists", "value": False}},
    ]
}


class SegmentIn(msgspec.Struct, forbid_unknown_fields=True):
    """A segment: a name and a filter (see docs/segments.md for the language)."""

    name: str
    filter: dict[str, Any]


class SegmentPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: str | None = None
    filter: dict[str, Any] | None = None


class SegmentOut(msgspec.Struct):
    """A segment; ``customers_count`` is computed when asked for one segment."""

    id: str
    name: str
    filter: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    customers_count: int | None = None
    object: str = "segment"


class PreviewIn(msgspec.Struct, forbid_unknown_fields=True):
    """An unsaved filter, and how many of its members to show."""

    filter: dict[str, Any]
    limit: Annotated[int, msgspec.Meta(ge=0, le=100)] = 10


class PreviewOut(msgspec.Struct):
    """How many customers a filter selects now, and the first of them (oldest first)."""

    customers_count: int
    customers: list[CustomerOut]
    object: str = "segment_preview"


class FieldOut(msgspec.Struct, omit_defaults=True):
    """A field a filter can name: a customer column (``type`` ``text`` or ``datetime``) or a
    metadata key in use (``types`` seen, most common first, and how many ``customers`` hold it)."""

    field: str
    type: str
    types: list[str] = msgspec.field(default_factory=list)
    customers: int | None = None


class FieldsOut(msgspec.Struct):
    fields: list[FieldOut]
    #: How many of the newest customers were looked at for metadata keys.
    sampled_customers: int
    object: str = "segment_fields"


def _out(segment: Segment, count: int | None = None) -> SegmentOut:
    return SegmentOut(
        id=segment.id,
        name=segment.name,
        filter=segment.filter,
        created_at=utc(segment.created_at),
        updated_at=utc(segment.updated_at),
        customers_count=count,
    )


class SegmentController(Controller):
    """Segments of the caller's project."""

    path = "/v1/segments"
    tags = ["segments"]
    security = SECURITY

    @post("/", sync_to_thread=True, summary="Create a segment")
    def create(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        data: Annotated[
            SegmentIn,
            Body(
                examples=[
                    Example(
                        summary="Gold and silver customers in the UK with an email",
                        value={"name": "UK VIPs", "filter": FILTER_EXAMPLE},
                    )
                ]
            ),
        ],
    ) -> SegmentOut:
        with db.session() as session:
            segment = create_segment(session, caller.project_id, data.name, data.filter)
            return _out(segment, count_members(session, caller.project_id, segment))

    @post(
        "/preview",
        sync_to_thread=True,
        status_code=200,
        summary="Count and sample the customers an unsaved filter selects",
    )
    def preview(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        data: Annotated[
            PreviewIn,
            Body(examples=[Example(summary="UK VIPs", value={"filter": FILTER_EXAMPLE})]),
        ],
    ) -> PreviewOut:
        tree = parse_filter(data.filter)
        with db.reader() as session:
            count = count_matching(session, caller.project_id, tree)
            page = list_customers(
                session,
                caller.project_id,
                limit=max(data.limit, 1),
                extra_condition=filter_clause(tree, session.get_bind().dialect.name),
            )
        shown = page.customers[: data.limit]
        return PreviewOut(customers_count=count, customers=[customer_out(c) for c in shown])

    @get("/fields", sync_to_thread=True, summary="Fields a filter can name")
    def fields(self, db: NamedDependency[Database], caller: NamedDependency[Caller]) -> FieldsOut:
        with db.reader() as session:
            keys = metadata_keys(session, caller.project_id)
        columns = [FieldOut(field=f["field"], type=f["type"]) for f in schema_fields()]
        used = [
            FieldOut(field=k["field"], type="metadata", types=k["types"], customers=k["customers"])
            for k in keys
        ]
        return FieldsOut(fields=columns + used, sampled_customers=FIELD_SAMPLE)

    @get("/", sync_to_thread=True, summary="List segments")
    def list(
        self, db: NamedDependency[Database], caller: NamedDependency[Caller]
    ) -> list[SegmentOut]:
        with db.reader() as session:
            return [_out(s) for s in list_segments(session, caller.project_id)]

    @get("/{segment_id:str}", sync_to_thread=True, summary="A segment with its member count")
    def retrieve(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        segment_id: FromPath[str],
    ) -> SegmentOut:
        with db.reader() as session:
            segment = get_segment(session, caller.project_id, segment_id)
            return _out(segment, count_members(session, caller.project_id, segment))

    @patch("/{segment_id:str}", sync_to_thread=True, summary="Rename or change the filter")
    def update(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        segment_id: FromPath[str],
        data: Annotated[SegmentPatch, Body()],
    ) -> SegmentOut:
        with db.session() as session:
            segment = update_segment(
                session, caller.project_id, segment_id, name=data.name, raw_filter=data.filter
            )
            return _out(segment, count_members(session, caller.project_id, segment))

    @delete("/{segment_id:str}", sync_to_thread=True, status_code=204, summary="Delete")
    def remove(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        segment_id: FromPath[str],
    ) -> None:
        with db.session() as session:
            delete_segment(session, caller.project_id, segment_id)

    @get("/{segment_id:str}/customers", sync_to_thread=True, summary="The segment's customers")
    def members(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        segment_id: FromPath[str],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
        starting_after: FromQuery[str | None] = None,
    ) -> CustomerList:
        with db.reader() as session:
            segment = get_segment(session, caller.project_id, segment_id)
            page = list_customers(
                session,
                caller.project_id,
                limit=limit,
                starting_after=starting_after,
                extra_condition=member_condition(segment, session.get_bind().dialect.name),
            )
        return CustomerList(
            customers=[customer_out(c) for c in page.customers],
            has_more=page.has_more,
            next_cursor=page.next_cursor,
        )
