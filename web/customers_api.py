"""``/v1/customers``: Voucherify-compatible customer upsert, lookup, listing, import and export."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated, Any, Literal

import anyio
import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Stream

from distribution.customers.customer_files import (
    count_limit,
    export_csv,
    import_rows,
    read_csv_rows,
    read_json_rows,
)
from distribution.customers.customer_input import ADDRESS_FIELDS, CustomerIn
from distribution.customers.store import (
    erase_customer,
    get_customer,
    list_customers,
    upsert_customer,
    upsert_customers,
)
from distribution.errors import PayloadTooLargeError
from distribution.models import Customer
from distribution.storage.db import Database
from web.auth import SECURITY, Caller
from web.input_guard import STREAMS_BODY
from web.paging import PAGING, CursorList, PageQuery
from web.stored_times import naive, utc
from web.uploads import spooled_upload

__all__ = ["CustomerController", "CustomerOut", "customer_out"]

BATCH_LIMIT = 1_000
IMPORT_MAX_BYTES = 256 * 1024 * 1024

CUSTOMER_EXAMPLE = {
    "source_id": "shop-42",
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": "+1 415 555 2671",
    "address": {
        "city": "London",
        "state": None,
        "line_1": "12 St James's Square",
        "line_2": None,
        "country": "United Kingdom",
        "postal_code": "SW1Y 4JH",
    },
    "description": "Early adopter",
    "metadata": {"tier": "gold", "orders": 7},
    "locale": "en-GB",
    "timezone": "Europe/London",
}


class AddressOut(msgspec.Struct):
    """A postal address; ``country`` is an ISO 3166-1 alpha-2 code."""

    city: str | None
    state: str | None
    line_1: str | None
    line_2: str | None
    country: str | None
    postal_code: str | None


class CustomerOut(msgspec.Struct):
    """A stored customer, in Voucherify's shape."""

    id: str
    source_id: str | None
    name: str | None
    email: str | None
    phone: str | None
    address: AddressOut
    description: str | None
    metadata: dict[str, Any]
    locale: str | None
    timezone: str | None
    created_at: datetime
    updated_at: datetime
    object: str = "customer"


class CustomerList(CursorList):
    """A page of customers; pass ``next_cursor`` as ``starting_after`` for the next page."""

    customers: list[CustomerOut]
    data_ref: str = "customers"


class BatchIn(msgspec.Struct, forbid_unknown_fields=True):
    """Up to 1,000 customers; each row is checked on its own."""

    customers: list[dict[str, Any]]


class FieldErrorOut(msgspec.Struct):
    field: str
    reason: str


class BatchResult(msgspec.Struct):
    """One row of a batch: the stored id, or why it was refused."""

    index: int
    id: str | None = None
    created: bool | None = None
    errors: list[FieldErrorOut] | None = None


class BatchOut(msgspec.Struct):
    created: int
    updated: int
    failed: int
    results: list[BatchResult]
    object: str = "batch"


class RowErrorOut(msgspec.Struct):
    row: int
    field: str
    reason: str


class ImportOut(msgspec.Struct):
    """Every row is counted as created or updated, or listed in ``errors``."""

    total_rows: int
    created: int
    updated: int
    failed: int
    errors: list[RowErrorOut]
    object: str = "import"


def customer_out(customer: Customer) -> CustomerOut:
    """The API view of a stored customer."""
    return CustomerOut(
        id=customer.id,
        source_id=customer.source_id,
        name=customer.name,
        email=customer.email,
        phone=customer.phone,
        address=AddressOut(**{p: getattr(customer, f"address_{p}") for p in ADDRESS_FIELDS}),
        description=customer.description,
        metadata=customer.meta,
        locale=customer.locale,
        timezone=customer.timezone,
        created_at=utc(customer.created_at),
        updated_at=utc(customer.updated_at),
    )


