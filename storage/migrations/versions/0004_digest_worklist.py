"""the digest as a worklist: posted digest messages and the rows they show, failure DMs,
modals waiting for a connection

Revision ID: digest_worklist
Revises: signin_states
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "digest_worklist"
down_revision = "signin_states"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("digest_runs") as batch:
        batch.add_column(sa.Column("owner_told_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "digest_posts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slack_team_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("message_ts", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("digest_runs.id", ondelete="CASCADE"), nullable=True),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("channel_id", "message_ts", name="uq_digest_post_message"),
    )
    op.create_index("ix_digest_posts_run", "digest_posts", ["run_id"])
    op.create_index("ix_digest_posts_posted", "digest_posts", ["posted_at"])

    op.create_table(
        "digest_post_rows",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "post_id", sa.Integer(), sa.ForeignKey("digest_posts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("bank_transaction_id", sa.String(length=64), nullable=False),
        sa.Column("fixed_by", sa.String(length=32), nullable=True),
        sa.Column("fixed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fixed_reference", sa.Text(), nullable=True),
        sa.UniqueConstraint("post_id", "bank_transaction_id", name="uq_digest_post_row"),
    )
    op.create_index("ix_digest_post_rows_txn", "digest_post_rows", ["tenant_id", "bank_transaction_id"])

    op.create_table(
        "views_awaiting_connection",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slack_team_id", sa.String(length=32), nullable=False),
        sa.Column("slack_user_id", sa.String(length=32), nullable=False),
        sa.Column("view_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_views_awaiting_user", "views_awaiting_connection", ["slack_team_id", "slack_user_id"])


def downgrade() -> None:
    op.drop_index("ix_views_awaiting_user", table_name="views_awaiting_connection")
    op.drop_table("views_awaiting_connection")
    op.drop_index("ix_digest_post_rows_txn", table_name="digest_post_rows")
    op.drop_table("digest_post_rows")
    op.drop_index("ix_digest_posts_posted", table_name="digest_posts")
    op.drop_index("ix_digest_posts_run", table_name="digest_posts")
    op.drop_table("digest_posts")
    with op.batch_alter_table("digest_runs") as batch:
        batch.drop_column("owner_told_at")
