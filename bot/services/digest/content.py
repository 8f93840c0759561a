"""What a digest says, and the one Xero read it needs — pure apart from :func:`fetch_unreconciled`.

:func:`summarise` turns Xero's unreconciled spend/receive transactions into per-account counts,
totals and oldest dates plus the oldest items; the Slack layer renders the result. The figures
are honest about what the API can see: transactions not yet reconciled in Xero, never bank-feed
statement lines (apps cannot read those).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from bot.xero.filters import TransactionFilter
from bot.xero.models import BankTransaction

if TYPE_CHECKING:
    from bot.xero.client import TokenSource, XeroClient

DEFAULT_ITEMS = 10  # oldest items shown with Edit buttons
MAX_PAGES = 5  # 5 × 1,000 unreconciled items: beyond that the totals say "at least"
PAGE_SIZE = 1000
UNRECONCILED = TransactionFilter(types=("SPEND", "RECEIVE"), status="AUTHORISED", is_reconciled=False)
ORDER = "Date ASC, BankTransactionID ASC"  # oldest first; the id makes paging stable


@dataclass(frozen=True)
class AccountSummary:
    """One bank account's unreconciled items. ``total`` is signed: spend negative."""

    account_id: str | None
    name: str
    code: str | None
    currency: str | None
    count: int
    spend_count: int
    receive_count: int
    total: Decimal
    oldest: date


@dataclass(frozen=True)
class DigestContent:
    tenant_id: str
    org_name: str
    local_date: date
    accounts: tuple[AccountSummary, ...]
    oldest: tuple[BankTransaction, ...]
    count: int
    complete: bool  # False: more than MAX_PAGES pages, so the figures are "at least"

    @property
    def is_clear(self) -> bool:
        return self.count == 0 and self.complete

    @property
    def more(self) -> int:
        """Items not shown in the oldest-items list."""
        return max(0, self.count - len(self.oldest))

    @property
    def totals(self) -> tuple[tuple[str | None, Decimal], ...]:
        """Signed totals per currency (a foreign-currency account is never added to the rest),
        the currency with the most items first — amounts in different currencies don't compare."""
        by_currency: dict[str | None, Decimal] = defaultdict(Decimal)
        items: dict[str | None, int] = defaultdict(int)
        for account in self.accounts:
            by_currency[account.currency] += account.total
            items[account.currency] += account.count
        order = sorted(by_currency, key=lambda c: (-items[c], c or ""))
        return tuple((currency, by_currency[currency]) for currency in order)

    @property
    def oldest_date(self) -> date | None:
        return min((a.oldest for a in self.accounts), default=None)


def summarise(
    txns: Iterable[BankTransaction],
    *,
    tenant_id: str,
    org_name: str,
    local_date: date,
    complete: bool = True,
    max_items: int = DEFAULT_ITEMS,
) -> DigestContent:
    """Group unreconciled transactions by bank account; keep the ``max_items`` oldest.

    Anything that is not authorised, unreconciled spend/receive money is ignored, so the
    figures mean what the message says even if Xero's filter were looser than asked.
    """
    rows = [
        t for t in txns if t.type in ("SPEND", "RECEIVE") and t.status == "AUTHORISED" and not t.is_reconciled
    ]
    rows.sort(key=lambda t: (t.date, t.bank_transaction_id))
    groups: dict[str, list[BankTransaction]] = {}
    for t in rows:
        key = t.bank_account.account_id or t.bank_account.code or t.bank_account.name or "?"
        groups.setdefault(key, []).append(t)
    accounts = [
        AccountSummary(
            account_id=items[0].bank_account.account_id,
            name=items[0].bank_account.name or items[0].bank_account.code or "Bank account",
            code=items[0].bank_account.code,
            currency=items[0].currency_code,
            count=len(items),
            spend_count=sum(1 for t in items if t.is_spend),
            receive_count=sum(1 for t in items if not t.is_spend),
            total=sum((t.signed_total for t in items), Decimal(0)),
            oldest=items[0].date,
        )
        for items in groups.values()
    ]
    accounts.sort(key=lambda a: (-a.count, a.name.casefold()))
    return DigestContent(
        tenant_id=tenant_id,
        org_name=org_name,
        local_date=local_date,
        accounts=tuple(accounts),
        oldest=tuple(rows[: max(0, max_items)]),
        count=len(rows),
        complete=complete,
    )


def search_query(content: DigestContent, account: AccountSummary | None = None) -> str:
    """The ``/recon search`` text that lists what a digest (or one account of it) counted.

    Built only from values Xero gave us; quotes inside names are dropped so the query parses.
    ``from:`` reaches back to the oldest item (searches default to 90 days).
    """
    oldest = account.oldest if account else content.oldest_date
    parts = ["status:unreconciled"]
    if account is not None:
        if account.code and re.fullmatch(r"[A-Za-z0-9_.-]{1,20}", account.code):
            parts.append(f"account:{account.code}")
        else:
            parts.append(f'account:"{_unquote(account.name)}"')
    if oldest is not None:
        parts.append(f"from:{oldest.isoformat()}")
    parts.append(f'org:"{_unquote(content.org_name)}"')
    return " ".join(parts)


def _unquote(text: str) -> str:
    return re.sub(r"[\"“”„‟＂\s]+", " ", text).strip()[:200]


@dataclass(frozen=True)
class Fetched:
    transactions: tuple[BankTransaction, ...]
    complete: bool
    calls: int


def fetch_unreconciled(xero: XeroClient, auth: TokenSource, *, max_pages: int = MAX_PAGES) -> Fetched:
    """Every unreconciled spend/receive transaction, oldest first: one call per 1,000 items."""
    found: list[BankTransaction] = []
    calls = 0
    for page_no in range(1, max_pages + 1):
        page = xero.list_bank_transactions(auth, UNRECONCILED, page=page_no, page_size=PAGE_SIZE, order=ORDER)
        calls += 1
        found.extend(page.transactions)
        more = page.has_more
        if more is None:
            more = len(page.transactions) >= PAGE_SIZE
        if not more or not page.transactions:
            return Fetched(tuple(found), True, calls)
    return Fetched(tuple(found), False, calls)