class CustomerController(Controller):
    """Customers of the caller's project."""

    path = "/v1/customers"
    tags = ["customers"]
    security = SECURITY
    dependencies = PAGING

    @post(
        "/",
        status_code=200,
        sync_to_thread=True,
        summary="Create or update a customer",
        description=(
            "Creates the customer, or updates the one with the same `source_id`. Absent fields "
            "stay as they are; `null` clears a field. `address` merges part by part and "
            "`metadata` key by key (a key set to `null` is removed)."
        ),
    )
    def upsert(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        data: Annotated[
            CustomerIn, Body(examples=[Example(summary="A customer", value=CUSTOMER_EXAMPLE)])
        ],
    ) -> CustomerOut:
        with db.session() as session:
            outcome = upsert_customer(
                session, caller.project_id, data, default_region=caller.default_region
            )
        return customer_out(outcome.customer)

    @post("/batch", status_code=200, sync_to_thread=True, summary="Upsert up to 1,000 customers")
    def batch(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        data: JSONBody[BatchIn],
    ) -> BatchOut:
        if len(data.customers) > BATCH_LIMIT:
            raise PayloadTooLargeError(f"a batch takes at most {BATCH_LIMIT:,} customers")
        with db.session() as session:
            items = upsert_customers(
                session, caller.project_id, data.customers, default_region=caller.default_region
            )
        results = [
            BatchResult(
                index=item.index,
                id=item.customer_id,
                created=None if item.errors else item.created,
                errors=[FieldErrorOut(e.field, e.reason) for e in item.errors] or None,
            )
            for item in items
        ]
        return BatchOut(
            created=sum(1 for i in items if i.customer_id and i.created),
            updated=sum(1 for i in items if i.customer_id and not i.created),
            failed=sum(1 for i in items if i.errors),
            results=results,
        )

    @post(
        "/import",
        status_code=200,
        request_max_body_size=IMPORT_MAX_BYTES,
        opt=STREAMS_BODY,
        summary="Import customers from CSV or a JSON array",
        description=(
            "Send the file as the request body with `Content-Type: text/csv` or "
            "`application/json`. Up to 100,000 rows; every valid row is imported and every "
            "invalid one reported with its row number, field and reason."
        ),
    )
    async def import_file(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
    ) -> ImportOut:
        async with spooled_upload(request) as upload:

            def run() -> ImportOut:
                if upload.is_json:
                    read = count_limit(read_json_rows(upload.file))
                else:
                    read = count_limit(read_csv_rows(_text_stream(upload.file)))
                report = import_rows(
                    db,
                    caller.project_id,
                    read.rows,
                    default_region=caller.default_region,
                    executor=request.app.state.import_pool,
                    refused=read.refused,
                )
                return ImportOut(
                    total_rows=report.total_rows,
                    created=report.created,
                    updated=report.updated,
                    failed=report.failed,
                    errors=[RowErrorOut(e.row, e.field, e.reason) for e in report.errors],
                )

            return await anyio.to_thread.run_sync(run)

    @get("/export", summary="Export customers as CSV", media_type="text/csv")
    async def export(
        self, db: NamedDependency[Database], caller: NamedDependency[Caller]
    ) -> Stream:
        chunks = export_csv(db, caller.project_id)

        async def body() -> Any:
            while True:
                chunk = await anyio.to_thread.run_sync(next, chunks, None)
                if chunk is None:
                    return
                yield chunk

        return Stream(
            body(),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="customers.csv"'},
        )

    @get("/", sync_to_thread=True, summary="List customers")
    def list(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        page: NamedDependency[PageQuery],
        order: FromQuery[Literal["asc", "desc"]] = "asc",
        email: FromQuery[str | None] = None,
        q: Annotated[
            str | None, QueryParameter(description="Search name, email, source id")
        ] = None,
        created_after: FromQuery[datetime | None] = None,
        created_before: FromQuery[datetime | None] = None,
    ) -> CustomerList:
        with db.reader() as session:
            found = list_customers(
                session,
                caller.project_id,
                limit=page.limit,
                starting_after=page.starting_after,
                order=order,
                email=email,
                query=q,
                created_after=naive(created_after, "created_after"),
                created_before=naive(created_before, "created_before"),
            )
        return CustomerList(
            customers=[customer_out(c) for c in found.customers],
            has_more=found.has_more,
            next_cursor=found.next_cursor,
        )

    @get("/{customer_id:str}", sync_to_thread=True, summary="Get a customer by id or source_id")
    def retrieve(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        customer_id: FromPath[str],
    ) -> CustomerOut:
        with db.reader() as session:
            return customer_out(get_customer(session, caller.project_id, customer_id))

    @delete(
        "/{customer_id:str}",
        sync_to_thread=True,
        summary="Erase a customer's personal data",
        status_code=204,
    )
    def erase(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        customer_id: FromPath[str],
    ) -> None:
        with db.session() as session:
            erase_customer(session, caller.project_id, customer_id)


def _text_stream(spool: Any) -> io.TextIOWrapper:
    # utf-8-sig drops the byte-order mark that spreadsheet programs put at the start of a CSV.
    return io.TextIOWrapper(spool, encoding="utf-8-sig", errors="replace", newline="")
