"""Filling a mirror straight from the sandbox's own data, for tests of search on the mirror.

What the sync would leave behind after a complete first sync, without running it: every live
transaction as a row, and a sync state saying when the mirror was last in step with Xero.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.services.mirror_rows import is_live, row_from_transaction
from bot.xero.models import BankTransaction
from storage.db import Database
from storage.mirror import upsert_rows
from storage.models import MirrorSyncState


def live_transactions(sb, tenant_id: str) -> list[BankTransaction]:
    every = (BankTransaction.from_xero(d) for d in sb.transactions(tenant_id))
    return [t for t in every if is_live(t)]


def fill_from_sandbox(db: Database, sb, tenant_id: str, *, at: datetime) -> int:
    rows = [row_from_transaction(t) for t in live_transactions(sb, tenant_id)]
    upsert_rows(db, tenant_id, rows, now=lambda: at)
    mark_synced(db, tenant_id, at=at, rows=len(rows))
    return len(rows)


def mark_synced(
    db: Database,
    tenant_id: str,
    *,
    at: datetime | None,
    complete: bool = True,
    rows: int = 0,
    expected: int | None = None,
    error: str | None = None,
) -> None:
    """The sync state as a sync would leave it: complete (in step ``at``) or still filling."""
    values = {
        "tenant_id": tenant_id,
        "first_sync_started_at": at,
        "first_sync_completed_at": at if complete else None,
        "last_delta_at": at if complete else None,
        "row_count": rows,
        "first_sync_expected": expected,
        "calls_today": 0,
        "last_error": error,
        "updated_at": at or datetime.now().astimezone(),
    }
    insert = sqlite_insert if db.is_sqlite else pg_insert
    statement = insert(MirrorSyncState).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[MirrorSyncState.tenant_id],
        set_={k: statement.excluded[k] for k in values if k != "tenant_id"},
    )
    with db.session() as session:
        session.execute(statement)
