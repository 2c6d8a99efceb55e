"""template variants: an A/B test splits a variant's sends between versions by weight

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    with op.batch_alter_table("template_variant") as batch:
        batch.add_column(sa.Column("ab_arms", json, nullable=True))
        batch.add_column(sa.Column("ab_started_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("template_variant") as batch:
        batch.drop_column("ab_started_at")
        batch.drop_column("ab_arms")
