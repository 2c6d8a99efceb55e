"""event streams: feeds of our events that a BI job pages through from a cursor

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNPLACED = sa.text("position IS NULL")


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    op.create_table(
        "event_stream",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column(
            "project_id",
            sa.String(),
            sa.ForeignKey("project.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("event_types", json, nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "stream_entry",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column(
            "stream_id",
            sa.String(),
            sa.ForeignKey("event_stream.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_type", sa.String(), nullable=False),
        sa.Column("payload", json, nullable=True),
        sa.Column("position", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_stream_entry_position", "stream_entry", ["stream_id", "position"])
    op.create_index(
        "ix_stream_entry_unplaced",
        "stream_entry",
        ["id"],
        sqlite_where=_UNPLACED,
        postgresql_where=_UNPLACED,
    )
    op.create_table(
        "stream_sequence",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("last", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO stream_sequence (id, last) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("stream_sequence")
    op.drop_index("ix_stream_entry_unplaced", table_name="stream_entry")
    op.drop_index("ix_stream_entry_position", table_name="stream_entry")
    op.drop_table("stream_entry")
    op.drop_table("event_stream")
