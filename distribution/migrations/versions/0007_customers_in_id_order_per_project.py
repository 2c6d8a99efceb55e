"""customers in id order per project

Bulk jobs walk a segment's customers in pages (``project_id = ? AND id > ? ORDER BY id LIMIT
n``). With only indexes that start with ``project_id`` and go on with another column, SQLite
scanned and sorted the whole project for every page: a 100,000-customer job read its audience
about fifty times over. This index serves the range and the order at once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 04:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_customer_project_id_order", "customer", ["project_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_customer_project_id_order", table_name="customer")
