"""``/v1/streams``: our events kept for a program to page through from a cursor (a BI job).

Create a stream of the event types it should keep, then ``GET /v1/streams/{id}/events`` with
the ``cursor`` of the previous page as ``after``: every event comes exactly once, in order
(see ``distribution.webhooks.streams`` for why none is missed). See docs/api.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath, QueryParameter

from distribution.models import EventStream
from distribution.storage.db import Database
from distribution.webhooks.streams import (
    MAX_PAGE,
    create_stream,
    delete_stream,
    list_streams,
    read_stream,
    sequence,
)
from distribution.webhooks.subscriptions import EVENT_TYPES
from web.auth import SECURITY, Caller
from web.stored_times import utc

__all__ = ["StreamController"]


class StreamIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new stream: its name and the event types it keeps (``*`` for all)."""

    name: str
    event_types: Annotated[list[str], msgspec.Meta(max_length=len(EVENT_TYPES) + 1)]


class StreamOut(msgspec.Struct):
    """A stream."""

    id: str
    name: str
    event_types: list[str]
    created_at: datetime
    object: str = "stream"


class StreamPageOut(msgspec.Struct):
    """Events after the cursor asked with, oldest first; ask again with ``cursor``."""

    events: list[dict[str, Any]]
    cursor: str | None
    has_more: bool
    object: str = "stream_page"


def _out(stream: EventStream) -> StreamOut:
    return StreamOut(stream.id, stream.name, stream.event_types, utc(stream.created_at))


class StreamController(Controller):
    """Event streams."""

    path = "/v1/streams"
    tags = ["webhooks"]
    security = SECURITY

    @post(
        sync_to_thread=True,
        summary="Create a stream that keeps our events of these types from now on",
    )
    def create(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        data: Annotated[
            StreamIn,
            Body(
                examples=[
                    Example(
                        summary="Everything, for the warehouse",
                        value={"name": "warehouse", "event_types": ["*"]},
                    )
                ]
            ),
        ],
    ) -> StreamOut:
        with db.session() as session:
            stream = create_stream(
                session, caller.project_id, data.name, data.event_types, known=EVENT_TYPES
            )
            return _out(stream)

    @get(sync_to_thread=True, summary="The project's streams")
    def index(
        self, db: NamedDependency[Database], caller: NamedDependency[Caller]
    ) -> list[StreamOut]:
        with db.reader() as session:
            return [_out(s) for s in list_streams(session, caller.project_id)]

    @delete("/{stream_id:str}", sync_to_thread=True, summary="Delete a stream and what it kept")
    def remove(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        stream_id: FromPath[str],
    ) -> None:
        with db.session() as session:
            delete_stream(session, caller.project_id, stream_id)

    @get("/{stream_id:str}/events", sync_to_thread=True, summary="The events after a cursor")
    def events(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        stream_id: FromPath[str],
        after: Annotated[
            str | None, QueryParameter(description="The cursor of the previous page")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 100,
    ) -> StreamPageOut:
        # Number what committed since the last read, in a transaction of its own, then read.
        with db.session() as session:
            sequence(session)
        with db.reader() as session:
            page = read_stream(session, caller.project_id, stream_id, after=after, limit=limit)
        return StreamPageOut(page.entries, page.cursor, page.has_more)
