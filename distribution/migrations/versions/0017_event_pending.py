"""event pending: segment entered / left events are stored by the customer write, their
distributions matched just after it

Partial index: only the few events still to be prepared are in it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHERE = sa.text("pending")


def upgrade() -> None:
    # ADD COLUMN with a constant default: no table copy, however many events there are.
    op.add_column(
        "event", sa.Column("pending", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.create_index(
        "ix_event_pending", "event", ["received_at"], postgresql_where=_WHERE, sqlite_where=_WHERE
    )


def downgrade() -> None:
    op.drop_index("ix_event_pending", table_name="event")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_column("pending")
