"""delivery counts: pre-aggregated statistics kept by triggers; the message of an unsubscribe

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-08 00:50:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from distribution.models import delivery_counts

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = (
    "project_id",
    "campaign_id",
    "distribution_id",
    "template_id",
    "template_version_id",
    "channel",
)
_WITH_DELIVERY = sa.text("delivery_id IS NOT NULL")
_CONVERTED = sa.text("converted_at IS NOT NULL")


def _columns(*, primary: bool) -> list[sa.Column[Any]]:
    return [
        *(sa.Column(name, sa.String(), primary_key=primary, nullable=False) for name in _KEY),
        sa.Column("day", sa.Date(), primary_key=primary, nullable=False),
        sa.Column("status", sa.String(), primary_key=primary, nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("converted", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table("delivery_count", *_columns(primary=True))
    for name, column in (
        ("distribution", "distribution_id"),
        ("template", "template_id"),
        ("version", "template_version_id"),
    ):
        op.create_index(f"ix_delivery_count_{name}", "delivery_count", ["project_id", column])
    op.create_table(
        "delivery_count_delta",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        *_columns(primary=False),
    )
    op.add_column("suppression", sa.Column("delivery_id", sa.String(), nullable=True))
    op.create_index(
        "ix_suppression_delivery",
        "suppression",
        ["project_id", "delivery_id"],
        sqlite_where=_WITH_DELIVERY,
        postgresql_where=_WITH_DELIVERY,
    )
    op.create_index(
        "ix_delivery_converted",
        "delivery",
        ["project_id", "converted_at"],
        sqlite_where=_CONVERTED,
        postgresql_where=_CONVERTED,
    )
    connection = op.get_bind()
    delivery_counts.install(connection)
    delivery_counts.backfill(connection)


def downgrade() -> None:
    delivery_counts.drop_triggers(op.get_bind())
    op.drop_index("ix_delivery_converted", table_name="delivery")
    op.drop_index("ix_suppression_delivery", table_name="suppression")
    with op.batch_alter_table("suppression") as batch:
        batch.drop_column("delivery_id")
    op.drop_table("delivery_count_delta")
    op.drop_table("delivery_count")
