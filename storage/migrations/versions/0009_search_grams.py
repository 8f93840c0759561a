"""search grams: short terms indexed, and a narrow index that counts text matches

Revision ID: search_grams
Revises: xero_budget
Create Date: 2026-12-11 09:00:00

A trigram index cannot look up a term of one or two characters, and scanning for one took
seconds on a large organisation. ``search_grams`` holds each row's characters and pairs of
characters as whole tokens (see :mod:`storage.search_grams`), indexed by a word index: FTS5
(unicode61) on SQLite, a GIN over ``to_tsvector('simple', …)`` on PostgreSQL (built in, so no
extension is needed).

SQLite also gets ``ix_mirror_keys``, led by the row id and holding what the count, the order and
the typed filters read: a text search counts its tens of thousands of matches from this narrow
index instead of from the wide rows.

The FTS5 table follows the rows through triggers, as the trigram one does; a batch migration
that rebuilds ``mirror_transactions`` must create them again (:func:`create_sqlite_index`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.search_grams import grams

revision = "search_grams"
down_revision = "xero_budget"
branch_labels = None
depends_on = None

_BATCH = 5000

_SQLITE_CREATE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS mirror_search_grams USING fts5("
    "search_grams, content='mirror_transactions', content_rowid='id', tokenize='unicode61', detail='none')",
    """CREATE TRIGGER IF NOT EXISTS mirror_grams_ai AFTER INSERT ON mirror_transactions BEGIN
        INSERT INTO mirror_search_grams(rowid, search_grams) VALUES (new.id, new.search_grams);
    END""",
    """CREATE TRIGGER IF NOT EXISTS mirror_grams_ad AFTER DELETE ON mirror_transactions BEGIN
        INSERT INTO mirror_search_grams(mirror_search_grams, rowid, search_grams)
        VALUES ('delete', old.id, old.search_grams);
    END""",
    """CREATE TRIGGER IF NOT EXISTS mirror_grams_au AFTER UPDATE OF search_grams ON mirror_transactions
    BEGIN
        INSERT INTO mirror_search_grams(mirror_search_grams, rowid, search_grams)
        VALUES ('delete', old.id, old.search_grams);
        INSERT INTO mirror_search_grams(rowid, search_grams) VALUES (new.id, new.search_grams);
    END""",
    "INSERT INTO mirror_search_grams(mirror_search_grams) VALUES ('rebuild')",
    "CREATE INDEX IF NOT EXISTS ix_mirror_keys ON mirror_transactions "
    "(id, tenant_id, date, bank_transaction_id, type, is_reconciled, total_e4, signed_e4)",
)


def create_sqlite_index(execute) -> None:
    for statement in _SQLITE_CREATE:
        execute(statement)


def _backfill(bind) -> None:
    """Grams for the rows mirrored before this revision, a batch at a time."""
    rows = sa.table(
        "mirror_transactions", sa.column("id"), sa.column("search_text"), sa.column("search_grams")
    )
    update = rows.update().where(rows.c.id == sa.bindparam("row_id")).values(search_grams=sa.bindparam("g"))
    after = 0
    while True:
        batch = bind.execute(
            sa.select(rows.c.id, rows.c.search_text)
            .where(rows.c.id > after)
            .order_by(rows.c.id)
            .limit(_BATCH)
        ).all()
        if not batch:
            return
        bind.execute(update, [{"row_id": i, "g": grams(text or "")} for i, text in batch])
        after = batch[-1][0]


def upgrade() -> None:
    # A plain ADD COLUMN (no table rebuild), so the trigram index's triggers stay in place.
    op.add_column(
        "mirror_transactions", sa.Column("search_grams", sa.Text(), nullable=False, server_default="")
    )
    bind = op.get_bind()
    _backfill(bind)
    if bind.dialect.name == "sqlite":
        create_sqlite_index(op.execute)
    elif bind.dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX IF NOT EXISTS ix_mirror_search_grams ON mirror_transactions "
            "USING gin (to_tsvector('simple'::regconfig, search_grams))"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in ("mirror_grams_au", "mirror_grams_ad", "mirror_grams_ai"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS mirror_search_grams")
        op.execute("DROP INDEX IF EXISTS ix_mirror_keys")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_mirror_search_grams")
    op.drop_column("mirror_transactions", "search_grams")  # SQLite 3.35+: no rebuild either
