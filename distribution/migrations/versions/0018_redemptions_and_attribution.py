"""redemptions and attribution: the code a message carried, redemptions credited to messages

Deliveries record their code (a partial index: only rows that carried one) and, once a
redemption of it is credited to them, when and for how much. Redemptions are kept whether or not
a message carried the code.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 21:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CODE_PRESENT = sa.text("code IS NOT NULL")


def upgrade() -> None:
    # Nullable columns without defaults: no table copy, however many deliveries there are.
    op.add_column("delivery", sa.Column("code", sa.String(), nullable=True))
    op.add_column("delivery", sa.Column("converted_at", sa.DateTime(), nullable=True))
    op.add_column("delivery", sa.Column("conversion_amount", sa.BigInteger(), nullable=True))
    op.add_column("delivery", sa.Column("conversion_currency", sa.String(), nullable=True))
    op.create_index(
        "ix_delivery_code",
        "delivery",
        ["project_id", "code"],
        postgresql_where=_CODE_PRESENT,
        sqlite_where=_CODE_PRESENT,
    )
    op.create_table(
        "redemption",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("dedupe_key", sa.String(), nullable=False),
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(), nullable=True),
        sa.Column("customer_id", sa.String(), nullable=True),
        sa.Column("event_id", sa.String(), nullable=True),
        sa.Column("attributed", sa.Integer(), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "dedupe_key", name="uq_redemption_dedupe"),
    )
    op.create_index("ix_redemption_project_id", "redemption", ["project_id"])
    op.create_index("ix_redemption_customer_id", "redemption", ["customer_id"])
    op.create_index("ix_redemption_project_redeemed", "redemption", ["project_id", "redeemed_at"])
    op.create_table(
        "redemption_attribution",
        sa.Column("redemption_id", sa.String(), nullable=False),
        sa.Column("delivery_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["redemption_id"], ["redemption.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["delivery_id"], ["delivery.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("redemption_id", "delivery_id"),
    )
    op.create_index(
        "ix_redemption_attribution_delivery_id", "redemption_attribution", ["delivery_id"]
    )


def downgrade() -> None:
    op.drop_table("redemption_attribution")
    op.drop_table("redemption")
    op.drop_index("ix_delivery_code", table_name="delivery")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        for name in ("conversion_currency", "conversion_amount", "converted_at", "code"):
            batch_op.drop_column(name)
