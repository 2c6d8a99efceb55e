"""customer birthdate and async actions

Voucherify's customer object has a ``birthdate``; its SDK sends it, and it was refused as an
unknown field. Async actions hold bulk customer updates (``/v1/customers/bulk/async`` and
``/metadata/async``) until they run, and their results afterwards.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 04:19:00.237973
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "async_action",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("processing_time", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("async_action", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_async_action_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index("ix_async_action_status", ["status"], unique=False)

    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("birthdate", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_column("birthdate")

    with op.batch_alter_table("async_action", schema=None) as batch_op:
        batch_op.drop_index("ix_async_action_status")
        batch_op.drop_index(batch_op.f("ix_async_action_project_id"))

    op.drop_table("async_action")
