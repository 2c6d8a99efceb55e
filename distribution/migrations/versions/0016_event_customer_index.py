"""events by customer: the profile's timeline lists a customer's events

Partial, like the delivery indexes: an event always has a customer today, but the index stays
small where one does not.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 17:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHERE = sa.text("customer_id IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_event_customer",
        "event",
        ["project_id", "customer_id", "received_at"],
        postgresql_where=_WHERE,
        sqlite_where=_WHERE,
    )


def downgrade() -> None:
    op.drop_index("ix_event_customer", table_name="event")
