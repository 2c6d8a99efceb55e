"""Customers: upsert by ``source_id``, lookup, cursor listing and erasure.

Upsert rules: a customer whose ``source_id`` already exists in the project is updated, otherwise a
new one is created. Absent fields stay as they are and ``null`` clears a field. ``address`` merges
part by part. ``metadata`` merges key by key: a key set to ``null`` is removed, and
``"metadata": null`` removes them all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec
from sqlalchemy import func, or_, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from distribution.customer_sync import enqueue_customer_sync, enqueue_erasure, profile_changed
from distribution.customers.customer_input import (
    CustomerIn,
    ValidCustomer,
    field_error_from_msgspec,
    validate_customer,
)
from distribution.customers.customer_rows import (
    COLUMNS,
    insert_row,
    insert_rows,
    live_row,
    rows_by_source_id,
    update_row,
    update_rows,
)
from distribution.customers.event_history import forget_event_details
from distribution.customers.external_ids import forget_external_ids
from distribution.customers.segment_changes import (
    SegmentChange,
    emit_segment_changes,
    segment_watch,
)
from distribution.errors import ConflictError, FieldError, InvalidInputError, NotFoundError
from distribution.models import (
    PROFILE_CHANNEL,
    Customer,
    Delivery,
    DeliveryStatusChange,
    utcnow,
)
from distribution.storage.ids import new_id

__all__ = [
    "BatchItem",
    "CustomerPage",
    "SortKey",
    "UpsertOutcome",
    "erase_customer",
    "get_customer",
    "list_customers",
    "update_customer",
    "upsert_customer",
    "upsert_customers",
    "validate_rows",
]

MAX_PAGE = 100

# Columns an erasure blanks: everything that identifies or describes the person.
_PERSONAL_COLUMNS = [
    "source_id",
    "name",
    "email",
    "phone",
    "description",
    "address_city",
    "address_state",
    "address_line_1",
    "address_line_2",
    "address_country",
    "address_postal_code",
    "locale",
    "timezone",
    "birthdate",
]


_NEW_CUSTOMER = Customer._sa_class_manager.new_instance  # type: ignore[attr-defined]
# Column name -> attribute name (the ``metadata`` column is the ``meta`` attribute).
_ATTRIBUTES = {
    column.name: attribute.key
    for attribute in sa_inspect(Customer).column_attrs
    for column in attribute.columns
}


@dataclass(frozen=True)
class UpsertOutcome:
    """The stored customer and whether this call created it."""

    customer: Customer
    created: bool


@dataclass(frozen=True)
class BatchItem:
    """One row of a batch: its stored id and whether it was created, or why it was refused."""

    index: int
    customer_id: str | None = None
    created: bool = False
    errors: tuple[FieldError, ...] = ()


@dataclass(frozen=True)
class CustomerPage:
    """One page of a listing and the cursor for the next one."""

    customers: list[Customer]
    has_more: bool
    next_cursor: str | None
    total: int | None = None


def upsert_customer(
    session: Session, project_id: str, data: CustomerIn, *, default_region: str
) -> UpsertOutcome:
    """Create or update one customer (see the module docstring for the merge rules)."""
    result = validate_customer(data, default_region=default_region)
    if isinstance(result, list):
        raise InvalidInputError(result)
    if session.get_bind().dialect.name == "sqlite":
        # One writer: between the lookup and the write no other transaction can create the same
        # source_id, so there is no conflict to undo and no savepoint to pay for.
        [(item, row)] = _write_valid(session, project_id, [(0, result)])
        return UpsertOutcome(customer=_customer(row), created=item.created)
    for attempt in range(2):
        try:
            with session.begin_nested():
                [(item, row)] = _write_valid(session, project_id, [(0, result)])
        except IntegrityError:
            # A concurrent request created the same source_id first: update that one instead.
            if attempt:
                raise
            continue
        return UpsertOutcome(customer=_customer(row), created=item.created)
    raise AssertionError("unreachable")


def _customer(row: dict[str, Any]) -> Customer:
    """The customer a written row describes, as stored, without reading it back.

    Built the way the ORM builds a loaded row's object (a new instance, its attributes set in
    its ``__dict__``): ``Customer(**values)`` ran SQLModel's constructor, 20 times the cost.
    """
    customer: Customer = _NEW_CUSTOMER()
    attributes = customer.__dict__
    for name, value in row.items():
        attributes[_ATTRIBUTES[name]] = value
    return customer


def validate_rows(
    rows: Sequence[dict[str, Any] | CustomerIn], *, default_region: str
) -> list[ValidCustomer | tuple[FieldError, ...]]:
    """Check every row on its own: the normalised values, or every reason it was refused.

    A pure function of its arguments, so large imports can run it in worker processes.
    """
    results: list[ValidCustomer | tuple[FieldError, ...]] = []
    for row in rows:
        try:
            data = row if isinstance(row, CustomerIn) else msgspec.convert(row, CustomerIn)
        except msgspec.ValidationError as error:
            results.append((field_error_from_msgspec(str(error)),))
            continue
        result = validate_customer(data, default_region=default_region)
        results.append(tuple(result) if isinstance(result, list) else result)
    return results


def upsert_customers(
    session: Session,
    project_id: str,
    rows: Sequence[dict[str, Any] | CustomerIn],
    *,
    default_region: str,
    checked: Sequence[ValidCustomer | tuple[FieldError, ...]] | None = None,
) -> list[BatchItem]:
    """Upsert many customers at once; invalid rows are reported, valid ones kept.

    Valid rows are read and written as plain dicts with one statement per kind (see
    :mod:`distribution.customers.customer_rows`), which is what makes 100,000-row imports fast.
    ``checked`` is ``validate_rows(rows)`` when the caller has already computed it.
    """
    if checked is None:
        checked = validate_rows(rows, default_region=default_region)
    items: list[BatchItem] = []
    valid_rows: list[tuple[int, ValidCustomer]] = []
    for index, result in enumerate(checked):
        if isinstance(result, ValidCustomer):
            valid_rows.append((index, result))
        else:
            items.append(BatchItem(index=index, errors=result))
    items += [item for item, _row in _write_valid(session, project_id, valid_rows)]
    items.sort(key=lambda item: item.index)
    return items


def _write_valid(
    session: Session, project_id: str, valid_rows: Sequence[tuple[int, ValidCustomer]]
) -> list[tuple[BatchItem, dict[str, Any]]]:
    """Insert or update valid rows; each one's item and the column dict it wrote."""
    source_ids = {v.source_id for _, v in valid_rows if v.source_id}
    one = len(valid_rows) == 1  # an event's customer, or one upsert: no bulk machinery
    if one:
        found = live_row(session, project_id, *source_ids) if source_ids else None
        existing = {found["source_id"]: found} if found is not None else {}
    else:
        existing = rows_by_source_id(session, project_id, source_ids)
    now = utcnow()
    watch = segment_watch(session, project_id)
    # Each written customer's watched segments before this write (none for a new one).
    was_in: dict[str, frozenset[str]] = {}
    fresh: list[dict[str, Any]] = []
    fresh_by_source_id: dict[str, dict[str, Any]] = {}
    touched: dict[str, dict[str, Any]] = {}
    resynced: list[dict[str, Any]] = []  # touched rows whose platform profile changes
    written: list[tuple[BatchItem, dict[str, Any]]] = []
    for index, valid in valid_rows:
        key = valid.source_id
        row = (existing.get(key) or fresh_by_source_id.get(key)) if key else None
        created = row is None
        if row is None:
            # A microsecond apart: Voucherify's date cursor (``starting_after`` a created_at)
            # must find a next page even among the rows of one batch.
            row = _new_row(project_id, now + timedelta(microseconds=len(fresh)))
            fresh.append(row)
            if key:
                fresh_by_source_id[key] = row
        before = dict(row) if key in existing else None
        if watch and row["id"] not in was_in:
            was_in[row["id"]] = watch.members(_customer(row)) if before else frozenset()
        _merge(row, valid, now)
        if before is not None:
            if _same_but_time(row, before):
                # Nothing to write: events repeat the customer they carry, and so do
                # re-imported files. The stored row, updated_at included, stays as it is.
                row["updated_at"] = before["updated_at"]
            else:
                touched[row["id"]] = row
                if profile_changed(row, before):
                    resynced.append(row)
        written.append((BatchItem(index=index, customer_id=row["id"], created=created), row))

    if one:
        for row in fresh:
            insert_row(session, row)
        for row in touched.values():
            update_row(session, row)
    else:
        insert_rows(session, fresh)
        update_rows(session, touched.values())
    enqueue_customer_sync(session, project_id, fresh, created=True)
    enqueue_customer_sync(session, project_id, resynced)
    if watch:
        changes: list[SegmentChange] = []
        for row in (*fresh, *touched.values()):
            customer = _customer(row)
            changes += watch.changes(customer, was_in[row["id"]], watch.members(customer))
        emit_segment_changes(session, project_id, changes)
    # Objects the session holds may be stale copies of what the bulk statements wrote.
    session.expunge_all()
    return written


