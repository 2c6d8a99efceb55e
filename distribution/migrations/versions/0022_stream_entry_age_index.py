"""stream entries by age: the scheduler forgets those past their retention

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08 00:55:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_stream_entry_created_at", "stream_entry", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_stream_entry_created_at", table_name="stream_entry")
