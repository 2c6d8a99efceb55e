"""``/v1/customers``: Voucherify-compatible customer upsert, lookup, listing, import and export."""

from __future__ import annotations

import io
from datetime import datetime
from typing import IO, Annotated, Any, Literal

import anyio
import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.di import NamedDependency
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Stream

from distribution.customers.customer_files import (
    ImportReport,
    count_limit,
    export_csv,
    import_rows,
    read_csv_rows,
    read_json_rows,
)
from distribution.customers.customer_input import ADDRESS_FIELDS, CustomerIn
from distribution.customers.segments import get_segment, member_condition
from distribution.customers.store import (
    SortKey,
    erase_customer,
    get_customer,
    list_customers,
    update_customer,
    upsert_customer,
    upsert_customers,
)
from distribution.errors import FieldError, InvalidInputError, PayloadTooLargeError
from distribution.models import Customer
from distribution.storage.db import Database
from web.auth import SECURITY, Caller
from web.input_guard import STREAMS_BODY
from web.paging import PAGING, CursorList, PageQuery
from web.stored_times import naive, utc
from web.uploads import spooled_upload

__all__ = [
    "CustomerController",
    "CustomerOut",
    "customer_out",
    "import_file",
]

BATCH_LIMIT = 1_000
#: ``order`` values: ours (by id) and Voucherify's, mapped to (sort key, direction).
ORDERS: dict[str, tuple[SortKey, Literal["asc", "desc"]]] = {
    "asc": ("id", "asc"),
    "desc": ("id", "desc"),
    **{
        f"{sign}{key}": (key, "desc" if sign else "asc")
        for key in ("created_at", "updated_at", "source_id")
        for sign in ("", "-")
    },
}
LIST_PARAMETERS = frozenset(
    {
        "limit",
        "starting_after",
        "order",
        "email",
        "q",
        "name",
        "city",
        "segment_id",
        "page",
        "created_after",
        "created_before",
        "created_at[after]",
        "created_at[before]",
        "updated_at[after]",
        "updated_at[before]",
    }
)
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
    "birthdate": "1815-12-10",
}


#: Highest `page`: deeper offsets scan every row before them (use `starting_after`).
MAX_PAGE = 10_000


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
    birthdate: str | None
    created_at: datetime
    updated_at: datetime
    #: Voucherify's deprecated name of ``birthdate``, answered too for clients that read it.
    birthday: str | None = None
    #: Voucherify's read-only system metadata; this service sets none.
    system_metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    object: str = "customer"


