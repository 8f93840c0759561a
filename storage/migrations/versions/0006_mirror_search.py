"""mirror search: a trigram index over the mirror's folded text, on each dialect

Revision ID: mirror_search
Revises: xero_budget
Create Date: 2026-12-10 09:00:00

SQLite: an FTS5 table with the trigram tokenizer, its content the ``search_text`` column of
``mirror_transactions`` (external content: the text is stored once) and kept in step by
triggers. An upsert's ``ON CONFLICT DO UPDATE`` fires the update trigger like any UPDATE.
Rebuilding ``mirror_transactions`` (a batch migration that copies the table) drops these
triggers with it; such a migration must create them again (see :func:`create_sqlite_index`).

PostgreSQL: ``pg_trgm`` and a GIN trigram index, which serves ``LIKE '%…%'``. Creating an
extension needs a privilege the role may lack; the migration then goes on without the index and
search stays correct, only slower (``recon-bot check`` says so).
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "mirror_search"
down_revision = "grant_refresh_lease"
branch_labels = None
depends_on = None

_SQLITE_CREATE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS mirror_search_fts USING fts5("
    "search_text, content='mirror_transactions', content_rowid='id', tokenize='trigram')",
    """CREATE TRIGGER IF NOT EXISTS mirror_search_ai AFTER INSERT ON mirror_transactions BEGIN
        INSERT INTO mirror_search_fts(rowid, search_text) VALUES (new.id, new.search_text);
    END""",
    """CREATE TRIGGER IF NOT EXISTS mirror_search_ad AFTER DELETE ON mirror_transactions BEGIN
        INSERT INTO mirror_search_fts(mirror_search_fts, rowid, search_text)
        VALUES ('delete', old.id, old.search_text);
    END""",
    """CREATE TRIGGER IF NOT EXISTS mirror_search_au AFTER UPDATE OF search_text ON mirror_transactions
    BEGIN
        INSERT INTO mirror_search_fts(mirror_search_fts, rowid, search_text)
        VALUES ('delete', old.id, old.search_text);
        INSERT INTO mirror_search_fts(rowid, search_text) VALUES (new.id, new.search_text);
    END""",
    # Rows mirrored before this revision.
    "INSERT INTO mirror_search_fts(mirror_search_fts) VALUES ('rebuild')",
)


def create_sqlite_index(execute) -> None:
    for statement in _SQLITE_CREATE:
        execute(statement)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        create_sqlite_index(op.execute)
        return
    if bind.dialect.name != "postgresql":
        return
    try:
        # A savepoint: a refused CREATE EXTENSION must not abort the migration's transaction.
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError:
        pass
    installed = bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").first()
    if installed:
        bind.exec_driver_sql(
            "CREATE INDEX IF NOT EXISTS ix_mirror_search_trgm ON mirror_transactions "
            "USING gin (search_text gin_trgm_ops)"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in ("mirror_search_au", "mirror_search_ad", "mirror_search_ai"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS mirror_search_fts")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_mirror_search_trgm")  # pg_trgm may serve others: kept
