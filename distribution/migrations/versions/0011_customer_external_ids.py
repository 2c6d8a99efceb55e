"""customer external ids: Voucherify's id of a customer finds it too

A Voucherify webhook may name a customer only by Voucherify's id (``cust_...``). Such customers
were stored under the made-up source id ``voucherify:<id>`` and a customer with a real source id
could not be found by Voucherify's id at all. One row per (project, system, external id) now
points at our customer.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_external_id",
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("system", sa.String(), nullable=False),
        sa.Column("external_id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "system", "external_id"),
    )
    with op.batch_alter_table("customer_external_id", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_external_id_customer_id"), ["customer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("customer_external_id", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_external_id_customer_id"))
    op.drop_table("customer_external_id")