class CustomerList(CursorList):
    """A page of customers; pass ``next_cursor`` as ``starting_after`` for the next page."""

    customers: list[CustomerOut]
    #: Every customer the filters match (all pages); listings that do not count answer null.
    total: int | None = None
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
        birthdate=customer.birthdate,
        birthday=customer.birthdate,
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
                report = import_file(request, db, caller, upload.file, is_json=upload.is_json)
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

    @get(
        "/",
        sync_to_thread=True,
        summary="List customers",
        description=(
            "Filters combine with AND. `order` is `asc` or `desc` (by id, the creation order), "
            "or Voucherify's `created_at`, `updated_at`, `source_id`, each with a `-` prefix "
            "for descending. `starting_after` is either a customer id (our cursor, the "
            "`next_cursor` of the previous page, in id order) or a date-time (Voucherify's "
            "cursor: customers created after it, or before it in a descending order). `page` "
            "(from 1 to 10,000) skips `(page - 1) * limit` customers; further on, page with "
            "`starting_after`. `total` counts every match. "
            "Unknown query parameters are refused."
        ),
    )
    def list(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        page: NamedDependency[PageQuery],
        order: Annotated[str, QueryParameter(description=f"One of: {', '.join(ORDERS)}")] = "asc",
        email: FromQuery[str | None] = None,
        q: Annotated[
            str | None, QueryParameter(description="Search name, email, source id")
        ] = None,
        name: Annotated[str | None, QueryParameter(description="Exact name, any case")] = None,
        city: Annotated[str | None, QueryParameter(description="Exact city, any case")] = None,
        segment_id: Annotated[str | None, QueryParameter(description="Members only")] = None,
        page_number: Annotated[int | None, QueryParameter(name="page", ge=1, le=MAX_PAGE)] = None,
        created_after: FromQuery[datetime | None] = None,
        created_before: FromQuery[datetime | None] = None,
        created_at_after: Annotated[str | None, QueryParameter(name="created_at[after]")] = None,
        created_at_before: Annotated[str | None, QueryParameter(name="created_at[before]")] = None,
        updated_at_after: Annotated[str | None, QueryParameter(name="updated_at[after]")] = None,
        updated_at_before: Annotated[str | None, QueryParameter(name="updated_at[before]")] = None,
    ) -> CustomerList:
        unknown = sorted(set(request.query_params) - LIST_PARAMETERS)
        if unknown:
            raise InvalidInputError(
                [FieldError(name, "is not a query parameter of this list") for name in unknown]
            )
        if order not in ORDERS:
            raise InvalidInputError([FieldError("order", f"must be one of {', '.join(ORDERS)}")])
        sort, direction = ORDERS[order]
        id_cursor, date_cursor = page.starting_after, None
        if id_cursor and id_cursor[:1].isdigit():
            # Voucherify's cursor is a created_at; our ids start with their type's letters.
            id_cursor, date_cursor = None, query_time(id_cursor, "starting_after")
            if sort == "id":
                sort = "created_at"
        with db.reader() as session:
            segment_condition = None
            if segment_id is not None:
                segment = get_segment(session, caller.project_id, segment_id)
                segment_condition = member_condition(segment, session.get_bind().dialect.name)
            found = list_customers(
                session,
                caller.project_id,
                limit=page.limit,
                starting_after=id_cursor,
                order=direction,
                sort=sort,
                email=email,
                query=q,
                name=name,
                city=city,
                created_after=naive(created_after, "created_after")
                or query_time(created_at_after, "created_at[after]"),
                created_before=naive(created_before, "created_before")
                or query_time(created_at_before, "created_at[before]"),
                updated_after=query_time(updated_at_after, "updated_at[after]"),
                updated_before=query_time(updated_at_before, "updated_at[before]"),
                created_cursor=date_cursor,
                extra_condition=segment_condition,
                offset=((page_number or 1) - 1) * page.limit,
                count_total=True,
            )
        return CustomerList(
            customers=[customer_out(c) for c in found.customers],
            has_more=found.has_more,
            next_cursor=found.next_cursor,
            total=found.total,
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

    @put(
        "/{customer_id:str}",
        sync_to_thread=True,
        summary="Update a customer by id or source_id",
        description="The upsert's merge rules; 404 when there is no such customer.",
    )
    def update(
        self,
        db: NamedDependency[Database],
        caller: NamedDependency[Caller],
        customer_id: FromPath[str],
        data: JSONBody[CustomerIn | None] = None,
    ) -> CustomerOut:
        with db.session() as session:
            customer = update_customer(
                session,
                caller.project_id,
                customer_id,
                data or CustomerIn(),
                default_region=caller.default_region,
            )
        return customer_out(customer)

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


def query_time(value: str | None, field: str) -> datetime | None:
    """A date-time query parameter as stored (naive UTC); no zone means UTC.

    Voucherify's SDK formats times as ``%Y-%m-%dT%H:%M:%S.%f%z`` (``+0000``), and an unencoded
    ``+`` arrives as a space; both are taken.
    """
    if value is None:
        return None
    text = value.strip()
    if len(text) > 19 and text[-5] == " " and text[-4:].isdigit():
        text = f"{text[:-5]}+{text[-4:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError([FieldError(field, "must be an ISO 8601 date-time")]) from None
    return naive(parsed, field)


def import_file(
    request: Request[Any, Any, Any],
    db: Database,
    caller: Caller,
    file: IO[bytes],
    *,
    is_json: bool,
) -> ImportReport:
    """Import a CSV or JSON file of customers into the caller's project (blocking: a thread)."""
    if is_json:
        read = count_limit(read_json_rows(file))
    else:
        read = count_limit(read_csv_rows(text_stream(file)))
    return import_rows(
        db,
        caller.project_id,
        read.rows,
        default_region=caller.default_region,
        executor=request.app.state.import_pool,
        refused=read.refused,
    )


def text_stream(spool: Any) -> io.TextIOWrapper:
    # utf-8-sig drops the byte-order mark that spreadsheet programs put at the start of a CSV.
    return io.TextIOWrapper(spool, encoding="utf-8-sig", errors="replace", newline="")
