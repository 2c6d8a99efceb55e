"""distributions, events, deliveries, status history, suppressions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 22:19:35.950379
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=True),
        sa.Column("distribution_id", sa.String(), nullable=True),
        sa.Column("bulk_job_id", sa.String(), nullable=True),
        sa.Column("customer_id", sa.String(), nullable=True),
        sa.Column("campaign_id", sa.String(), nullable=True),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("template_id", sa.String(), nullable=True),
        sa.Column("template_version_id", sa.String(), nullable=True),
        sa.Column("marketing", sa.Boolean(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column(
            "content",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("provider_message_id", sa.String(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "idempotency_key", name="uq_delivery_idempotency"),
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_bulk_job_id"), ["bulk_job_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_delivery_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_delivery_distribution_id"), ["distribution_id"], unique=False
        )
        batch_op.create_index("ix_delivery_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_delivery_event_id"), ["event_id"], unique=False)
        batch_op.create_index("ix_delivery_project_created", ["project_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_delivery_project_id"), ["project_id"], unique=False)
        batch_op.create_index(
            "ix_delivery_provider_message", ["provider", "provider_message_id"], unique=False
        )

    op.create_table(
        "distribution",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column(
            "filters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column(
            "channels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("frequency_cap_hours", sa.Integer(), nullable=True),
        sa.Column(
            "quiet_hours",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=True),
        sa.Column("updated_by", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name", name="uq_distribution_name"),
    )
    with op.batch_alter_table("distribution", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_distribution_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_distribution_trigger"), ["trigger"], unique=False)

    op.create_table(
        "event",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("dedupe_key", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "dedupe_key", name="uq_event_dedupe"),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_project_id"), ["project_id"], unique=False)

    op.create_table(
        "suppression",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=True),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "channel", "address", name="uq_suppression_address"),
    )
    with op.batch_alter_table("suppression", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_suppression_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_suppression_project_id"), ["project_id"], unique=False)

    op.create_table(
        "delivery_status_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["delivery.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("delivery_status_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delivery_status_change_delivery_id"), ["delivery_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery_status_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_status_change_delivery_id"))

    op.drop_table("delivery_status_change")
    with op.batch_alter_table("suppression", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suppression_project_id"))
        batch_op.drop_index(batch_op.f("ix_suppression_customer_id"))

    op.drop_table("suppression")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_project_id"))

    op.drop_table("event")
    with op.batch_alter_table("distribution", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_distribution_trigger"))
        batch_op.drop_index(batch_op.f("ix_distribution_project_id"))

    op.drop_table("distribution")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_provider_message")
        batch_op.drop_index(batch_op.f("ix_delivery_project_id"))
        batch_op.drop_index("ix_delivery_project_created")
        batch_op.drop_index(batch_op.f("ix_delivery_event_id"))
        batch_op.drop_index("ix_delivery_due")
        batch_op.drop_index(batch_op.f("ix_delivery_distribution_id"))
        batch_op.drop_index(batch_op.f("ix_delivery_customer_id"))
        batch_op.drop_index(batch_op.f("ix_delivery_bulk_job_id"))

    op.drop_table("delivery")
