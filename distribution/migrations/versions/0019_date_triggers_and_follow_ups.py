"""date triggers and follow-ups: a distribution's schedule, delay and recheck; waiting follow-ups

A date trigger (``customer.date``) fires on a customer's date at a local hour; a delayed
distribution waits in ``follow_up`` rows, which survive a restart, and is re-checked when due.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("distribution", schema=None) as batch_op:
        batch_op.add_column(sa.Column("schedule", _JSON, nullable=True))
        batch_op.add_column(sa.Column("delay_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("recheck", _JSON, nullable=True))
    op.create_table(
        "follow_up",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("distribution_id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=True),
        sa.Column("referrer_id", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "distribution_id", name="uq_follow_up_event_distribution"),
    )
    op.create_index("ix_follow_up_project_id", "follow_up", ["project_id"], unique=False)
    op.create_index("ix_follow_up_due", "follow_up", ["status", "due_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_follow_up_due", table_name="follow_up")
    op.drop_index("ix_follow_up_project_id", table_name="follow_up")
    op.drop_table("follow_up")
    with op.batch_alter_table("distribution", schema=None) as batch_op:
        batch_op.drop_column("recheck")
        batch_op.drop_column("delay_seconds")
        batch_op.drop_column("schedule")