def _same_but_time(row: dict[str, Any], before: dict[str, Any]) -> bool:
    return all(value == before[name] for name, value in row.items() if name != "updated_at")


def _new_row(project_id: str, now: datetime) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(id=new_id("cust"), project_id=project_id, metadata={}, created_at=now)
    return row


def _merge(row: dict[str, Any], valid: ValidCustomer, now: datetime) -> None:
    row.update(valid.columns)
    if valid.metadata_replace:
        row["metadata"] = {}
    if valid.metadata_set or valid.metadata_removed:
        merged = {k: v for k, v in row["metadata"].items() if k not in valid.metadata_removed}
        merged.update(valid.metadata_set)
        row["metadata"] = merged
    row["updated_at"] = now


def update_customer(
    session: Session,
    project_id: str,
    id_or_source_id: str,
    data: CustomerIn,
    *,
    default_region: str,
) -> Customer:
    """Update an existing customer found by id or ``source_id`` (the same merge rules)."""
    result = validate_customer(data, default_region=default_region)
    if isinstance(result, list):
        raise InvalidInputError(result)
    customer = get_customer(session, project_id, id_or_source_id)
    row = {name: getattr(customer, attribute) for name, attribute in _ATTRIBUTES.items()}
    new_source_id = result.columns.get("source_id", row["source_id"])
    changed_source_id = new_source_id and new_source_id != row["source_id"]
    if changed_source_id and live_row(session, project_id, new_source_id) is not None:
        raise ConflictError(f"another customer has source_id {new_source_id!r}")
    before = dict(row)
    _merge(row, result, utcnow())
    if _same_but_time(row, before):
        row["updated_at"] = before["updated_at"]
    else:
        update_row(session, row)
        if profile_changed(row, before):
            enqueue_customer_sync(session, project_id, [row])
        watch = segment_watch(session, project_id)
        if watch:
            updated = _customer(row)
            emit_segment_changes(
                session,
                project_id,
                watch.changes(updated, watch.members(_customer(before)), watch.members(updated)),
            )
    session.expunge_all()
    return _customer(row)


