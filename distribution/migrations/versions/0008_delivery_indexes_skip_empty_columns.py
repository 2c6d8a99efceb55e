"""delivery indexes skip empty columns

A bulk message has no event or distribution, a triggered one no bulk job, and no message has a
provider's id before it is sent. Every status change writes a row's entries into every index
again (the status is indexed, so PostgreSQL cannot update in place), so these four indexes wrote
entries for NULLs three times per message. As partial indexes (``WHERE column IS NOT NULL``)
they hold only the rows lookups can find, and lookups by value use them as before.

Rebuilding them reads the delivery table once; on a large table, run ``dm migrate`` at a quiet
moment.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 08:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name -> its columns; the last column is the one that is often NULL.
_INDEXES = {
    "ix_delivery_provider_message": ["provider", "provider_message_id"],
    "ix_delivery_event_id": ["event_id"],
    "ix_delivery_distribution_id": ["distribution_id"],
    "ix_delivery_bulk_job_id": ["bulk_job_id"],
}


def upgrade() -> None:
    for name, columns in _INDEXES.items():
        where = sa.text(f"{columns[-1]} IS NOT NULL")
        op.drop_index(name, table_name="delivery")
        op.create_index(name, "delivery", columns, postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    for name, columns in _INDEXES.items():
        op.drop_index(name, table_name="delivery")
        op.create_index(name, "delivery", columns)
