"""Customers found by another system's id (Voucherify's ``cust_...``), kept beside our own."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from distribution.models import Customer, CustomerExternalId
from distribution.storage.db import insert_skipping_conflicts

__all__ = ["find_by_external_id", "forget_external_ids", "link_external_id"]


def find_by_external_id(
    session: Session, project_id: str, system: str, external_id: str
) -> Customer | None:
    """The live customer the system's id points at, if any."""
    return session.exec(
        select(Customer)
        .join(CustomerExternalId, col(CustomerExternalId.customer_id) == col(Customer.id))
        .where(
            CustomerExternalId.project_id == project_id,
            CustomerExternalId.system == system,
            CustomerExternalId.external_id == external_id,
            col(Customer.erased_at).is_(None),
        )
    ).first()


def link_external_id(
    session: Session, project_id: str, system: str, external_id: str, customer_id: str
) -> None:
    """Point the system's id at the customer (moving it from another customer if need be).

    Two events about one new customer may link it at once: the second insert is skipped, not
    an error, and the update settles which customer the id names.
    """
    table = CustomerExternalId.__table__  # type: ignore[attr-defined]
    key = {"project_id": project_id, "system": system, "external_id": external_id}
    adding = insert_skipping_conflicts(session, table).values(**key, customer_id=customer_id)
    session.execute(adding)
    session.execute(
        update(table)
        .where(*(table.c[name] == value for name, value in key.items()))
        .where(table.c.customer_id != customer_id)
        .values(customer_id=customer_id)
    )


def forget_external_ids(session: Session, customer_id: str) -> None:
    """Drop every external id of a customer (when its personal data is erased)."""
    statement = delete(CustomerExternalId).where(col(CustomerExternalId.customer_id) == customer_id)
    session.execute(statement)
