"""the mirror: bank transactions, sync state per organisation, organisation details

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mirror_transactions",
        sa.Column("id", _KEY, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("bank_transaction_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("contact_id", sa.String(length=64), nullable=True),
        sa.Column("contact_name", sa.Text(), nullable=True),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("bank_account_id", sa.String(length=64), nullable=False),
        sa.Column("bank_account_code", sa.String(length=32), nullable=True),
        sa.Column("bank_account_name", sa.Text(), nullable=False),
        sa.Column("currency_code", sa.String(length=8), nullable=True),
        sa.Column("total_e4", sa.BigInteger(), nullable=False),
        sa.Column("signed_e4", sa.BigInteger(), nullable=False),
        sa.Column("is_reconciled", sa.Boolean(), nullable=False),
        sa.Column("updated_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("line_descriptions", sa.Text(), nullable=False),
        sa.Column("has_attachments", sa.Boolean(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("mirrored_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "bank_transaction_id", name="uq_mirror_txn"),
    )
    op.create_index("ix_mirror_date", "mirror_transactions", ["tenant_id", "date", "bank_transaction_id"])
    op.create_index("ix_mirror_unreconciled", "mirror_transactions", ["tenant_id", "is_reconciled", "date"])
    op.create_index("ix_mirror_updated", "mirror_transactions", ["tenant_id", "updated_utc"])
    op.create_index("ix_mirror_total", "mirror_transactions", ["tenant_id", "total_e4"])

    op.create_table(
        "mirror_sync_state",
        sa.Column("tenant_id", sa.String(length=64), primary_key=True),
        sa.Column("bookmark_utc", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_sync_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_sync_page", sa.Integer(), nullable=True),
        sa.Column("first_sync_bookmark_utc", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_sync_expected", sa.Integer(), nullable=True),
        sa.Column("first_sync_completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_delta_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sweep_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_full_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("calls_day", sa.Date(), nullable=True),
        sa.Column("calls_today", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )

    op.create_table(
        "organisations",
        sa.Column("tenant_id", sa.String(length=64), primary_key=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("short_code", sa.String(length=32), nullable=True),
        sa.Column("country_code", sa.String(length=8), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("base_currency", sa.String(length=8), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("organisations")
    op.drop_table("mirror_sync_state")
    op.drop_index("ix_mirror_total", table_name="mirror_transactions")
    op.drop_index("ix_mirror_updated", table_name="mirror_transactions")
    op.drop_index("ix_mirror_unreconciled", table_name="mirror_transactions")
    op.drop_index("ix_mirror_date", table_name="mirror_transactions")
    op.drop_table("mirror_transactions")
