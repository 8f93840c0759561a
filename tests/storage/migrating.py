"""Rows written as an older revision's table held them, to see what a migration does to them."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from bot.services.mirror_rows import row_from_transaction
from bot.xero.models import BankTransaction
from storage import migrate


def mirrored_at_revision(
    engine: sa.Engine, revision: str, txn: BankTransaction, *, tenant: str, **columns
) -> None:
    """Take the schema down to ``revision`` and mirror ``txn`` with that revision's columns
    (``columns`` adds what it had beyond a :class:`storage.mirror.MirrorRow`); then upgrade,
    however the write went, so the next test finds the schema at head."""
    config = migrate._config(engine)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, revision)
        row = row_from_transaction(txn)
        values = {k: getattr(row, k) for k in row.__dataclass_fields__}
        values |= {"tenant_id": tenant, "mirrored_at": row.updated_utc, **columns}
        table = sa.table("mirror_transactions", *(sa.column(k) for k in values))
        with engine.begin() as conn:
            conn.execute(sa.insert(table).values(**values))
    finally:
        migrate.upgrade(engine)
