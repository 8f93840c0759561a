"""What a digest says, and the one Xero read it needs — pure apart from :func:`fetch_unreconciled`.

:func:`summarise` turns Xero's unreconciled bank transactions into per-account counts (by kind),
totals and oldest dates plus the oldest items; the Slack layer renders the result. One definition
of "unreconciled item" holds everywhere — every bank-transaction type Xero lists (spend and receive
money, transfers, overpayments, prepayments) that is live and not reconciled — so the digest's
count is what its "Show all" lists. The figures are honest about what the API can see: never
bank-feed statement lines (apps cannot read those).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bot.xero.filters import TransactionFilter
from bot.xero.models import BankTransaction

if TYPE_CHECKING:
    from bot.xero.client import TokenSource, XeroClient

DEFAULT_ITEMS = 10  # oldest items shown with Edit buttons
MAX_PAGES = 5  # 5 × 1,000 unreconciled items: beyond that the totals say "at least"
PAGE_SIZE = 1000
UNRECONCILED = TransactionFilter(status="AUTHORISED", is_reconciled=False)  # every type

# How a digest names each kind of item, in the order it lists them: both directions of a
# transfer (or overpayment, prepayment) are one kind to a bookkeeper working down the list.
KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("spent", ("SPEND",)),
    ("received", ("RECEIVE",)),
    ("transfer", ("SPEND-TRANSFER", "RECEIVE-TRANSFER")),
    ("overpayment", ("SPEND-OVERPAYMENT", "RECEIVE-OVERPAYMENT")),
    ("prepayment", ("SPEND-PREPAYMENT", "RECEIVE-PREPAYMENT")),
)
_KIND_OF = {t: kind for kind, types in KINDS for t in types}


def kind_of(txn_type: str) -> str:
    """The digest's kind of a Xero type; a type Xero adds later is counted, as "other"."""
    return _KIND_OF.get(txn_type, "other")


def is_unreconciled_item(txn: BankTransaction | DigestItem) -> bool:
    """The one definition: live (authorised) and not reconciled, whatever its type."""
    return txn.status == "AUTHORISED" and not txn.is_reconciled


ORDER = "Date ASC, BankTransactionID ASC"  # oldest first; the id makes paging stable


@dataclass(frozen=True)
class AccountSummary:
    """One bank account's unreconciled items. ``total`` is signed: money out negative.
    ``kinds`` counts them by :data:`KINDS` (in that order, kinds with none left out)."""

    account_id: str | None
    name: str
    code: str | None
    currency: str | None
    count: int
    kinds: tuple[tuple[str, int], ...]
    total: Decimal
    oldest: date

    def kind_count(self, kind: str) -> int:
        return dict(self.kinds).get(kind, 0)


@dataclass(frozen=True)
class ItemContact:
    name: str | None


@dataclass(frozen=True)
class ItemAccount:
    account_id: str | None
    code: str | None
    name: str | None


@dataclass(frozen=True)
class DigestItem:
    """What a digest shows of one transaction — enough to draw its row again later, when a fix
    made after the post is shown in the same message. Reads like a ``BankTransaction`` row."""

    bank_transaction_id: str
    type: str
    status: str
    date: date
    updated_date_utc: datetime
    contact: ItemContact | None
    bank_account: ItemAccount
    reference: str | None
    url: str | None
    currency_code: str | None
    is_reconciled: bool
    total: Decimal

    @property
    def is_editable(self) -> bool:
        return self.type in ("SPEND", "RECEIVE") and self.status == "AUTHORISED"

    @property
    def is_spend(self) -> bool:
        return self.type.startswith("SPEND")

    @property
    def signed_total(self) -> Decimal:
        return -self.total if self.is_spend else self.total

    @classmethod
    def of(cls, txn: BankTransaction | DigestItem) -> DigestItem:
        if isinstance(txn, DigestItem):
            return txn
        return cls(
            bank_transaction_id=txn.bank_transaction_id,
            type=txn.type,
            status=txn.status,
            date=txn.date,
            updated_date_utc=txn.updated_date_utc,
            contact=ItemContact(txn.contact.name) if txn.contact else None,
            bank_account=ItemAccount(
                txn.bank_account.account_id, txn.bank_account.code, txn.bank_account.name
            ),
            reference=txn.reference,
            url=txn.url,
            currency_code=txn.currency_code,
            is_reconciled=txn.is_reconciled,
            total=txn.total,
        )


@dataclass(frozen=True)
class Fix:
    """A row of a posted digest fixed afterwards: its new reference, who fixed it and when."""

    reference: str | None
    by_user_id: str
    at: datetime


@dataclass(frozen=True)
class DigestContent:
    tenant_id: str
    org_name: str
    local_date: date
    accounts: tuple[AccountSummary, ...]
    oldest: tuple[BankTransaction | DigestItem, ...]
    count: int
    complete: bool  # False: more than MAX_PAGES pages, so the figures are "at least"
    short_code: str | None = None  # the organisation's, for "Open in Xero"
    zone: str | None = None  # the organisation's IANA zone, for "✓ by @bob 14:02"
    fixes: Mapping[str, Fix] = field(default_factory=dict)  # by BankTransactionID, after posting

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

    def with_facts(self, *, short_code: str | None, zone: str | None) -> DigestContent:
        return replace(self, short_code=short_code, zone=zone)

    def with_fixes(self, fixes: Mapping[str, Fix]) -> DigestContent:
        return replace(self, fixes=dict(fixes))


