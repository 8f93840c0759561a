"""mirror search counts: covering indexes, so counting by type or exact amount never reads the rows

Revision ID: mirror_search_counts
Revises: mirror_search
Create Date: 2026-12-10 15:00:00

A search shows how many transactions match, so every search counts them. Counted through these
indexes alone, ``type:receive`` over eighteen months or an exact amount costs an index range
instead of a lookup of every wide row in it.
"""

from __future__ import annotations

from alembic import op

revision = "mirror_search_counts"
down_revision = "mirror_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_mirror_type", "mirror_transactions", ["tenant_id", "type", "date", "is_reconciled"])
    op.create_index("ix_mirror_amount", "mirror_transactions", ["tenant_id", "total_e4", "date", "signed_e4"])


def downgrade() -> None:
    op.drop_index("ix_mirror_amount", table_name="mirror_transactions")
    op.drop_index("ix_mirror_type", table_name="mirror_transactions")
