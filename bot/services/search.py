"""Search over a user's Xero organisation: from our mirror of it, or live from Xero until then.

Once an organisation's first sync is complete every search is answered from the mirror
(:mod:`storage.mirror_search`): every filter in SQL, complete results with their count, no Xero
call. A mirror older than ``max_age`` is first brought up to date by the sync (one delta per
organisation however many search at once), waited for only briefly: past that — Xero down,
rate-limited or slow — the answer comes from the mirror and says how old it is.

Until the first sync completes, the live path below answers and says the copy is still filling.
Live page size strategy: without bot-side text filters Xero's own paging maps 1:1 onto ours (one call
per page of 10). With text filters we must read rows to match them, so we read large pages
(``SCAN_PAGE_SIZE``) newest first and stop as soon as the requested page — plus one row, to know
whether a Next page exists — is filled.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from bot.services.connect import ConnectService
from bot.services.cursor import CursorError, CursorTooLong, decode_cursor, encode_cursor
from bot.services.errors import ServiceError
from bot.services.freshness import Freshness, MirrorKeeper
from bot.services.mirror_rows import to_e4, transaction_from_row
from bot.services.query import DateOrder, SearchQuery, date_order_for, org_named, parse_query
from bot.services.textmatch import matches, normalise
from bot.services.tokens import TokenService
from bot.xero.client import XeroClient
from bot.xero.models import BankAccount, BankTransaction
from storage.db import Database
from storage.grants import TenantView
from storage.mirror_search import MirrorFilter, ensure_statistics, mirror_bank_accounts, search_mirror
from storage.models import utcnow
from storage.organisations import get_organisation

PAGE_ROWS = 10
SCAN_PAGE_SIZE = 1000
MAX_SCAN_PAGES = 10  # 10,000 rows per text search at most; past that, ask for a narrower query
ACCOUNT_CACHE_SECONDS = 300
MIRROR_MAX_AGE = 60.0  # seconds; RECON_MIRROR_MAX_AGE
# The id makes the order total, so pages never overlap; the mirror orders the same way.
NEWEST_FIRST = "Date DESC, BankTransactionID DESC"
OLDEST_FIRST = "Date ASC, BankTransactionID ASC"
FRESH_WAIT = 2.0  # how long a search waits for a delta before answering from the mirror


@dataclass(frozen=True)
class SearchResult:
    query: SearchQuery
    org: TenantView
    rows: tuple[BankTransaction, ...]
    page: int
    has_prev: bool
    has_next: bool
    prev_cursor: str | None
    next_cursor: str | None
    this_cursor: str | None
    xero_calls: int
    truncated: bool = False  # the scan limit stopped us before the page was known to be complete
    total: int | None = None  # every match (from the mirror); None when only Xero was asked
    from_mirror: bool = False
    as_of: datetime | None = None  # the mirror's age, when it could not be brought up to date
    filling: Freshness | None = None  # the first sync is still running: this answer is live

    @property
    def first_row(self) -> int:
        return (self.page - 1) * PAGE_ROWS + 1


class SearchService:
    def __init__(
        self,
        xero: XeroClient,
        tokens: TokenService,
        connect: ConnectService,
        *,
        db: Database | None = None,
        mirror: MirrorKeeper | None = None,
        max_age: float = MIRROR_MAX_AGE,
        fresh_wait: float = FRESH_WAIT,
        now: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._xero = xero
        self._tokens = tokens
        self._connect = connect
        self._db = db
        self._mirror = mirror if db is not None else None
        self._max_age = max_age
        self._fresh_wait = fresh_wait
        self._statistics_checked = False
        self._now = now
        self._monotonic = monotonic
        self._accounts: dict[str, tuple[float, list[BankAccount]]] = {}
        self._lock = threading.Lock()

    def search(self, team_id: str, user_id: str, text: str, *, today: date | None = None) -> SearchResult:
        today = today or self._now().date()
        named = org_named(text)  # the organisation first: it says how its people write dates
        if named:
            tenant = self._connect.resolve_org(team_id, user_id, named)
            org = self._connect.require_tenant(team_id, user_id, tenant.tenant_id)
        else:
            org = self._connect.require_tenant(team_id, user_id, None)
        query = parse_query(text, today=today, date_order=self._date_order(org.tenant_id))
        return self._run(team_id, user_id, query, org, page=1, today=today)

    def page(self, team_id: str, user_id: str, cursor: str) -> SearchResult:
        """Another page of an earlier search, re-checked against the presser's own grants."""
        try:
            decoded = decode_cursor(cursor)
        except CursorError:
            raise ServiceError("That page link is damaged — run the search again.") from None
        org = self._connect.require_tenant(team_id, user_id, decoded.tenant_id)
        order = self._date_order(org.tenant_id)
        query = parse_query(decoded.query_text, today=decoded.snapshot, date_order=order)
        return self._run(team_id, user_id, query, org, page=decoded.page, today=decoded.snapshot)

    # ------------------------------------------------------------------ internals

    def _date_order(self, tenant_id: str) -> DateOrder | None:
        if self._db is None:
            return None
        details = get_organisation(self._db, tenant_id)
        return date_order_for(details.country_code) if details and details.country_code else None

    def _run(
        self, team_id: str, user_id: str, query: SearchQuery, org: TenantView, *, page: int, today: date
    ) -> SearchResult:
        source = self._tokens.source(team_id, user_id, org.tenant_id)  # the user's own grant holds it
        freshness = self._mirror.freshness(org.tenant_id) if self._mirror is not None else None
        if freshness is not None and freshness.complete:
            if self._too_old(freshness):
                freshness = self._mirror.ensure_fresh(
                    org.tenant_id, max_age=self._max_age, wait=self._fresh_wait
                )
            return self._from_mirror(query, org, page=page, today=today, freshness=freshness)
        result = self._live(source, query, org, page=page, today=today)
        # Said only once the first sync has read something: before that there is no copy to speak of.
        started = freshness is not None and (freshness.rows_read > 0 or freshness.rows_expected is not None)
        return replace(result, filling=freshness) if started else result

    def _too_old(self, freshness: Freshness) -> bool:
        if freshness.as_of is None:
            return True
        return (self._now() - freshness.as_of).total_seconds() > self._max_age

    def _from_mirror(
        self, query: SearchQuery, org: TenantView, *, page: int, today: date, freshness: Freshness
    ) -> SearchResult:
        assert self._db is not None
        if not self._statistics_checked:
            ensure_statistics(self._db)  # the planner needs them to pick the right index
            self._statistics_checked = True
        account_id = None
        if query.account:
            account_id = _pick_account(
                query.account, mirror_bank_accounts(self._db, org.tenant_id)
            ).account_id
        wanted = mirror_filter(query, bank_account_id=account_id)
        found = search_mirror(
            self._db,
            org.tenant_id,
            wanted,
            offset=(page - 1) * PAGE_ROWS,
            limit=PAGE_ROWS,
            oldest_first=query.oldest_first,
        )
        has_next = page * PAGE_ROWS < found.total
        return SearchResult(
            query=query,
            org=org,
            rows=tuple(transaction_from_row(row) for row in found.rows),
            page=page,
            has_prev=page > 1,
            has_next=has_next,
            xero_calls=0,
            total=found.total,
            from_mirror=True,
            as_of=freshness.as_of if self._too_old(freshness) else None,
            **_cursors(query, org, page, today, has_next),
        )

    def _live(self, source, query: SearchQuery, org: TenantView, *, page: int, today: date) -> SearchResult:
        calls = 0
        account_id = None
        if query.account:
            accounts, fetched = self._bank_accounts(source)
            calls += fetched
            account_id = uuid.UUID(_pick_account(query.account, accounts).account_id)
        txn_filter = query.to_filter(bank_account_id=account_id)
        needs_text = query.needs_bot_side

        truncated = False
        order = OLDEST_FIRST if query.oldest_first else NEWEST_FIRST
        if not needs_text:
            result = self._xero.list_bank_transactions(
                source, txn_filter, page=page, page_size=PAGE_ROWS, order=order
            )
            calls += 1
            rows = result.transactions
            has_next = bool(result.has_more) if result.has_more is not None else len(rows) >= PAGE_ROWS
        else:
            wanted = page * PAGE_ROWS + 1
            found: list[BankTransaction] = []
            for xero_page in range(1, MAX_SCAN_PAGES + 1):
                result = self._xero.list_bank_transactions(
                    source, txn_filter, page=xero_page, page_size=SCAN_PAGE_SIZE, order=order
                )
                calls += 1
                found.extend(t for t in result.transactions if matches(query, t))
                more = result.has_more
                if more is None:
                    more = len(result.transactions) >= SCAN_PAGE_SIZE
                if len(found) >= wanted or not more:
                    break
            else:
                truncated = True
            start = (page - 1) * PAGE_ROWS
            rows = tuple(found[start : start + PAGE_ROWS])
            has_next = len(found) > start + PAGE_ROWS

        return SearchResult(
            query=query,
            org=org,
            rows=tuple(rows),
            page=page,
            has_prev=page > 1,
            has_next=has_next,
            xero_calls=calls,
            truncated=truncated,
            **_cursors(query, org, page, today, has_next),
        )

    def _bank_accounts(self, source) -> tuple[list[BankAccount], int]:
        """Bank accounts of the organisation, cached for a few minutes: they rarely change."""
        now = self._monotonic()
        with self._lock:
            cached = self._accounts.get(source.tenant_id)
        if cached and now - cached[0] < ACCOUNT_CACHE_SECONDS:
            return cached[1], 0
        accounts = self._xero.list_bank_accounts(source)
        with self._lock:
            self._accounts[source.tenant_id] = (now, accounts)
        return accounts, 1


