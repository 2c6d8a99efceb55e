"""delivery test flag: the editor's test sends are recorded as messages marked as tests

They show in the messages log and the delivery feed (filterable) with what was sent, and stay out
of statistics: they have no distribution, bulk job or customer.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 14:53:29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ADD COLUMN with a constant default: no table copy, however many deliveries there are.
    op.add_column(
        "delivery", sa.Column("test", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("test")
