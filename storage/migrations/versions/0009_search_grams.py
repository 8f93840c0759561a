"""search grams and keys: short terms indexed; SQLite's text indexes keyed by organisation and date

Revision ID: search_grams
Revises: xero_budget
Create Date: 2026-12-11 09:00:00

A trigram index cannot look up a term of one or two characters, and scanning for one took
seconds on a large organisation. ``search_grams`` holds each row's characters and pairs of
characters as whole tokens (see :mod:`storage.search_grams`), indexed by a word index: FTS5
(unicode61) on SQLite, a GIN over ``to_tsvector('simple', …)`` on PostgreSQL (built in, so no
extension is needed).

SQLite: the trigram FTS5 table is rebuilt, and the grams one built, as contentless tables whose
rowid is the search key of :mod:`storage.search_keys` (organisation, day, row id), so a text
search counts and orders its matches inside the index. Triggers keep them in step (a
contentless table is told the old text to take out); a batch migration that rebuilds
``mirror_transactions`` must create them again (:func:`create_sqlite_index`).
``ix_mirror_amount`` also holds type and status, so an amount range with ``type:`` is counted
from the index. ``ix_mirror_keys``, led by the row id, holds what the typed filters and the
order read, for the searches that need more than the text index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.search_grams import grams
from storage.search_keys import key_sql, text_columns_sql

revision = "search_grams"
down_revision = "xero_budget"
branch_labels = None
depends_on = None

_BATCH = 5000
_NEW, _OLD = key_sql("new"), key_sql("old")
# Not INSERT OR IGNORE: inside a trigger the outer statement's conflict policy (an upsert's)
# overrides the inner one.
_NUMBER = (
    "INSERT INTO mirror_search_tenants(tenant_id) SELECT new.tenant_id WHERE NOT EXISTS "
    "(SELECT 1 FROM mirror_search_tenants WHERE tenant_id = new.tenant_id);"
)
# The key packs organisation number and row id into fixed bits (storage.search_keys): a row past
# them would share keys with another's, so it is refused loudly rather than indexed wrongly.
_KEY_GUARD = (  # ID_MASK and MAX_TENANTS of storage.search_keys (tests/storage/test_search_grams.py)
    "SELECT RAISE(ABORT, 'mirror: beyond the text index key space (65,535 organisations, 2^32 rows)') "
    "WHERE new.id > 4294967295 "
    "OR (SELECT number FROM mirror_search_tenants WHERE tenant_id = new.tenant_id) > 65535;"
)
_OLD_TRIGGERS = ("mirror_search_au", "mirror_search_ad", "mirror_search_ai")
_TRIGGERS = ("mirror_grams_au", "mirror_text_au", "mirror_text_ad", "mirror_text_ai")


def _text(row: str) -> str:
    return ", ".join(text_columns_sql(row))


_TEXT_COLUMNS = "contact, reference, lines"
_SQLITE_CREATE = (
    "CREATE TABLE IF NOT EXISTS mirror_search_tenants ("
    "number INTEGER PRIMARY KEY, tenant_id VARCHAR(64) NOT NULL UNIQUE)",
    "INSERT OR IGNORE INTO mirror_search_tenants(tenant_id) "
    "SELECT DISTINCT tenant_id FROM mirror_transactions",
    "CREATE VIRTUAL TABLE IF NOT EXISTS mirror_text_fts USING fts5("
    "contact, reference, lines, content='', tokenize='trigram')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS mirror_grams_fts USING fts5("
    "search_grams, content='', tokenize='unicode61', detail='none')",
    f"""CREATE TRIGGER IF NOT EXISTS mirror_text_ai AFTER INSERT ON mirror_transactions BEGIN
        {_NUMBER}
        {_KEY_GUARD}
        INSERT INTO mirror_text_fts(rowid, {_TEXT_COLUMNS}) VALUES ({_NEW}, {_text("new")});
        INSERT INTO mirror_grams_fts(rowid, search_grams) VALUES ({_NEW}, new.search_grams);
    END""",  # noqa: S608 - constants, no input
    f"""CREATE TRIGGER IF NOT EXISTS mirror_text_ad AFTER DELETE ON mirror_transactions BEGIN
        INSERT INTO mirror_text_fts(mirror_text_fts, rowid, {_TEXT_COLUMNS})
        VALUES ('delete', {_OLD}, {_text("old")});
        INSERT INTO mirror_grams_fts(mirror_grams_fts, rowid, search_grams)
        VALUES ('delete', {_OLD}, old.search_grams);
    END""",  # noqa: S608 - constants, no input
    f"""CREATE TRIGGER IF NOT EXISTS mirror_text_au
    AFTER UPDATE OF search_text, date, tenant_id, id ON mirror_transactions BEGIN
        INSERT INTO mirror_text_fts(mirror_text_fts, rowid, {_TEXT_COLUMNS})
        VALUES ('delete', {_OLD}, {_text("old")});
        {_NUMBER}
        {_KEY_GUARD}
        INSERT INTO mirror_text_fts(rowid, {_TEXT_COLUMNS}) VALUES ({_NEW}, {_text("new")});
    END""",  # noqa: S608 - constants, no input
    f"""CREATE TRIGGER IF NOT EXISTS mirror_grams_au
    AFTER UPDATE OF search_grams, date, tenant_id, id ON mirror_transactions BEGIN
        INSERT INTO mirror_grams_fts(mirror_grams_fts, rowid, search_grams)
        VALUES ('delete', {_OLD}, old.search_grams);
        {_NUMBER}
        INSERT INTO mirror_grams_fts(rowid, search_grams) VALUES ({_NEW}, new.search_grams);
    END""",  # noqa: S608 - constants, no input
    "CREATE INDEX IF NOT EXISTS ix_mirror_keys ON mirror_transactions "
    "(id, tenant_id, date, bank_transaction_id, type, is_reconciled, total_e4, signed_e4)",
)
# Rows mirrored before this revision (the tables are new, so nothing is there to take out).
_SQLITE_FILL = (
    "INSERT INTO mirror_text_fts(rowid, contact, reference, lines) SELECT :key, :text "
    "FROM mirror_transactions AS m".replace(":key", key_sql("m")).replace(":text", _text("m")),
    "INSERT INTO mirror_grams_fts(rowid, search_grams) SELECT :key, search_grams "
    "FROM mirror_transactions AS m".replace(":key", key_sql("m")),
)


def create_sqlite_index(execute) -> None:
    """The indexes and their triggers; after a table rebuild, also :data:`_SQLITE_FILL` (empty
    the FTS5 tables first: ``INSERT INTO mirror_text_fts(mirror_text_fts) VALUES ('delete-all')``)."""
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


_AMOUNT = ["tenant_id", "total_e4", "date", "signed_e4"]


def upgrade() -> None:
    bind = op.get_bind()
    # The amount index covers type and status too: "min:100 max:200 type:spend" read every row
    # in the amount range to see its type.
    op.drop_index("ix_mirror_amount", table_name="mirror_transactions")
    op.create_index("ix_mirror_amount", "mirror_transactions", [*_AMOUNT, "type", "is_reconciled"])
    if bind.dialect.name == "sqlite":
        # The trigram table keyed by row id gives way to the keyed one below.
        for name in _OLD_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS mirror_search_fts")
    # A plain ADD COLUMN (no table rebuild), so no trigger is lost with the table.
    op.add_column(
        "mirror_transactions", sa.Column("search_grams", sa.Text(), nullable=False, server_default="")
    )
    _backfill(bind)
    if bind.dialect.name == "sqlite":
        create_sqlite_index(op.execute)
        for statement in _SQLITE_FILL:
            op.execute(statement)
    elif bind.dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX IF NOT EXISTS ix_mirror_search_grams ON mirror_transactions "
            "USING gin (to_tsvector('simple'::regconfig, search_grams))"
        )


def downgrade() -> None:
    bind = op.get_bind()
    op.drop_index("ix_mirror_amount", table_name="mirror_transactions")
    op.create_index("ix_mirror_amount", "mirror_transactions", _AMOUNT)
    if bind.dialect.name == "sqlite":
        for name in _TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        for name in ("mirror_text_fts", "mirror_grams_fts", "mirror_search_tenants"):
            op.execute(f"DROP TABLE IF EXISTS {name}")
        op.execute("DROP INDEX IF EXISTS ix_mirror_keys")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_mirror_search_grams")
    op.drop_column("mirror_transactions", "search_grams")  # SQLite 3.35+: no rebuild either
    if bind.dialect.name == "sqlite":
        # The trigram table as the previous revision built it, keyed by row id.
        statements = (
            "CREATE VIRTUAL TABLE mirror_search_fts USING fts5("
            "search_text, content='mirror_transactions', content_rowid='id', tokenize='trigram')",
            """CREATE TRIGGER mirror_search_ai AFTER INSERT ON mirror_transactions BEGIN
                INSERT INTO mirror_search_fts(rowid, search_text) VALUES (new.id, new.search_text);
            END""",
            """CREATE TRIGGER mirror_search_ad AFTER DELETE ON mirror_transactions BEGIN
                INSERT INTO mirror_search_fts(mirror_search_fts, rowid, search_text)
                VALUES ('delete', old.id, old.search_text);
            END""",
            """CREATE TRIGGER mirror_search_au AFTER UPDATE OF search_text ON mirror_transactions BEGIN
                INSERT INTO mirror_search_fts(mirror_search_fts, rowid, search_text)
                VALUES ('delete', old.id, old.search_text);
                INSERT INTO mirror_search_fts(rowid, search_text) VALUES (new.id, new.search_text);
            END""",
            "INSERT INTO mirror_search_fts(mirror_search_fts) VALUES ('rebuild')",
        )
        for statement in statements:
            op.execute(statement)
