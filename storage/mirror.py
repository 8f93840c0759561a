"""Our copy of each organisation's bank transactions: writing rows in, taking them out.

The mirror is written by the sync (and by an edit's write-through) and read by search and the
digest. Rows arrive here already shaped (:class:`MirrorRow`): turning Xero's transactions into
rows, and folding text for matching, is the services' business, so storage knows nothing of
Xero. Every write is one statement per batch inside one transaction, so a crash mid-page leaves
either the whole page or none of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import MirrorContact, MirrorSyncState, MirrorTransaction, utcnow

# Rows per INSERT statement: SQLite allows 32,766 bound parameters, and a row binds 21.
_BATCH = 500
_KEY = ("tenant_id", "bank_transaction_id")


@dataclass(frozen=True)
class MirrorRow:
    """One live bank transaction as the mirror keeps it (money in ten-thousandths)."""

    bank_transaction_id: str
    type: str
    status: str
    date: date
    contact_id: str | None
    contact_name: str | None
    reference: str | None
    url: str | None
    bank_account_id: str
    bank_account_code: str | None
    bank_account_name: str
    currency_code: str | None
    total_e4: int
    signed_e4: int
    is_reconciled: bool
    updated_utc: datetime
    line_descriptions: str  # one per line
    has_attachments: bool
    search_text: str  # folded contact, reference and line descriptions, one per line


_COLUMNS = (*MirrorRow.__dataclass_fields__, "tenant_id", "mirrored_at", "search_grams")


def upsert_rows(
    db: Database, tenant_id: str, rows: Iterable[MirrorRow], *, now: Callable[[], datetime] = utcnow
) -> int:
    """Insert or replace rows by BankTransactionID, in one transaction. Returns rows written."""
    with db.session() as session:
        return write_rows(session, tenant_id, list(rows), stamp=now())


def remove_rows(db: Database, tenant_id: str, bank_transaction_ids: Sequence[str]) -> int:
    """Take transactions out (Xero deleted or voided them). Returns rows removed."""
    with db.session() as session:
        return delete_rows(session, tenant_id, bank_transaction_ids)


def write_rows(session: Session, tenant_id: str, rows: Sequence[MirrorRow], *, stamp: datetime) -> int:
    """The upsert inside a caller's transaction (the sync writes a page and its checkpoint together).

    A row replaces the stored one only if it is at least as new (Xero's UpdatedDateUTC): a delta
    that read a transaction just before an edit wrote Xero's newer answer through must not put
    the older copy back. Equal times do replace: reconciling need not move UpdatedDateUTC.
    """
    names = MirrorRow.__dataclass_fields__  # a shallow read: asdict() deep-copies every value
    values = [
        {**{name: getattr(row, name) for name in names}, "tenant_id": tenant_id, "mirrored_at": stamp}
        for row in rows
    ]
    if not values:
        return 0
    # One single-row statement, compiled once and cached, executed for every row (executemany):
    # compiling a 500-row VALUES clause for every batch cost more than the database's own work.
    session.connection().execute(_upsert_statement(session.get_bind().dialect.name), values)
    return len(values)


def _upsert_statement(dialect: str):
    insert = sqlite_insert if dialect == "sqlite" else pg_insert
    statement = insert(MirrorTransaction.__table__)
    return statement.on_conflict_do_update(
        index_elements=[MirrorTransaction.tenant_id, MirrorTransaction.bank_transaction_id],
        set_={k: statement.excluded[k] for k in _COLUMNS if k not in _KEY},
        where=MirrorTransaction.updated_utc <= statement.excluded.updated_utc,
    )


def delete_rows(session: Session, tenant_id: str, bank_transaction_ids: Sequence[str]) -> int:
    removed = 0
    ids = list(bank_transaction_ids)
    for start in range(0, len(ids), _BATCH):
        result = session.execute(
            delete(MirrorTransaction).where(
                MirrorTransaction.tenant_id == tenant_id,
                MirrorTransaction.bank_transaction_id.in_(ids[start : start + _BATCH]),
            )
        )
        removed += result.rowcount or 0
    return removed


def delete_unread(session: Session, tenant_id: str, *, before: datetime) -> int:
    """Take out every row not written since ``before``: after a whole read of the organisation,
    those are the ones Xero no longer returns."""
    result = session.execute(
        delete(MirrorTransaction).where(
            MirrorTransaction.tenant_id == tenant_id, MirrorTransaction.mirrored_at < before
        )
    )
    return result.rowcount or 0


def present_versions(
    session: Session, tenant_id: str, bank_transaction_ids: Sequence[str]
) -> dict[str, datetime]:
    """The UpdatedDateUTC the mirror holds for each of these it holds (a re-read of the same
    version is no work)."""
    found: dict[str, datetime] = {}
    ids = list(bank_transaction_ids)
    for start in range(0, len(ids), _BATCH):
        query = select(MirrorTransaction.bank_transaction_id, MirrorTransaction.updated_utc).where(
            MirrorTransaction.tenant_id == tenant_id,
            MirrorTransaction.bank_transaction_id.in_(ids[start : start + _BATCH]),
        )
        found.update((i, u) for i, u in session.execute(query))
    return found


def get_row(db: Database, tenant_id: str, bank_transaction_id: str) -> MirrorRow | None:
    with db.session() as session:
        found = session.scalars(
            select(MirrorTransaction).where(
                MirrorTransaction.tenant_id == tenant_id,
                MirrorTransaction.bank_transaction_id == bank_transaction_id,
            )
        ).first()
        return row_view(found) if found else None


def count_rows(db: Database, tenant_id: str) -> int:
    with db.session() as session:
        query = select(func.count()).select_from(MirrorTransaction)
        return session.scalar(query.where(MirrorTransaction.tenant_id == tenant_id))


def forget_tenant(db: Database, tenant_id: str) -> int:
    """Delete every mirrored row of an organisation and its sync state. Returns rows deleted.

    The state row goes first: a sync writing a page holds that row's lock, so this waits for
    the page and then deletes it too; a page after this finds no state and writes nothing.
    """
    with db.locked_session() as session:
        session.execute(delete(MirrorSyncState).where(MirrorSyncState.tenant_id == tenant_id))
        result = session.execute(delete(MirrorTransaction).where(MirrorTransaction.tenant_id == tenant_id))
        session.execute(delete(MirrorContact).where(MirrorContact.tenant_id == tenant_id))
        return result.rowcount or 0


def row_view(row: MirrorTransaction) -> MirrorRow:
    return MirrorRow(**{name: getattr(row, name) for name in MirrorRow.__dataclass_fields__})


__all__ = [
    "MirrorRow",
    "count_rows",
    "delete_rows",
    "delete_unread",
    "forget_tenant",
    "get_row",
    "present_versions",
    "remove_rows",
    "row_view",
    "upsert_rows",
    "write_rows",
]
