"""deliveries enqueued_until for the distributed sweeper

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 00:49:57.471082
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The rows no job carries yet (fresh bulk rows), found without scanning every queued row.
UNENQUEUED = "status = 'queued' AND enqueued_until IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("enqueued_until", sa.DateTime(), nullable=True))
    op.create_index(
        "ix_delivery_unenqueued",
        "delivery",
        ["next_attempt_at"],
        postgresql_where=sa.text(UNENQUEUED),
        sqlite_where=sa.text(UNENQUEUED),
    )


def downgrade() -> None:
    op.drop_index("ix_delivery_unenqueued", table_name="delivery")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("enqueued_until")
