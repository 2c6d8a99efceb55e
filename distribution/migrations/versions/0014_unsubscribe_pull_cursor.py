"""unsubscribe pull cursor

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 14:17:48.618442
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unsubscribe_pull_cursor",
        sa.Column("provider_config_id", sa.String(), nullable=False),
        sa.Column("start_date", sa.String(length=10), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["provider_config_id"], ["provider_config.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("provider_config_id"),
    )


def downgrade() -> None:
    op.drop_table("unsubscribe_pull_cursor")