SNAPSHOT_VERSION = 2  # 1 counted spend and receive only; still read


def to_snapshot(content: DigestContent) -> str:
    """What a posted digest showed, as JSON to keep with the post (fixes are kept apart)."""

    def item(t: BankTransaction | DigestItem) -> dict[str, Any]:
        i = DigestItem.of(t)
        return {
            "id": i.bank_transaction_id,
            "type": i.type,
            "status": i.status,
            "date": i.date.isoformat(),
            "updated": i.updated_date_utc.isoformat(),
            "contact": i.contact.name if i.contact else None,
            "has_contact": i.contact is not None,
            "account": [i.bank_account.account_id, i.bank_account.code, i.bank_account.name],
            "reference": i.reference,
            "url": i.url,
            "currency": i.currency_code,
            "reconciled": i.is_reconciled,
            "total": str(i.total),
        }

    return json.dumps(
        {
            "v": SNAPSHOT_VERSION,
            "tenant_id": content.tenant_id,
            "org_name": content.org_name,
            "local_date": content.local_date.isoformat(),
            "accounts": [
                [
                    a.account_id,
                    a.name,
                    a.code,
                    a.currency,
                    a.count,
                    [list(k) for k in a.kinds],
                    str(a.total),
                    a.oldest.isoformat(),
                ]
                for a in content.accounts
            ],  # fmt: skip
            "oldest": [item(t) for t in content.oldest],
            "count": content.count,
            "complete": content.complete,
            "short_code": content.short_code,
            "zone": content.zone,
        },
        separators=(",", ":"),
    )


def from_snapshot(raw: str) -> DigestContent:
    data = json.loads(raw)
    version = data.get("v")
    if version not in (1, SNAPSHOT_VERSION):
        raise ValueError(f"unknown digest snapshot version {version!r}")

    def item(d: dict[str, Any]) -> DigestItem:
        account_id, code, name = d["account"]
        return DigestItem(
            bank_transaction_id=d["id"],
            type=d["type"],
            status=d["status"],
            date=date.fromisoformat(d["date"]),
            updated_date_utc=datetime.fromisoformat(d["updated"]),
            contact=ItemContact(d["contact"]) if d.get("has_contact") else None,
            bank_account=ItemAccount(account_id, code, name),
            reference=d.get("reference"),
            url=d.get("url"),
            currency_code=d.get("currency"),
            is_reconciled=bool(d.get("reconciled")),
            total=Decimal(d["total"]),
        )

    return DigestContent(
        tenant_id=data["tenant_id"],
        org_name=data["org_name"],
        local_date=date.fromisoformat(data["local_date"]),
        accounts=tuple(_account_from_snapshot(a, version) for a in data["accounts"]),
        oldest=tuple(item(d) for d in data["oldest"]),
        count=int(data["count"]),
        complete=bool(data["complete"]),
        short_code=data.get("short_code"),
        zone=data.get("zone"),
    )


def _account_from_snapshot(a: list[Any], version: int) -> AccountSummary:
    if version == 1:  # [id, name, code, currency, count, spend, receive, total, oldest]
        kinds = tuple((k, n) for k, n in (("spent", a[5]), ("received", a[6])) if n)
        return AccountSummary(a[0], a[1], a[2], a[3], a[4], kinds, Decimal(a[7]), date.fromisoformat(a[8]))
    kinds = tuple((str(k), int(n)) for k, n in a[5])
    return AccountSummary(a[0], a[1], a[2], a[3], a[4], kinds, Decimal(a[6]), date.fromisoformat(a[7]))


def count_kinds(types: Iterable[str]) -> tuple[tuple[str, int], ...]:
    counted: dict[str, int] = defaultdict(int)
    for t in types:
        counted[kind_of(t)] += 1
    order = [kind for kind, _ in KINDS] + ["other"]
    return tuple((kind, counted[kind]) for kind in order if counted.get(kind))


def summarise(
    txns: Iterable[BankTransaction],
    *,
    tenant_id: str,
    org_name: str,
    local_date: date,
    complete: bool = True,
    max_items: int = DEFAULT_ITEMS,
) -> DigestContent:
    """Group unreconciled items by bank account; keep the ``max_items`` oldest.

    Anything that is not an unreconciled item (:func:`is_unreconciled_item`) is ignored, so the
    figures mean what the message says even if Xero's filter were looser than asked.
    """
    rows = [t for t in txns if is_unreconciled_item(t)]
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
            kinds=count_kinds(t.type for t in items),
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
    """The ``/recon search`` text that lists what a digest (or one account of it) counted, in
    the digest's own order (``sort:oldest``), so its first row is the digest's first item.

    Built only from values Xero gave us; quotes inside names are dropped so the query parses.
    ``from:`` reaches back to the oldest item (searches default to 90 days).
    """
    oldest = account.oldest if account else content.oldest_date
    parts = ["status:unreconciled", "sort:oldest"]
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
    """Every unreconciled item, oldest first: one call per 1,000 items."""
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
