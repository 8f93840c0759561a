"""Search over a user's Xero organisation: structured filters to Xero, text on our side.

Page size strategy: without bot-side text filters Xero's own paging maps 1:1 onto ours (one call
per page of 10). With text filters we must read rows to match them, so we read large pages
(``SCAN_PAGE_SIZE``) newest first and stop as soon as the requested page — plus one row, to know
whether a Next page exists — is filled.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from bot.services.connect import ConnectService
from bot.services.cursor import CursorError, CursorTooLong, decode_cursor, encode_cursor
from bot.services.errors import ServiceError
from bot.services.query import SearchQuery, parse_query
from bot.services.textmatch import matches, normalise
from bot.services.tokens import TokenService
from bot.xero.client import XeroClient
from bot.xero.models import BankAccount, BankTransaction
from storage.grants import TenantView
from storage.models import utcnow

PAGE_ROWS = 10
SCAN_PAGE_SIZE = 1000
MAX_SCAN_PAGES = 10  # 10,000 rows per text search at most; past that, ask for a narrower query
ACCOUNT_CACHE_SECONDS = 300


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


class SearchService:
    def __init__(
        self,
        xero: XeroClient,
        tokens: TokenService,
        connect: ConnectService,
        *,
        now: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._xero = xero
        self._tokens = tokens
        self._connect = connect
        self._now = now
        self._monotonic = monotonic
        self._accounts: dict[str, tuple[float, list[BankAccount]]] = {}
        self._lock = threading.Lock()

    def search(self, team_id: str, user_id: str, text: str, *, today: date | None = None) -> SearchResult:
        today = today or self._now().date()
        query = parse_query(text, today=today)
        if query.org:
            tenant = self._connect.resolve_org(team_id, user_id, query.org)
            org = self._connect.require_tenant(team_id, user_id, tenant.tenant_id)
        else:
            org = self._connect.require_tenant(team_id, user_id, None)
        return self._run(team_id, user_id, query, org, page=1, today=today)

    def page(self, team_id: str, user_id: str, cursor: str) -> SearchResult:
        """Another page of an earlier search, re-checked against the presser's own grants."""
        try:
            decoded = decode_cursor(cursor)
        except CursorError:
            raise ServiceError("That page link is damaged — run the search again.") from None
        org = self._connect.require_tenant(team_id, user_id, decoded.tenant_id)
        query = parse_query(decoded.query_text, today=decoded.snapshot)
        return self._run(team_id, user_id, query, org, page=decoded.page, today=decoded.snapshot)

    # ------------------------------------------------------------------ internals

    def _run(
        self, team_id: str, user_id: str, query: SearchQuery, org: TenantView, *, page: int, today: date
    ) -> SearchResult:
        source = self._tokens.source(team_id, user_id, org.tenant_id)
        calls = 0
        account_id = None
        if query.account:
            accounts, fetched = self._bank_accounts(source)
            calls += fetched
            account_id = uuid.UUID(_pick_account(query.account, accounts).account_id)
        txn_filter = query.to_filter(bank_account_id=account_id)
        needs_text = bool(query.text_terms or query.contact or query.reference)

        truncated = False
        if not needs_text:
            result = self._xero.list_bank_transactions(source, txn_filter, page=page, page_size=PAGE_ROWS)
            calls += 1
            rows = result.transactions
            has_next = bool(result.has_more) if result.has_more is not None else len(rows) >= PAGE_ROWS
        else:
            wanted = page * PAGE_ROWS + 1
            found: list[BankTransaction] = []
            for xero_page in range(1, MAX_SCAN_PAGES + 1):
                result = self._xero.list_bank_transactions(
                    source, txn_filter, page=xero_page, page_size=SCAN_PAGE_SIZE
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

        def cursor(n: int) -> str | None:
            try:
                return encode_cursor(query.raw, org.tenant_id, n, today)
            except CursorTooLong:
                return None

        return SearchResult(
            query=query,
            org=org,
            rows=tuple(rows),
            page=page,
            has_prev=page > 1,
            has_next=has_next,
            prev_cursor=cursor(page - 1) if page > 1 else None,
            next_cursor=cursor(page + 1) if has_next else None,
            this_cursor=cursor(page),
            xero_calls=calls,
            truncated=truncated,
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


def _pick_account(wanted: str, accounts: list[BankAccount]) -> BankAccount:
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
