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

import json
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    cast,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import TableClause, literal

from storage.db import Database
from storage.mirror import MirrorRow, row_view
from storage.mirror_contacts import distinct_contacts
from storage.models import MirrorTransaction
from storage.search_fields import after_first_line
from storage.search_grams import gram_token, has_token
from storage.search_keys import (
    ID_BITS,
    ID_MASK,
    JULIAN_EPOCH,
    LAST_DAY,
    TENANT_SHIFT,
    day_end,
    day_start,
    key_range,
)

FTS_TABLE = "mirror_text_fts"
GRAMS_TABLE = "mirror_grams_fts"
KEYS_INDEX = "ix_mirror_keys"
CONTACT_INDEX = "ix_mirror_contact"
PG_INDEX = "ix_mirror_search_trgm"
TRIGRAM = 3  # shortest term a trigram index can look up
_SPLIT_TERMS = 3  # most terms split 2^n ways without a contact dictionary; past it, a scan
_PG_WORK_MEM = "64MB"  # a search's bitmaps: exact, one bit a row, for a million-row organisation
# Text matches worth a lookup each (about a microsecond or more); past this many, a search with
# typed filters counts from the filters' index instead.
_PROBES = 4000
# Rows a page may read whole to order the days it falls in (see _sqlite_page_by_days).
_DAY_ROWS = 2000
_DAY_SORT = 20_000  # most matches whose dates are sorted to find the page's day
_LISTED = 20_000  # most text matches read as keys at once (see _sqlite_listed)
_TEXT = table(FTS_TABLE, column("rowid"), column(FTS_TABLE))
_GRAMS = table(GRAMS_TABLE, column("rowid"), column(GRAMS_TABLE))
_TENANTS = table("mirror_search_tenants", column("number"), column("tenant_id"))
_SIMPLE = literal_column("'simple'::regconfig")
_T = MirrorTransaction
_PG_GRAMS = func.to_tsvector(_SIMPLE, _T.search_grams)  # as the GIN index is built
_PG_REST = after_first_line(_T.search_text)  # as the trigram index is built


class _IndexedBy(TableClause):
    """A table named in FROM with SQLite's ``INDEXED BY``: the planner would otherwise look each
    text match up by rowid in the wide table, where the narrow index answers the same."""

    inherit_cache = True

    def __init__(self, name: str, index: str, *columns) -> None:
        super().__init__(name, *columns)
        self.index = index


@compiles(_IndexedBy)
def _compile_indexed_by(element: _IndexedBy, compiler, asfrom: bool = False, **kw) -> str:
    sql = compiler.visit_table(element, asfrom=asfrom, **kw)
    return f"{sql} INDEXED BY {element.index}" if asfrom else sql


# The wide table seen through the keys index; a column outside it (account, text) still works,
# read from the row.
_K = _IndexedBy(_T.__tablename__, KEYS_INDEX, *(column(c.name, c.type) for c in _T.__table__.c))
# The same through the contacts' index (see _sqlite_by_contacts).
_C = _IndexedBy(_T.__tablename__, CONTACT_INDEX, *(column(c.name, c.type) for c in _T.__table__.c))


