"""grant refresh lease: who is calling Xero for a grant, and refreshes that did not finish

Revision ID: grant_refresh_lease
Revises: digest_worklist
Create Date: 2026-12-09 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "grant_refresh_lease"
down_revision = "digest_worklist"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refreshing_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("refresh_pending_generation", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("refresh_pending_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_column("refresh_pending_since")
        batch_op.drop_column("refresh_pending_generation")
        batch_op.drop_column("refreshing_until")
