"""xero budget: one organisation's share of Xero's limits, shared by every process

Revision ID: xero_budget
Revises: grant_refresh_lease
Create Date: 2026-12-10 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "xero_budget"
down_revision = "mirror_search_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "xero_budget_tenants",
        sa.Column("tenant_id", sa.String(length=64), primary_key=True),
        sa.Column("minute", sa.Text(), nullable=False),
        sa.Column("in_flight", sa.Text(), nullable=False),
        sa.Column("day_started", sa.Float(), nullable=False),
        sa.Column("day_used", sa.Integer(), nullable=False),
        sa.Column("day_background", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.Float(), nullable=False),
        sa.Column("blocked_problem", sa.String(length=40), nullable=False),
    )
    op.create_table(
        "xero_budget_app",
        sa.Column("bucket", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("calls", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("xero_budget_app")
    op.drop_table("xero_budget_tenants")