@dataclass(frozen=True)
class MirrorFilter:
    """What to find. Text fields must be folded already (``bot.services.textmatch.normalise``);
    ``None``/empty means "no constraint". Money in ten-thousandths."""

    terms: tuple[str, ...] = ()  # each must appear in the contact, reference or a line description
    contact: str | None = None  # substring of the folded contact name
    # What search turns ``contact`` and the terms' contact side into (see _by_contact):
    contacts: tuple[str, ...] | None = None  # exactly one of these folded contacts
    not_contacts: tuple[str, ...] = ()  # none of these
    contact_holds: tuple[str, ...] = ()  # a contact holding each of these (no dictionary)
    contact_lacks: tuple[str, ...] = ()  # a contact holding none of these (no dictionary)
    scanned: tuple[str, ...] = ()  # terms tested on each row's whole text, with no index
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

    Both statements run in one transaction so the count and the page agree. Text on SQLite
    goes through :func:`_sqlite_text`; only the page's own rows are ever read whole there.
    """
    if offset < 0 or limit < 0:
        raise ValueError("offset and limit must not be negative")
    with db.session() as session:
        if not db.is_sqlite:
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            # A common short term's bitmap of a million-row organisation outgrew the default 4 MB:
            # lossy pages then recheck every row on them (6 s, not 0.3 s, at 1M rows).
            session.execute(text(f"SET LOCAL work_mem = '{_PG_WORK_MEM}'"))
        wanted, keys = _resolve_contact(session, tenant_id, wanted, split=not db.is_sqlite)
        if wanted is None:
            return MirrorPage((), 0)
        groups = None if db.is_sqlite else _by_contact(wanted, keys)
        if groups is None:
            return _search(session, db, tenant_id, wanted, offset, limit, oldest_first)
        # Disjoint: the totals add up, and the page is the first rows of all of them merged.
        pages = [_search(session, db, tenant_id, g, 0, offset + limit, oldest_first) for g in groups]
        rows = sorted(
            (r for p in pages for r in p.rows),
            key=lambda r: (r.date, r.bank_transaction_id),
            reverse=not oldest_first,
        )
        return MirrorPage(tuple(rows[offset : offset + limit]), sum(p.total for p in pages))


def _resolve_contact(session, tenant_id: str, f: MirrorFilter, *, split: bool):
    """``contact:`` as the contacts that hold it, and — to ``split`` free text by (PostgreSQL) —
    the organisation's contacts (None past :data:`storage.mirror_contacts.MOST`); ``(None, …)``
    when no contact holds the ``contact:`` term.

    Past MOST contacts, ``contact:`` is tested on each row's ``contact_key`` on PostgreSQL, and
    through the trigram index's contact column on SQLite, which still holds the contact: there
    FTS5 must read every trigram's whole list even for a column filter, so a split would read
    the index twice where it reads it once (a line description also held by one contact's name:
    68 -> 315 ms at 1M).
    """
    if not f.contact and (not split or all(len(t) < TRIGRAM for t in f.terms)):
        return f, None  # nothing to split: the contacts are not read
    keys = distinct_contacts(session, tenant_id)
    if not f.contact:
        return f, keys
    if keys is None:
        if not split:
            return f, None
        return replace(f, contact=None, contact_holds=(*f.contact_holds, f.contact)), None
    held = [k for k in keys if f.contact in k]
    if not held:
        return None, None
    return replace(f, contact=None, contacts=tuple(held)), held


def _by_contact(f: MirrorFilter, keys: list[str] | None) -> list[MirrorFilter] | None:
    """On PostgreSQL, whose trigram index holds no contact: the searches whose union is ``f``,
    or None if ``f`` needs no split.

    A term of three characters or more matches a row whose contact holds it (the contacts'
    index) or whose reference or lines do (the trigram index). The organisation's contacts are
    grouped by which of the terms each holds: one search per group, asking its contacts' rows
    for the other terms only. Within it a term left to the index is in no contact of the group,
    so a test of the whole text (a term the index does not answer exactly) still means the
    reference or the lines. Shorter terms are looked up in the grams, which hold the whole text.
    """
    long = [t for t in dict.fromkeys(f.terms) if len(t) >= TRIGRAM]
    if not long:
        return None
    if keys is not None:
        groups: dict[frozenset[str], list[str]] = {}
        for key in keys:
            groups.setdefault(frozenset(t for t in long if t in key), []).append(key)
        if set(groups) <= {frozenset()}:
            return None  # no contact holds a term: the index alone answers
        holding = [k for held, ks in groups.items() if held for k in ks]
        return [
            replace(
                f,
                terms=tuple(t for t in f.terms if t not in held),
                **(
                    {"contacts": tuple(ks)}
                    if held or f.contacts is not None
                    else {"not_contacts": (*f.not_contacts, *holding)}
                ),
            )
            for held, ks in groups.items()
        ]
    if len(long) > _SPLIT_TERMS:
        return [replace(f, terms=tuple(t for t in f.terms if t not in long), scanned=tuple(long))]
    # Too many contacts to read: every way the terms can fall between the contact and the rest.
    splits = []
    for mask in range(1 << len(long)):
        held = {t for i, t in enumerate(long) if mask >> i & 1}
        splits.append(
            replace(
                f,
                terms=tuple(t for t in f.terms if t not in held),
                contact_holds=(*f.contact_holds, *sorted(held)),
                contact_lacks=(*f.contact_lacks, *(t for t in long if t not in held)),
            )
        )
    return splits


def _search(session, db: Database, tenant_id: str, wanted: MirrorFilter, offset, limit, oldest_first):
    """One search whose contact side is settled (see _by_contact)."""
    if db.is_sqlite:
        found = _sqlite_text(session, tenant_id, wanted, offset, limit, oldest_first)
        if found is not None:
            return found
        if wanted.contacts is not None:
            return _sqlite_by_contacts(session, tenant_id, wanted, offset, limit, oldest_first)
        where = [*_typed(_T.__table__.c, tenant_id, wanted), *_sqlite_unindexed_text(_T.__table__.c, wanted)]
    else:
        where = _pg_where(tenant_id, wanted)
        if wanted.reference and limit:
            found = _pg_counted_page(session, where, offset, limit, oldest_first)
            if found is not None:
                return found
    order = _order(_T.__table__.c, oldest_first)
    total = int(session.scalar(select(func.count()).select_from(_T).where(*where)) or 0)
    if offset >= total or not limit:
        return MirrorPage((), total)
    amounts = (wanted.min_total_e4, wanted.max_total_e4, wanted.total_e4, wanted.signed_e4)
    if db.is_sqlite and any(a is not None for a in amounts) and limit < total <= _DAY_SORT:
        # Only with amounts, and sparse matches: the planner then sorts every row in the
        # amount range. Otherwise walking the date index stops at the page soon, and finding
        # the day would sort every match's date instead.
        rows = _sqlite_page_by_days(session, where, offset, limit, total, oldest_first)
        if rows is not None:
            return MirrorPage(rows, total)
    page = select(_T).where(*where).order_by(*order).offset(offset).limit(limit)
    return MirrorPage(tuple(row_view(r) for r in session.scalars(page)), total)


def _sqlite_by_contacts(
    session, tenant_id: str, f: MirrorFilter, offset: int, limit: int, oldest_first: bool
):
    """``contact:`` with no text to look up, on SQLite: the contacts' rows from their own index.

    SQLite's sampled statistics cannot tell how few rows a contact has, and ``contact_key`` is
    computed from the row, so the planner preferred another index and computed it for every row
    there (0.6 s, not 5 ms, for a contact's unreconciled rows at 1M). The count reads the index
    alone; the page's ids come from it in order, and only those rows are read whole.
    """
    c = _C.c
    where = [*_typed(c, tenant_id, f), *_sqlite_unindexed_text(c, f)]
    total = int(session.scalar(select(func.count()).select_from(_C).where(*where)) or 0)
    if offset >= total or not limit:
        return MirrorPage((), total)
    ids = (
        select(c.id)
        .select_from(_C)
        .where(*where)
        .order_by(*_order(c, oldest_first))
        .offset(offset)
        .limit(limit)
    )
    return MirrorPage(_rows_in_order(session, list(session.scalars(ids))), total)


def _pg_counted_page(session, where, offset: int, limit: int, oldest_first: bool) -> MirrorPage | None:
    """``ref:`` on PostgreSQL: the page and the count from one pass over the matches.

    PostgreSQL cannot estimate a field's own test (a LIKE over ``split_part``), so it reads
    every match for the page as well as for the count — two passes over the pg_trgm candidates'
    rows (each ~130 ms for a common contact at 1M, when ``contact:`` was such a test).
    Counting in a window over the same pass keeps only ids and sort keys in memory. None past
    the last page (no row carries the count).
    """
    c = _T.__table__.c
    counted = (
        select(c.id, func.count().over().label("total"))
        .where(*where)
        .order_by(*_order(c, oldest_first))
        .offset(offset)
        .limit(limit)
    )
    found = session.execute(counted).all()
    if not found:
        return None
    return MirrorPage(_rows_in_order(session, [f.id for f in found]), int(found[0].total))


def _sqlite_page_by_days(session, where, offset: int, limit: int, total: int, oldest_first: bool):
    """The page from the days up to its last match, or None if those hold too many matches.

    Ordered by BankTransactionID within a day, the page needs the rows themselves, and SQLite's
    sampled statistics led it to read every matching row in an amount range to sort them (a
    quarter second at 1M). The day of the page's last match comes from the same index as the
    count, and only the matches from that day on are read whole.
    """
    c = _T.__table__.c
    last = min(offset + limit, total) - 1
    by_day = c.date.asc() if oldest_first else c.date.desc()
    boundary = session.scalar(select(c.date).where(*where).order_by(by_day).offset(last).limit(1))
    if boundary is None:
        return None
    within = c.date <= boundary if oldest_first else c.date >= boundary
    ids = list(session.scalars(select(c.id).where(*where, within).limit(_DAY_ROWS + 1)))
    if len(ids) > _DAY_ROWS:
        return None
    found = [row_view(r) for r in session.scalars(select(_T).where(_T.id.in_(ids)))]
    found.sort(key=lambda r: (r.date, r.bank_transaction_id), reverse=not oldest_first)
    return tuple(found[offset : offset + limit])


def _order(c, oldest_first: bool):
    if oldest_first:
        return (c.date.asc(), c.bank_transaction_id.asc())
    return (c.date.desc(), c.bank_transaction_id.desc())


def _sqlite_text(session, tenant_id: str, f: MirrorFilter, offset: int, limit: int, oldest_first: bool):
    """A text search on SQLite, or None when there is no text to look up.

    The text indexes are keyed by organisation, day and row id (:mod:`storage.search_keys`), so
    the organisation and the dates are a rowid range that FTS5 seeks within its own lists.
    The trigram index has a column per field, so ``contact:``/``ref:`` are column filters. A
    term the index answers exactly needs no test of its own: a short term's gram token, and a
    trigram phrase made of ASCII (the stored text and the term are folded alike, and no folded
    character that is not ASCII folds, in FTS5, to one that is). With nothing else to test,
    the count and the page's candidates come from the index alone; otherwise each match is
    checked through :data:`KEYS_INDEX` (narrow), and the rest — a term that is not ASCII, a
    short ``contact:``/``ref:`` on its own line — on the row.
    """
    terms = [t for t in f.terms if t]
    contact, reference = f.contact or None, f.reference or None
    wanted = [t for t in (*terms, contact, reference) if t]
    # Trigram phrases: a term in any column, contact: and ref: in their own.
    long = [_phrase(t) for t in dict.fromkeys(terms) if len(t) >= TRIGRAM]
    long += [
        f"{name} : {_phrase(t)}"
        for name, t in (("contact", contact), ("reference", reference))
        if t and len(t) >= TRIGRAM
    ]
    short = list(dict.fromkeys(t for t in wanted if has_token(t)))
    if not long and not short:
        return None
    number = session.scalar(select(_TENANTS.c.number).where(_TENANTS.c.tenant_id == tenant_id))
    if number is None:
        return MirrorPage((), 0)
    keys = key_range(number, f.date_from, f.date_to)

    def hits(low: int, high: int):
        lookups = []
        if long:
            lookups.append((_TEXT, " AND ".join(long)))
        if short:
            lookups.append((_GRAMS, " AND ".join(gram_token(t) for t in short)))
        (first, match), *others = lookups
        query = select(first.c.rowid).where(
            first.c[first.name].op("MATCH")(match), first.c.rowid.between(low, high)
        )
        for other, other_match in others:
            query = query.where(
                first.c.rowid.in_(
                    select(other.c.rowid).where(
                        other.c[other.name].op("MATCH")(other_match), other.c.rowid.between(low, high)
                    )
                )
            )
        return query

    residual = _typed(_K.c, tenant_id, f, scope=False)
    if not keys.dates_exact:
        residual.extend(_dates(_K.c, f))
    typed = len(residual)
    residual.extend(func.instr(_K.c.search_text, t) > 0 for t in terms if not _exact_in_index(t))
    if contact and not _exact_in_column(contact):
        residual.append(func.instr(_sqlite_line(_K.c.search_text, 1), contact) > 0)
    if reference and not _exact_in_column(reference):
        residual.append(func.instr(_sqlite_line(_K.c.search_text, 2), reference) > 0)

    reads_row = len(residual) > typed  # a test of the text itself, not only typed values

    def keyed(low: int, high: int):
        found = hits(low, high).subquery()
        return found.join(_K, _K.c.id == found.c.rowid.op("&")(ID_MASK))

    if not reads_row:
        listed = _sqlite_listed(session, hits(keys.low, keys.high), residual, offset, limit, oldest_first)
        if listed is not None:
            return listed
        if residual:
            # Many text matches, and only typed filters besides: walk the typed filters' own
            # index and ask the text index's answer (held in memory once) about each entry,
            # rather than look up every text match.
            # A few contacts' rows: walk their own index (the planner cannot see how few).
            walked = _C if f.contacts is not None else _T.__table__
            c = walked.c
            where = [*_typed(c, tenant_id, f), _key_of(c, number).in_(hits(keys.low, keys.high))]
            total = int(session.scalar(select(func.count()).select_from(walked).where(*where)) or 0)
            if offset >= total or not limit:
                return MirrorPage((), total)
            ids = select(c.id).select_from(walked).where(*where).order_by(*_order(c, oldest_first))
            return MirrorPage(
                _rows_in_order(session, list(session.scalars(ids.offset(offset).limit(limit)))), total
            )
    if residual:
        total = int(
            session.scalar(select(func.count()).select_from(keyed(keys.low, keys.high)).where(*residual))
        )
        low, high = keys.low, keys.high
    else:
        total = int(session.scalar(select(func.count()).select_from(hits(keys.low, keys.high).subquery())))
        if offset < total and limit:
            # The page lies within the days up to its last match: only those are sorted.
            last = min(offset + limit, total) - 1
            ordered = hits(keys.low, keys.high).order_by(_rowid_of(oldest_first)).offset(last).limit(1)
            boundary = int(session.scalar(ordered))
            low, high = (keys.low, day_end(boundary)) if oldest_first else (day_start(boundary), keys.high)
    if offset >= total or not limit:
        return MirrorPage((), total)
    ids_query = (
        select(_K.c.id)
        .select_from(keyed(low, high))
        .where(*residual)
        .order_by(*_order(_K.c, oldest_first))
        .offset(offset)
        .limit(limit)
    )
    return MirrorPage(_rows_in_order(session, list(session.scalars(ids_query))), total)


def _sqlite_listed(session, matches, residual, offset: int, limit: int, oldest_first: bool):
    """The page and count from one reading of the text index, or None past a few thousand matches.

    Counting the matches, finding the page's day and reading the page's candidates would read
    the index three times (a long phrase costs a few milliseconds each). Fewer matches than
    :data:`_LISTED` are read once, as keys, and the rest is done here: the typed filters tested
    on the keys index for each match (at most :data:`_PROBES`), or — with none — only the
    matches of the page's own days read to order them by BankTransactionID.
    """
    cap = _PROBES if residual else _LISTED
    keys = list(session.scalars(matches.order_by(literal_column("rowid")).limit(cap + 1)))
    if len(keys) > cap:
        return None
    if residual:
        candidates = [k & ID_MASK for k in keys]
    else:
        total = len(keys)
        if offset >= total or not limit:
            return MirrorPage((), total)
        # Keys ascend by day: the page's days are one run of them, and only that run is read.
        shown = keys if oldest_first else keys[::-1]
        days = (day_start(shown[offset]), day_start(shown[min(offset + limit, total) - 1]))
        first, last = bisect_left(keys, min(days)), bisect_right(keys, day_end(max(days)))
        before = first if oldest_first else total - last
        candidates = [k & ID_MASK for k in keys[first:last]]
        offset -= before
    # In id order, each lookup lands near the last one in the keys index.
    each = func.json_each(json.dumps(sorted(candidates))).table_valued("value")
    listed = select(_K.c.id, _K.c.date, _K.c.bank_transaction_id).select_from(each)
    found = session.execute(listed.join(_K, _K.c.id == each.c.value).where(*residual)).all()
    if residual:
        total = len(found)
    found.sort(key=lambda r: (r.date, r.bank_transaction_id), reverse=not oldest_first)
    ids = [r.id for r in found[offset : offset + limit]] if limit else []
    return MirrorPage(_rows_in_order(session, ids), total)


def _rows_in_order(session, ids: list[int]) -> tuple[MirrorRow, ...]:
    """The page's whole rows, read by id once its order is known from narrower reads."""
    if not ids:
        return ()
    rows = {r.id: r for r in session.scalars(select(_T).where(_T.id.in_(ids)))}
    return tuple(row_view(rows[i]) for i in ids)


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
    """Tell the query planner what the mirror looks like; the sync runs it when a first sync
    completes. Without statistics SQLite walks the date index for an exact amount or a rare
    word — hundreds of times slower on a big organisation; a sample of each index is enough.
    On PostgreSQL, ``VACUUM`` too: until the visibility map is set after a bulk load, every
    count reads the table's pages instead of its index alone (autovacuum gets there later)."""
    if db.is_sqlite:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA analysis_limit=2000")
            conn.exec_driver_sql("ANALYZE mirror_transactions")
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE) mirror_transactions")


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


