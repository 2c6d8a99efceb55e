"""delivery provider status: the provider's own word for an accepted message

A delivery is `sent` once its provider took it, but providers say different things when they
take one: Twilio `queued` or `accepted`, Mandrill `queued` or `scheduled`, Braze `success`. The
column keeps that word, so "accepted for later" stays apart from "handed on" without changing
what `sent` means to frequency caps and statistics.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN of a nullable column: no table copy, however many deliveries there are.
    op.add_column("delivery", sa.Column("provider_status", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("provider_status")
