"""Search over the mirror: every filter in SQL, a page of rows and the total count.

Text is matched as substrings of ``search_text``, which holds the contact, the reference and
each line description folded for matching, one per line (see :mod:`storage.mirror`). Callers
pass terms folded the same way, so an exact substring test here means what the bot's own
matching means: case- and accent-insensitive, a term found within one field. (Folded terms hold
no newline, so a term can never match across two fields.)

The trigram index (FTS5 on SQLite, ``pg_trgm`` GIN on PostgreSQL) only narrows the candidates:
every term is also tested exactly (``instr`` / ``LIKE`` with its wildcards escaped), so what the
index's own folding or tokenising might let through never reaches the answer. Trigrams need
three characters; a shorter term is tested exactly without the index — correct, only slower.
Without ``pg_trgm`` (a role that may not create extensions) the same ``LIKE`` runs unindexed.

User text reaches the database only as bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, Connection, column, func, select, table, text
from sqlalchemy.sql.expression import literal

from storage.db import Database
from storage.mirror import MirrorRow, row_view
from storage.models import MirrorTransaction

FTS_TABLE = "mirror_search_fts"
PG_INDEX = "ix_mirror_search_trgm"
TRIGRAM = 3  # shortest term a trigram index can look up
_FTS = table(FTS_TABLE, column("rowid"), column(FTS_TABLE))
_T = MirrorTransaction


@dataclass(frozen=True)
class MirrorFilter:
    """What to find. Text fields must be folded already (``bot.services.textmatch.normalise``);
    ``None``/empty means "no constraint". Money in ten-thousandths."""

    terms: tuple[str, ...] = ()  # each must appear in the contact, reference or a line description
    contact: str | None = None  # substring of the folded contact name
    reference: str | None = None  # substring of the folded reference
    bank_account_id: str | None = None
    types: tuple[str, ...] = ()
    reconciled: bool | None = None
    date_from: date | None = None
    date_to: date | None = None
    min_total_e4: int | None = None  # on the total without its sign
    max_total_e4: int | None = None
    total_e4: int | None = None  # exactly this total, whatever the sign
    signed_e4: int | None = None  # exactly this, money out negative


@dataclass(frozen=True)
class MirrorPage:
    rows: tuple[MirrorRow, ...]
    total: int  # every match, not only this page's


@dataclass(frozen=True)
class MirrorAccount:
    """A bank account as the mirror knows it: from the transactions in it."""

    account_id: str
    code: str | None
    name: str


def search_mirror(
    db: Database,
    tenant_id: str,
    wanted: MirrorFilter,
    *,
    offset: int = 0,
    limit: int = 10,
    oldest_first: bool = False,
) -> MirrorPage:
    """One page of matches, newest first (then by BankTransactionID, descending) — or oldest
    first, ascending, as the digest lists them — and the count.

    Both statements run in one transaction so the count and the page agree.
    """
    if offset < 0 or limit < 0:
        raise ValueError("offset and limit must not be negative")
    where = _where(db, tenant_id, wanted)
    order = (
        (_T.date.asc(), _T.bank_transaction_id.asc())
        if oldest_first
        else (_T.date.desc(), _T.bank_transaction_id.desc())
    )
    page = select(_T).where(*where).order_by(*order).offset(offset).limit(limit)
    count = select(func.count()).select_from(_T).where(*where)
    with db.session() as session:
        if not db.is_sqlite:
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        total = int(session.scalar(count) or 0)
        rows = tuple(row_view(r) for r in session.scalars(page)) if offset < total and limit else ()
    return MirrorPage(rows, total)


def unreconciled_rows(db: Database, tenant_id: str) -> tuple[MirrorRow, ...]:
    """Every unreconciled item of an organisation, oldest first (then by BankTransactionID): what
    a digest counts and lists. The mirror holds only live transactions, whatever their type."""
    query = (
        select(_T)
        .where(_T.tenant_id == tenant_id, _T.is_reconciled.is_(False))
        .order_by(_T.date.asc(), _T.bank_transaction_id.asc())
    )
    with db.session() as session:
        return tuple(row_view(r) for r in session.scalars(query))


def mirror_bank_accounts(db: Database, tenant_id: str) -> list[MirrorAccount]:
    """The bank accounts the organisation's mirrored transactions are in (for ``account:``)."""
    query = (
        select(_T.bank_account_id, _T.bank_account_code, _T.bank_account_name)
        .where(_T.tenant_id == tenant_id)
        .group_by(_T.bank_account_id, _T.bank_account_code, _T.bank_account_name)
        .order_by(_T.bank_account_name, _T.bank_account_id)
    )
    with db.session() as session:
        found: dict[str, MirrorAccount] = {}
        for account_id, code, name in session.execute(query):
            found.setdefault(account_id, MirrorAccount(account_id, code, name or ""))
    return list(found.values())