def _typed(c, tenant_id: str, f: MirrorFilter, *, scope: bool = True) -> list[ColumnElement[bool]]:
    """Every filter but text, on the columns ``c`` (the table's, or the keys index's); without
    ``scope``, not the organisation and dates either (a key range holds them)."""
    clauses: list[ColumnElement[bool]] = [c.tenant_id == tenant_id, *_dates(c, f)] if scope else []
    if f.contacts is not None:
        clauses.append(c.contact_key.in_(list(f.contacts)))
    if f.not_contacts:
        clauses.append(c.contact_key.not_in(list(f.not_contacts)))
    clauses.extend(_like(c.contact_key, t) for t in f.contact_holds)
    clauses.extend(~_like(c.contact_key, t) for t in f.contact_lacks)
    if f.bank_account_id is not None:
        clauses.append(c.bank_account_id == f.bank_account_id)
    if f.types:
        clauses.append(c.type.in_(list(f.types)))
    if f.reconciled is not None:
        clauses.append(c.is_reconciled.is_(f.reconciled))
    if f.min_total_e4 is not None:
        clauses.append(c.total_e4 >= f.min_total_e4)
    if f.max_total_e4 is not None:
        clauses.append(c.total_e4 <= f.max_total_e4)
    if f.total_e4 is not None:
        clauses.append(c.total_e4 == f.total_e4)
    if f.signed_e4 is not None:
        clauses.append(c.signed_e4 == f.signed_e4)
    return clauses