def get_customer(session: Session, project_id: str, id_or_source_id: str) -> Customer:
    """A customer by our id or by ``source_id`` (erased customers are gone)."""
    customer = session.exec(
        select(Customer).where(
            Customer.project_id == project_id,
            or_(col(Customer.id) == id_or_source_id, col(Customer.source_id) == id_or_source_id),
            col(Customer.erased_at).is_(None),
        )
    ).first()
    if customer is None:
        raise NotFoundError("customer", id_or_source_id)
    return customer


#: What ``list_customers`` can sort by (Voucherify's ``order`` names, without the ``-``).
SortKey = Literal["id", "created_at", "updated_at", "source_id"]


def list_customers(
    session: Session,
    project_id: str,
    *,
    limit: int = 50,
    starting_after: str | None = None,
    order: Literal["asc", "desc"] = "asc",
    email: str | None = None,
    query: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    extra_condition: Any = None,
    sort: SortKey = "id",
    name: str | None = None,
    city: str | None = None,
    updated_after: datetime | None = None,
    updated_before: datetime | None = None,
    created_cursor: datetime | None = None,
    offset: int = 0,
    count_total: bool = False,
) -> CustomerPage:
    """One page of customers, ordered by id (creation time) unless ``sort`` says otherwise.

    Two cursors: ``starting_after`` an id (ours, in id order), and ``created_cursor``, a
    creation time (Voucherify's): customers created after it in ascending order, before it in
    descending. ``offset`` skips that many (Voucherify's ``page``). ``count_total`` also counts
    every customer the filters match, cursors and offset aside.
    """
    limit = max(1, min(limit, MAX_PAGE))
    conditions: list[Any] = [Customer.project_id == project_id, col(Customer.erased_at).is_(None)]
    if email:
        conditions.append(func.lower(Customer.email) == email.strip().lower())
    if name:
        conditions.append(func.lower(Customer.name) == name.strip().lower())
    if city:
        conditions.append(func.lower(Customer.address_city) == city.strip().lower())
    if query:
        pattern = (
            "%"
            + query.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            + "%"
        )
        conditions.append(
            or_(
                func.lower(Customer.name).like(pattern, escape="\\"),
                func.lower(Customer.email).like(pattern, escape="\\"),
                func.lower(Customer.source_id).like(pattern, escape="\\"),
            )
        )
    for column, after, before in (
        (Customer.created_at, created_after, created_before),
        (Customer.updated_at, updated_after, updated_before),
    ):
        if after:
            conditions.append(col(column) >= after)
        if before:
            conditions.append(col(column) < before)
    if extra_condition is not None:
        conditions.append(extra_condition)
    total = (
        int(session.exec(select(func.count()).select_from(Customer).where(*conditions)).one())
        if count_total
        else None
    )
    ascending = order == "asc"
    if starting_after:
        conditions.append(
            col(Customer.id) > starting_after if ascending else col(Customer.id) < starting_after
        )
    if created_cursor:
        conditions.append(
            col(Customer.created_at) > created_cursor
            if ascending
            else col(Customer.created_at) < created_cursor
        )
    # Ties of the sort key fall back to id order, so pages never overlap.
    keys = [col(getattr(Customer, sort)), col(Customer.id)] if sort != "id" else [col(Customer.id)]
    statement = (
        select(Customer)
        .where(*conditions)
        .order_by(*(key.asc() if ascending else key.desc() for key in keys))
        .offset(offset)
        .limit(limit + 1)
    )
    rows = list(session.exec(statement))
    has_more = len(rows) > limit
    rows = rows[:limit]
    return CustomerPage(
        customers=rows,
        has_more=has_more,
        # An id cursor continues an id order only.
        next_cursor=rows[-1].id if has_more and rows and sort == "id" else None,
        total=total,
    )


