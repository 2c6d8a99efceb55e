"""External references of customers: another system's id of one of our customers."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, String
from sqlmodel import Field, SQLModel

__all__ = ["CustomerExternalId"]


class CustomerExternalId(SQLModel, table=True):
    """One system's id of a customer (Voucherify's ``cust_...``): unique per project and system.

    A customer keeps its own ``source_id``; this finds it by the other system's id as well, so an
    event that names the customer only by Voucherify's id reaches the same customer.
    """

    __tablename__ = "customer_external_id"

    project_id: str = Field(
        sa_column=Column(
            String, ForeignKey("project.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    system: str = Field(primary_key=True)
    external_id: str = Field(primary_key=True)
    customer_id: str = Field(
        sa_column=Column(
            String, ForeignKey("customer.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