def _dates(c, f: MirrorFilter) -> list[ColumnElement[bool]]:
    clauses = []
    if f.date_from is not None:
        clauses.append(c.date >= f.date_from)
    if f.date_to is not None:
        clauses.append(c.date <= f.date_to)
    return clauses


def _key_of(c, number: int):
    """A row's search key (:func:`storage.search_keys.key_sql`) from an index entry's date and id."""
    day = func.min(func.max(cast(func.julianday(c.date), Integer) - JULIAN_EPOCH, 0), LAST_DAY)
    return literal(number << TENANT_SHIFT) + day.op("<<")(ID_BITS) + c.id


def _rowid_of(oldest_first: bool):
    return literal_column("rowid").asc() if oldest_first else literal_column("rowid").desc()


def _sqlite_unindexed_text(c, f: MirrorFilter) -> list[ColumnElement[bool]]:
    """Text no index can look up (a short term holding whitespace, which folded input never
    has), tested on the row (``c``: the table's columns, or an index's view of them)."""
    clauses = [func.instr(c.search_text, t) > 0 for t in f.terms if t]
    if f.contact:
        clauses.append(func.instr(_sqlite_line(c.search_text, 1), f.contact) > 0)
    if f.reference:
        clauses.append(func.instr(_sqlite_line(c.search_text, 2), f.reference) > 0)
    return clauses


