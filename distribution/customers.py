"""Customers: upsert by ``source_id``, lookup, cursor listing and erasure.

Upsert rules: a customer whose ``source_id`` already exists in the project is updated, otherwise a
new one is created. Absent fields stay as they are and ``null`` clears a field. ``address`` merges
part by part. ``metadata`` merges key by key: a key set to ``null`` is removed, and
``"metadata": null`` removes them all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import func, insert, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from distribution.customer_input import (
    CustomerIn,
    ValidCustomer,
    field_error_from_msgspec,
    validate_customer,
)
from distribution.errors import FieldError, InvalidInputError, NotFoundError
from distribution.ids import new_id
from distribution.models import Customer, utcnow

__all__ = [
    "BatchItem",
    "CustomerPage",
    "UpsertOutcome",
    "erase_customer",
    "get_customer",
    "list_customers",
    "upsert_customer",
    "upsert_customers",
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
]


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


def _apply(customer: Customer, valid: ValidCustomer, now: datetime) -> None:
    for name, value in valid.columns.items():
        setattr(customer, name, value)
    if valid.metadata_replace:
        customer.meta = {}
    if valid.metadata_set or valid.metadata_removed:
        merged = {k: v for k, v in customer.meta.items() if k not in valid.metadata_removed}
        merged.update(valid.metadata_set)
        customer.meta = merged
    customer.updated_at = now


def _validate(data: CustomerIn, default_region: str) -> ValidCustomer:
    result = validate_customer(data, default_region=default_region)
    if isinstance(result, list):
        raise InvalidInputError(result)
    return result


def upsert_customer(
    session: Session, project_id: str, data: CustomerIn, *, default_region: str
) -> UpsertOutcome:
    """Create or update one customer (see the module docstring for the merge rules)."""
    valid = _validate(data, default_region)
    for attempt in range(2):
        existing = _by_source_id(session, project_id, [valid.source_id]) if valid.source_id else {}
        now = utcnow()
        customer = existing.get(valid.source_id or "")
        created = customer is None
        if customer is None:
            customer = Customer(id=new_id("cust"), project_id=project_id, created_at=now)
        _apply(customer, valid, now)
        try:
            with session.begin_nested():
                session.add(customer)
                session.flush()
        except IntegrityError:
            # A concurrent request created the same source_id first: update that one instead.
            if attempt:
                raise
            continue
        return UpsertOutcome(customer=customer, created=created)
    raise AssertionError("unreachable")


def _by_source_id(
    session: Session, project_id: str, source_ids: Sequence[str | None]
) -> dict[str, Customer]:
    wanted = [s for s in source_ids if s]
    if not wanted:
        return {}
    rows = session.exec(
        select(Customer).where(
            Customer.project_id == project_id,
            col(Customer.source_id).in_(wanted),
            col(Customer.erased_at).is_(None),
        )
    )
    return {c.source_id: c for c in rows if c.source_id}


def upsert_customers(
    session: Session,
    project_id: str,
    rows: Sequence[dict[str, Any] | CustomerIn],
    *,
    default_region: str,
    first_index: int = 0,
) -> list[BatchItem]:
    """Upsert many customers at once; invalid rows are reported, valid ones kept.

    Rows are checked one by one, then the valid ones are written with two bulk statements, which
    is what makes 100,000-row imports fast.
    """
    items: list[BatchItem] = []
    valid_rows: list[tuple[int, ValidCustomer]] = []
    for offset, row in enumerate(rows):
        index = first_index + offset
        try:
            data = row if isinstance(row, CustomerIn) else msgspec.convert(row, CustomerIn)
        except msgspec.ValidationError as error:
            items.append(BatchItem(index=index, errors=(field_error_from_msgspec(str(error)),)))
            continue
        result = validate_customer(data, default_region=default_region)
        if isinstance(result, list):
            items.append(BatchItem(index=index, errors=tuple(result)))
        else:
            valid_rows.append((index, result))

    existing = _by_source_id(session, project_id, [v.source_id for _, v in valid_rows])
    now = utcnow()
    fresh: list[Customer] = []
    fresh_by_source_id: dict[str, Customer] = {}
    touched: dict[str, Customer] = {}
    for index, valid in valid_rows:
        key = valid.source_id
        customer = (existing.get(key) or fresh_by_source_id.get(key)) if key else None
        created = customer is None
        if customer is None:
            customer = Customer(id=new_id("cust"), project_id=project_id, created_at=now)
            fresh.append(customer)
            if key:
                fresh_by_source_id[key] = customer
        elif key in existing:
            touched[customer.id] = customer
        _apply(customer, valid, now)
        items.append(BatchItem(index=index, customer_id=customer.id, created=created))

    if fresh:
        session.execute(insert(Customer), [_row(c) for c in fresh])
    if touched:
        session.execute(update(Customer), [_row(c) for c in touched.values()])
    # Objects loaded above are now stale copies of what the bulk statements wrote.
    session.expunge_all()
    items.sort(key=lambda item: item.index)
    return items


def _row(customer: Customer) -> dict[str, Any]:
    return {name: getattr(customer, name) for name in Customer.model_fields}


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
) -> CustomerPage:
    """One page of customers ordered by id (creation time)."""
    limit = max(1, min(limit, MAX_PAGE))
    statement = select(Customer).where(
        Customer.project_id == project_id, col(Customer.erased_at).is_(None)
    )
    if starting_after:
        statement = statement.where(
            col(Customer.id) > starting_after
            if order == "asc"
            else col(Customer.id) < starting_after
        )
    if email:
        statement = statement.where(func.lower(Customer.email) == email.strip().lower())
    if query:
        pattern = (
            "%"
            + query.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            + "%"
        )
        statement = statement.where(
            or_(
                func.lower(Customer.name).like(pattern, escape="\\"),
                func.lower(Customer.email).like(pattern, escape="\\"),
                func.lower(Customer.source_id).like(pattern, escape="\\"),
            )
        )
    if created_after:
        statement = statement.where(col(Customer.created_at) >= created_after)
    if created_before:
        statement = statement.where(col(Customer.created_at) < created_before)
    if extra_condition is not None:
        statement = statement.where(extra_condition)
    statement = statement.order_by(
        col(Customer.id).asc() if order == "asc" else col(Customer.id).desc()
    ).limit(limit + 1)
    rows = list(session.exec(statement))
    has_more = len(rows) > limit
    rows = rows[:limit]
    return CustomerPage(
        customers=rows, has_more=has_more, next_cursor=rows[-1].id if has_more and rows else None
    )


def erase_customer(session: Session, project_id: str, customer_id: str) -> None:
    """Erase a customer's personal data; the id stays as a tombstone for the delivery log."""
    customer = get_customer(session, project_id, customer_id)
    for name in _PERSONAL_COLUMNS:
        setattr(customer, name, None)
    customer.meta = {}
    customer.erased_at = customer.updated_at = utcnow()
    session.add(customer)


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
