"""resubscriptions void older unsubscribe links

Unsubscribe links now carry the moment they were issued. When a customer opts in again after
being suppressed, this table keeps that moment per channel, and a link issued before it no longer
unsubscribes: an old message cannot undo a later opt-in.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resubscription",
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("customer_id", "channel"),
    )
    op.create_index(
        op.f("ix_resubscription_project_id"), "resubscription", ["project_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_resubscription_project_id"), table_name="resubscription")
    op.drop_table("resubscription")
