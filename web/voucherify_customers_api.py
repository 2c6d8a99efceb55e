"""The rest of Voucherify's customers API, as its official SDK calls it.

``/v1/customers`` itself (create, get, update, list, delete) is in :mod:`web.customers_api`
(one controller a path: Litestar answers OPTIONS per path). Here: permanent deletion, a
customer's segments, the async bulk and metadata updates, the CSV import as an async action,
and the two operations this service keeps no data for (activity, redeemables), which answer a
501 saying so. Mapping and reasons: docs/voucherify-api.md.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any

import anyio
import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, FromPath, JSONBody

from distribution.customers.async_actions import (
    IMPORT_CSV,
    enqueue_bulk_update,
    enqueue_metadata_update,
    record_done,
)
from distribution.customers.segments import segments_of
from distribution.customers.store import erase_customer, get_customer
from distribution.errors import FieldError, InvalidInputError
from distribution.models import utcnow
from distribution.storage.db import Database
from distribution.storage.ids import new_id
from web.auth import SECURITY, Caller
from web.customers_api import import_file
from web.stored_times import utc

__all__ = ["VoucherifyCustomerController"]

#: A multipart body is parsed in memory; larger files go to ``POST /v1/customers/import``.
IMPORT_CSV_MAX_BYTES = 32 * 1024 * 1024
#: Operations answering 501 document it (a problem document, as every error).
NOT_SUPPORTED = {501: ResponseSpec(None, description="Not implemented")}


class AsyncActionId(msgspec.Struct):
    """Voucherify's answer to an async request: poll ``GET /v1/async-actions/{id}``."""

    async_action_id: str


class MetadataUpdateIn(msgspec.Struct, forbid_unknown_fields=True):
    """Set (or, with ``null``, remove) metadata keys of the customers with these source ids."""

    source_ids: list[str]
    metadata: dict[str, Any]


class DeletionCounts(msgspec.Struct):
    """Voucherify's counts of what a permanent deletion removed."""

    events: int = 0
    customer_events: int = 0
    daily_events: int = 0
    segments: int = 0
    orders: int = 0
    order_events: int = 0
    customer: int = 1


class PermanentDeletionOut(msgspec.Struct):
    """Voucherify's permanent-deletion object (its spelling of ``object`` included)."""

    id: str
    created_at: datetime
    related_object_id: str
    data_json: DeletionCounts
    related_object: str = "customer"
    status: str = "DONE"
    object: str = "pernament_deletion"


class SegmentRef(msgspec.Struct):
    id: str
    name: str
    object: str = "segment"


class CustomerSegmentsOut(msgspec.Struct):
    """The segments a customer is in now (membership is computed from each filter)."""

    data: list[SegmentRef]
    total: int
    object: str = "list"
    data_ref: str = "data"


def _not_kept(what: str) -> HTTPException:
    return HTTPException(
        status_code=501,
        detail=(
            f"This service keeps no {what}: it stores customers, segments and the messages sent "
            "to them, not Voucherify's redemptions, vouchers or activity. Ask Voucherify itself."
        ),
    )


class VoucherifyCustomerController(Controller):
    """Voucherify's customer operations beyond create, get, list and delete."""

    path = "/v1/customers"
    tags = ["customers"]
    security = SECURITY

    @post(
        "/{customer_id:str}/permanent-deletion",
        status_code=200,
        sync_to_thread=True,
        summary="Erase a customer's personal data (Voucherify's permanent deletion)",
        description=(
            "The same erasure as `DELETE /v1/customers/{id}`: personal data is removed at once "
            "and the id stays as a tombstone in the message log."
        ),
    )
    def permanent_deletion(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        customer_id: FromPath[str],
    ) -> PermanentDeletionOut:
        with db.session() as session:
            erased = erase_customer(session, caller.project_id, customer_id)
        return PermanentDeletionOut(
            id=new_id("del"),
            created_at=utc(utcnow()),
            related_object_id=erased,
            data_json=DeletionCounts(),
        )

    @get("/{customer_id:str}/segments", sync_to_thread=True, summary="A customer's segments")
    def segments(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        customer_id: FromPath[str],
    ) -> CustomerSegmentsOut:
        with db.reader() as session:
            customer = get_customer(session, caller.project_id, customer_id)
            found = segments_of(session, caller.project_id, customer)
        return CustomerSegmentsOut(
            data=[SegmentRef(id=s.id, name=s.name) for s in found], total=len(found)
        )

    @get(
        "/{customer_id:str}/activity",
        summary="Not supported: a customer's Voucherify activity (501)",
        sync_to_thread=False,
        responses=NOT_SUPPORTED,
    )
    def activity(self, customer_id: FromPath[str]) -> None:
        raise _not_kept("customer activity (Voucherify's event history)")

    @get(
        "/{customer_id:str}/redeemables",
        summary="Not supported: a customer's Voucherify redeemables (501)",
        sync_to_thread=False,
        responses=NOT_SUPPORTED,
    )
    def redeemables(self, customer_id: FromPath[str]) -> None:
        raise _not_kept("redeemables (vouchers, gift cards, loyalty cards)")

    @post(
        "/bulk/async",
        status_code=202,
        sync_to_thread=True,
        summary="Create or update customers by source_id, asynchronously",
        description=(
            "Up to 1,000 customer objects, each with a `source_id`. Answers an "
            "`async_action_id`; `GET /v1/async-actions/{id}` reports every row as updated "
            "(or created) or failed with its field errors."
        ),
    )
    def bulk_async(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        data: JSONBody[list[dict[str, Any]]],
    ) -> AsyncActionId:
        with db.session() as session:
            action = enqueue_bulk_update(session, caller.project_id, data)
        request.app.state.async_actions.wake()
        return AsyncActionId(async_action_id=action.id)

    @post(
        "/metadata/async",
        status_code=202,
        sync_to_thread=True,
        summary="Update the metadata of customers by source_id, asynchronously",
        description=(
            "Merges `metadata` into each customer's (a key set to `null` is removed). The "
            "metadata is checked now; a source_id with no customer is reported in the result."
        ),
    )
    def metadata_async(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        data: JSONBody[MetadataUpdateIn],
    ) -> AsyncActionId:
        with db.session() as session:
            action = enqueue_metadata_update(
                session, caller.project_id, data.source_ids, data.metadata
            )
        request.app.state.async_actions.wake()
        return AsyncActionId(async_action_id=action.id)

    @post(
        "/importCSV",
        status_code=202,
        request_max_body_size=IMPORT_CSV_MAX_BYTES,
        summary="Import customers from a CSV file (multipart `file`), as an async action",
        description=(
            "Voucherify's form of `POST /v1/customers/import`: the same columns and rules, at "
            "most 32 MB. The import is done when the answer comes; its async action holds the "
            "counts and every refused row."
        ),
    )
    async def import_csv(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> AsyncActionId:
        upload = data.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInputError([FieldError("file", "must be a CSV file part named file")])
        started = time.monotonic()

        def run() -> str:
            report = import_file(request, db, caller, upload.file, is_json=False)
            result = {
                "message": f"{report.created + report.updated} imported, {report.failed} failed",
                "total_rows": report.total_rows,
                "created": report.created,
                "updated": report.updated,
                "failed_count": report.failed,
                "failed": [
                    {"row": e.row, "field": e.field, "reason": e.reason} for e in report.errors
                ],
            }
            with db.session() as session:
                return record_done(session, caller.project_id, IMPORT_CSV, result, started).id

        return AsyncActionId(async_action_id=await anyio.to_thread.run_sync(run))