def _exact_in_index(term: str) -> bool:
    return has_token(term) or _exact_in_column(term)


def _exact_in_column(term: str) -> bool:
    """A trigram phrase of ASCII that the index alone answers exactly (the gram tokens cover
    the whole text, so a short ``contact:``/``ref:`` is still tested on its line)."""
    return len(term) >= TRIGRAM and term.isascii() and term == term.lower()


def _pg_where(tenant_id: str, f: MirrorFilter) -> list[ColumnElement[bool]]:
    clauses = _typed(_T.__table__.c, tenant_id, f)
    terms = [t for t in f.terms if t]
    reference = f.reference or None
    for t in (*terms, reference):
        if not t:
            continue
        if has_token(t):
            # The gram token is exact: no LIKE, which no trigram index serves below three characters.
            clauses.append(_PG_GRAMS.op("@@")(func.to_tsquery(_SIMPLE, gram_token(t))))
        elif len(t) >= TRIGRAM:
            # LIKE over the reference and lines is what the GIN index serves (a term reaching
            # here is in no contact of the search: see _by_contact); ref:'s own test follows.
            clauses.append(_like(_PG_REST, t))
        else:
            clauses.append(_like(_T.search_text, t))  # short, with whitespace: no index at all
    clauses.extend(_like(_T.search_text, t) for t in f.scanned)  # no index: every row
    if reference:
        clauses.append(_like(func.split_part(_T.search_text, "\n", 2), reference))
    return clauses


def _phrase(term: str) -> str:
    """An FTS5 phrase: the whole term as one string (a substring search under trigrams)."""
    return '"' + term.replace('"', '""') + '"'


def _like(expression, term: str) -> ColumnElement[bool]:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return expression.like(literal(f"%{escaped}%"), escape="\\")


def _sqlite_line(search_text, number: int) -> ColumnElement[str]:
    """Line 1 (contact) or 2 (reference) of ``search_text``; SQLite has no split function."""
    newline = func.char(10)
    first_break = func.instr(search_text + newline, newline)
    if number == 1:
        return func.substr(search_text, 1, first_break - 1)
    rest = func.substr(search_text + newline, first_break + 1)
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