def erase_customer(session: Session, project_id: str, customer_id: str) -> str:
    """Erase a customer's personal data; the id (returned) stays as a tombstone for the log."""
    customer = get_customer(session, project_id, customer_id)
    watch = segment_watch(session, project_id)
    was_in = watch.members(customer)
    now = utcnow()
    _cancel_profile_writes(session, customer.id, now)
    # After the cancel (which would cancel it), before the scrub (which blanks the platform id).
    enqueue_erasure(session, project_id, customer)
    for name in _PERSONAL_COLUMNS:
        setattr(customer, name, None)
    customer.meta = {}
    customer.erased_at = customer.updated_at = now
    session.add(customer)
    forget_external_ids(session, customer.id)
    forget_event_details(session, project_id, customer.id)
    # After the scrub: the events it leaves (an erased customer is in no segment) carry no
    # personal data to forget.
    emit_segment_changes(session, project_id, watch.changes(customer, was_in, frozenset()))
    return customer.id


#: What a cancelled profile write says: the platform never gets an erased customer's data.
ERASED_DETAIL = "the customer was erased"


def _cancel_profile_writes(session: Session, customer_id: str, now: datetime) -> None:
    """Cancel the customer's profile writes not sent yet, and drop what they would have written.

    A profile write copies the customer's id on the platform and their code into its row; once
    the customer is erased it must neither go out nor keep them (rows in flight are past this).
    """
    cancelled = (
        session.connection()
        .execute(
            update(Delivery)
            .where(
                col(Delivery.customer_id) == customer_id,
                col(Delivery.channel) == PROFILE_CHANNEL,
                col(Delivery.status).in_(("queued", "paused")),
            )
            .values(status="cancelled", content={}, recipient=None, last_error=ERASED_DETAIL)
            .returning(col(Delivery.id))
        )
        .all()
    )
    session.add_all(
        DeliveryStatusChange(delivery_id=row[0], status="cancelled", detail=ERASED_DETAIL, at=now)
        for row in cancelled
    )


def iter_customers(session: Session, project_id: str, batch: int = 1000) -> Iterator[Customer]:
    """Every live customer of a project, in id order, fetched in batches (for exports)."""
    after = ""
    while True:
        rows = list(
            session.exec(
                select(Customer)
                .where(
                    Customer.project_id == project_id,
                    col(Customer.erased_at).is_(None),
                    col(Customer.id) > after,
                )
                .order_by(col(Customer.id))
                .limit(batch)
            )
        )
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].id
