"""mirror contact list: each organisation's contacts in a table; PostgreSQL's trigram index
holds the reference and line descriptions only

Revision ID: mirror_contact_list
Revises: mirror_contacts
Create Date: 2026-12-13 09:00:00

``mirror_contacts`` holds each organisation's distinct folded contacts. A trigger adds every
written row's (so every writer keeps it in step); a contact whose rows are all gone stays until
the organisation is read whole or forgotten, which costs a string that matches no row. Reading
it replaces a loose index scan of ``ix_mirror_contact`` (one seek per contact: 8.5 ms for 2,000
contacts on SQLite, 20 ms on PostgreSQL).

On PostgreSQL the ``pg_trgm`` GIN now indexes what follows the contact in ``search_text``
(:class:`storage.search_fields.after_first_line`): a contact's words had an entry for every one
of its transactions, and free text naming a common contact visited tens of thousands of rows
(a common word over 90 days at 1M: 176 -> 12 ms). Search splits such a term between the
contacts that hold it and the rest (:mod:`storage.mirror_search`). SQLite's FTS5 table keeps the
contact: FTS5 reads a trigram's whole list even under a column filter, so there the split read
the index twice and made a word held by a contact and by lines slower (68 -> 315 ms).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.search_fields import after_first_line

revision = "mirror_contact_list"
down_revision = "mirror_contacts"
branch_labels = None
depends_on = None

_SQLITE_TRIGGERS = tuple(
    f"""CREATE TRIGGER mirror_contacts_{name} AFTER {event} ON mirror_transactions BEGIN
        INSERT INTO mirror_contacts(tenant_id, contact_key) SELECT new.tenant_id, new.contact_key
        WHERE NOT EXISTS (SELECT 1 FROM mirror_contacts
                          WHERE tenant_id = new.tenant_id AND contact_key = new.contact_key);
    END"""  # noqa: S608 - constants, no input
    for name, event in (("ai", "INSERT"), ("au", "UPDATE OF search_text, tenant_id"))
)
_PG_TRIGGER = (
    """CREATE FUNCTION mirror_contacts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO mirror_contacts(tenant_id, contact_key) VALUES (NEW.tenant_id, NEW.contact_key)
        ON CONFLICT DO NOTHING;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER mirror_contacts_follow AFTER INSERT OR UPDATE OF search_text, tenant_id "
    "ON mirror_transactions FOR EACH ROW EXECUTE FUNCTION mirror_contacts_follow()",
)


def _trigram_index(expression: str) -> None:
    """The pg_trgm GIN over ``expression``, where the extension is there (without it search is
    unindexed, as before, and ``recon-bot check`` says so)."""
    bind = op.get_bind()
    if not bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").first():
        return
    op.execute("DROP INDEX IF EXISTS ix_mirror_search_trgm")
    op.execute(
        f"CREATE INDEX ix_mirror_search_trgm ON mirror_transactions USING gin (({expression}) gin_trgm_ops)"
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect
    op.create_table(
        "mirror_contacts",
        sa.Column("tenant_id", sa.String(length=64), primary_key=True),
        sa.Column("contact_key", sa.Text(), primary_key=True),
    )
    op.execute(
        "INSERT INTO mirror_contacts(tenant_id, contact_key) "
        "SELECT DISTINCT tenant_id, contact_key FROM mirror_transactions"
    )
    if dialect.name == "sqlite":
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
    elif dialect.name == "postgresql":
        for statement in _PG_TRIGGER:
            op.execute(statement)
        _trigram_index(str(after_first_line(sa.column("search_text")).compile(dialect=dialect)))


def downgrade() -> None:
    dialect = op.get_bind().dialect
    if dialect.name == "sqlite":
        for name in ("mirror_contacts_ai", "mirror_contacts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS mirror_contacts_follow ON mirror_transactions")
        op.execute("DROP FUNCTION IF EXISTS mirror_contacts_follow()")
        _trigram_index("search_text")
    op.drop_table("mirror_contacts")
