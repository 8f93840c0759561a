"""consent states for Sign in with Slack: which step a state is for, nonce and browser hashes

Revision ID: signin_states
Revises: 0002
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "signin_states"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Links issued before this revision went straight to Xero; marking them `legacy` makes every
    # step refuse them, so no consent can skip proving who opened the link.
    with op.batch_alter_table("oauth_states", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purpose", sa.String(length=16), server_default="legacy", nullable=False)
        )
        batch_op.add_column(sa.Column("nonce_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("browser_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("slack_user_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("slack_team_name", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oauth_states", schema=None) as batch_op:
        for name in ("slack_team_name", "slack_user_name", "browser_hash", "nonce_hash", "purpose"):
            batch_op.drop_column(name)