def mirror_filter(query: SearchQuery, *, bank_account_id: str | None = None) -> MirrorFilter:
    """The query as the mirror is searched: text folded as the mirror folds it, money in e4."""

    def folded(value: str | None) -> str | None:
        return normalise(value) or None if value is not None else None

    def e4(value) -> int | None:
        return to_e4(value) if value is not None else None

    amount = query.amount
    return MirrorFilter(
        terms=tuple(t for t in (normalise(term) for term in query.text_terms) if t),
        contact=folded(query.contact),
        reference=folded(query.reference),
        bank_account_id=bank_account_id,
        types=tuple(query.types),
        reconciled=query.reconciled,
        date_from=query.date_from,
        date_to=query.date_to,
        min_total_e4=e4(query.min_amount),
        max_total_e4=e4(query.max_amount),
        # With a sign too: the total is its size, and the total's index finds it.
        total_e4=to_e4(abs(amount)) if amount is not None else None,
        signed_e4=to_e4(amount) if amount is not None and query.amount_signed else None,
    )


def _cursors(query: SearchQuery, org: TenantView, page: int, today: date, has_next: bool) -> dict:
    def cursor(n: int) -> str | None:
        try:
            return encode_cursor(query.raw, org.tenant_id, n, today)
        except CursorTooLong:
            return None

    return {
        "prev_cursor": cursor(page - 1) if page > 1 else None,
        "next_cursor": cursor(page + 1) if has_next else None,
        "this_cursor": cursor(page),
    }


def _pick_account(wanted: str, accounts: list[Any]) -> Any:
    """Exact code, exact name, then name prefix — case- and accent-insensitively."""
    key = normalise(wanted)
    for rule in (
        lambda a: normalise(a.code or "") == key,
        lambda a: normalise(a.name) == key,
        lambda a: normalise(a.name).startswith(key),
        lambda a: key in normalise(a.name),
    ):
        found = [a for a in accounts if rule(a)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            names = ", ".join(f"{a.name} ({a.code})" if a.code else a.name for a in found)
            raise ServiceError(f"`account:` matches several bank accounts: {names}. Be more specific.")
    names = ", ".join(a.name for a in accounts) or "none"
    raise ServiceError(f"No bank account matches “{wanted}”. Bank accounts: {names}.")
