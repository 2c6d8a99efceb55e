"""provider rate buckets shared by all workers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 00:50:31.202979
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provider_rate_bucket",
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("last_grant", sa.Integer(), nullable=False),
        sa.Column("refilled_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "provider"),
    )


def downgrade() -> None:
    op.drop_table("provider_rate_bucket")