def refresh_statistics(db: Database) -> None:
    """Tell the query planner what the mirror looks like (``ANALYZE``); the sync runs it after a
    first sync. Without statistics SQLite walks the date index for an exact amount or a rare
    word — hundreds of times slower on a big organisation. A sample of each index is enough."""
    with db.engine.begin() as conn:
        if db.is_sqlite:
            conn.exec_driver_sql("PRAGMA analysis_limit=2000")
        conn.exec_driver_sql("ANALYZE mirror_transactions")


def ensure_statistics(db: Database) -> None:
    """:func:`refresh_statistics` unless the planner has some already (PostgreSQL's autovacuum
    keeps its own; SQLite has none until someone runs ANALYZE)."""
    if not db.is_sqlite:
        return
    with db.engine.connect() as conn:
        has_table = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
        ).first()
        if (
            has_table
            and conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_stat1 WHERE tbl = 'mirror_transactions' LIMIT 1"
            ).first()
        ):
            return
    refresh_statistics(db)


def text_index(connection: Connection) -> str | None:
    """Which trigram index serves text search here, or None (search still works, unindexed)."""
    if connection.dialect.name == "sqlite":
        found = connection.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n"), {"n": FTS_TABLE}
        ).first()
        return "FTS5 trigram" if found else None
    if connection.dialect.name == "postgresql":
        found = connection.execute(
            text("SELECT 1 FROM pg_indexes WHERE tablename = 'mirror_transactions' AND indexname = :n"),
            {"n": PG_INDEX},
        ).first()
        return "pg_trgm GIN" if found else None
    return None


# ---------------------------------------------------------------------- building the WHERE


def _where(db: Database, tenant_id: str, f: MirrorFilter) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [_T.tenant_id == tenant_id]
    if f.bank_account_id is not None:
        clauses.append(_T.bank_account_id == f.bank_account_id)
    if f.types:
        clauses.append(_T.type.in_(list(f.types)))
    if f.reconciled is not None:
        clauses.append(_T.is_reconciled.is_(f.reconciled))
    if f.date_from is not None:
        clauses.append(_T.date >= f.date_from)
    if f.date_to is not None:
        clauses.append(_T.date <= f.date_to)
    if f.min_total_e4 is not None:
        clauses.append(_T.total_e4 >= f.min_total_e4)
    if f.max_total_e4 is not None:
        clauses.append(_T.total_e4 <= f.max_total_e4)
    if f.total_e4 is not None:
        clauses.append(_T.total_e4 == f.total_e4)
    if f.signed_e4 is not None:
        clauses.append(_T.signed_e4 == f.signed_e4)

    terms = [t for t in f.terms if t]
    contact = f.contact or None
    reference = f.reference or None
    if db.is_sqlite:
        indexed = [t for t in (*terms, contact, reference) if t and len(t) >= TRIGRAM]
        if indexed:
            match = " AND ".join(_phrase(t) for t in dict.fromkeys(indexed))
            clauses.append(_T.id.in_(select(_FTS.c.rowid).where(_FTS.c[FTS_TABLE].op("MATCH")(match))))
        clauses.extend(func.instr(_T.search_text, t) > 0 for t in terms)
        if contact:
            clauses.append(func.instr(_sqlite_line(1), contact) > 0)
        if reference:
            clauses.append(func.instr(_sqlite_line(2), reference) > 0)
    else:
        # LIKE over the whole text is what the GIN index serves; the field's own test follows.
        clauses.extend(_like(_T.search_text, t) for t in (*terms, contact, reference) if t)
        if contact:
            clauses.append(_like(func.split_part(_T.search_text, "\n", 1), contact))
        if reference:
            clauses.append(_like(func.split_part(_T.search_text, "\n", 2), reference))
    return clauses


def _phrase(term: str) -> str:
    """An FTS5 phrase: the whole term as one string (a substring search under trigrams)."""
    return '"' + term.replace('"', '""') + '"'


def _like(expression, term: str) -> ColumnElement[bool]:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return expression.like(literal(f"%{escaped}%"), escape="\\")


def _sqlite_line(number: int) -> ColumnElement[str]:
    """Line 1 (contact) or 2 (reference) of ``search_text``; SQLite has no split function."""
    newline = func.char(10)
    first_break = func.instr(_T.search_text + newline, newline)
    if number == 1:
        return func.substr(_T.search_text, 1, first_break - 1)
    rest = func.substr(_T.search_text + newline, first_break + 1)
    return func.substr(rest, 1, func.instr(rest, newline) - 1)


__all__ = [
    "FTS_TABLE",
    "MirrorAccount",
    "MirrorFilter",
    "MirrorPage",
    "ensure_statistics",
    "refresh_statistics",
    "mirror_bank_accounts",
    "search_mirror",
    "text_index",
    "unreconciled_rows",
]
