"""templates, provider configs and users

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 22:17:34.939185
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "email", name="uq_user_project_email"),
    )
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_app_user_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_app_user_project_id"), ["project_id"], unique=False)

    op.create_table(
        "message_template",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name", name="uq_template_project_name"),
    )
    with op.batch_alter_table("message_template", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_message_template_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "provider_config",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column(
            "settings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("secrets_encrypted", sa.Text(), nullable=False),
        sa.Column("max_concurrency", sa.Integer(), nullable=True),
        sa.Column("rate_per_second", sa.Float(), nullable=True),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name", name="uq_provider_project_name"),
    )
    with op.batch_alter_table("provider_config", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_provider_config_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "template_variant",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("template_id", sa.String(), nullable=False),
        sa.Column("campaign_id", sa.String(), nullable=True),
        sa.Column("segment_id", sa.String(), nullable=True),
        sa.Column("locale", sa.String(), nullable=True),
        sa.Column("variant_key", sa.String(), nullable=False),
        sa.Column("live_version_id", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["segment_id"], ["segment.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["template_id"], ["message_template.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("template_id", "variant_key", name="uq_variant_key"),
    )
    with op.batch_alter_table("template_variant", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_template_variant_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_template_variant_template_id"), ["template_id"], unique=False
        )

    op.create_table(
        "template_version",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("project_id", sa.String(), nullable=False),
        sa.Column("template_id", sa.String(), nullable=False),
        sa.Column("variant_id", sa.String(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_format", sa.String(), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=True),
        sa.Column("gsm_safe", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(), nullable=True),
        sa.Column("created_by", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.Column("published_by", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["template_id"], ["message_template.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["variant_id"], ["template_variant.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("variant_id", "number", name="uq_version_number"),
    )
    with op.batch_alter_table("template_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_template_version_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(
            "ix_template_version_template", ["template_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("template_version", schema=None) as batch_op:
        batch_op.drop_index("ix_template_version_template")
        batch_op.drop_index(batch_op.f("ix_template_version_project_id"))

    op.drop_table("template_version")
    with op.batch_alter_table("template_variant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_template_variant_template_id"))
        batch_op.drop_index(batch_op.f("ix_template_variant_project_id"))

    op.drop_table("template_variant")
    with op.batch_alter_table("provider_config", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_config_project_id"))

    op.drop_table("provider_config")
    with op.batch_alter_table("message_template", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_template_project_id"))

    op.drop_table("message_template")
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_app_user_project_id"))
        batch_op.drop_index(batch_op.f("ix_app_user_email"))

    op.drop_table("app_user")
