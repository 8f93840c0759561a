"""The sandbox's in-memory records: organisations, accounts, contacts, bank transactions.

Records are plain slotted classes (not dicts) so that 200,000 transactions per organisation fit
in memory and generate in seconds. Money is held as :class:`~decimal.Decimal`; dates as
``date`` and UTC milliseconds, the forms the JSON renderer needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True)
class TaxRate:
    tax_type: str
    name: str
    rate_bp: int  # basis points: 1500 for 15 %


@dataclass
class Account:
    account_id: str
    code: str
    name: str
    type: str  # BANK, EXPENSE, REVENUE, ...
    tax_type: str = "NONE"
    status: str = "ACTIVE"
    currency: str | None = None  # bank accounts only
    bank_account_number: str | None = None
    bank_account_type: str | None = None  # BANK, CREDITCARD, ...
    updated_ms: int = 0

    @property
    def is_bank(self) -> bool:
        return self.type == "BANK"


@dataclass
class Contact:
    contact_id: str
    name: str
    updated_ms: int = 0


@dataclass
class TrackingOption:
    option_id: str
    name: str
    status: str = "ACTIVE"


@dataclass
class TrackingCategory:
    category_id: str
    name: str
    options: list[TrackingOption]
    status: str = "ACTIVE"

    def option_named(self, name: str) -> TrackingOption | None:
        return next((o for o in self.options if o.name.lower() == name.lower()), None)

    def option_with_id(self, option_id: str) -> TrackingOption | None:
        return next((o for o in self.options if o.option_id.lower() == option_id.lower()), None)


class Line:
    """One line item. ``tracking`` holds (category, option) pairs, at most two.

    Amounts are integer cents; ``unit_amount`` is ``None`` when it is simply
    ``line_amount / quantity`` (every generated line), which keeps generation cheap.
    """

    __slots__ = (
        "line_item_id",
        "description",
        "quantity",
        "unit_amount",
        "account_code",
        "tax_type",
        "tax_amount",
        "line_amount",
        "tracking",
    )

    def __init__(
        self,
        line_item_id: str,
        description: str,
        quantity: Decimal,
        unit_amount: Decimal | None,
        account_code: str,
        tax_type: str,
        tax_amount: int,
        line_amount: int,
        tracking: tuple[tuple[TrackingCategory, TrackingOption], ...] = (),
    ) -> None:
        self.line_item_id = line_item_id
        self.description = description
        self.quantity = quantity
        self.unit_amount = unit_amount
        self.account_code = account_code
        self.tax_type = tax_type
        self.tax_amount = tax_amount
        self.line_amount = line_amount
        self.tracking = tracking

    def unit(self) -> Decimal:
        if self.unit_amount is not None:
            return self.unit_amount
        return (Decimal(self.line_amount).scaleb(-2) / self.quantity).quantize(Decimal("0.0001"))

    def copy(self) -> Line:
        return Line(
            self.line_item_id,
            self.description,
            self.quantity,
            self.unit_amount,
            self.account_code,
            self.tax_type,
            self.tax_amount,
            self.line_amount,
            self.tracking,
        )


class Txn:
    """One bank transaction as stored; rendered to Xero's JSON by :mod:`.render`."""

    __slots__ = (
        "id",
        "type",
        "status",
        "contact",
        "bank",
        "date",
        "updated_ms",
        "reconciled",
        "reference",
        "url",
        "line_amount_types",
        "lines",
        "sub_total",
        "total_tax",
        "total",
        "currency_code",
        "currency_rate",
        "overpayment_id",
        "prepayment_id",
        "has_attachments",
        "created_ms",
    )

    def __init__(self) -> None:
        self.id = ""
        self.type = "SPEND"
        self.status = "AUTHORISED"
        self.contact: Contact | None = None
        self.bank: Account | None = None
        self.date = date.min
        self.updated_ms = 0
        self.created_ms = 0
        self.reconciled = False
        self.reference: str | None = None
        self.url: str | None = None
        self.line_amount_types = "Inclusive"
        self.lines: list[Line] = []
        self.sub_total = 0  # cents
        self.total_tax = 0
        self.total = 0
        self.currency_code = "NZD"
        self.currency_rate: Decimal | None = None
        self.overpayment_id: str | None = None
        self.prepayment_id: str | None = None
        self.has_attachments = False


@dataclass
class Organisation:
    tenant_id: str
    name: str
    short_code: str
    base_currency: str
    country_code: str
    timezone: str  # Xero's Windows-style name, e.g. NEWZEALANDSTANDARDTIME
    iana_timezone: str
    version: str
    created: datetime
    accounts: list[Account]
    contacts: list[Contact]
    tracking: list[TrackingCategory]
    tax_rates: dict[str, TaxRate]
    transaction_count: int
    seed: str
    transactions: dict[str, Txn] | None = None  # generated on first use
    history: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    _by_code: tuple[int, dict[str, Account]] | None = field(default=None, repr=False, compare=False)

    @property
    def bank_accounts(self) -> list[Account]:
        return [a for a in self.accounts if a.is_bank]

    def account_by_code(self, code: str) -> Account | None:
        """By code, any case (every rendered line looks its account up, so this is a dict)."""
        if self._by_code is None or self._by_code[0] != len(self.accounts):
            by_code: dict[str, Account] = {}
            for a in self.accounts:
                by_code.setdefault(a.code.lower(), a)
            self._by_code = (len(self.accounts), by_code)
        return self._by_code[1].get(code.lower())

    def account_by_id(self, account_id: str) -> Account | None:
        return next((a for a in self.accounts if a.account_id.lower() == account_id.lower()), None)

    def contact_by_id(self, contact_id: str) -> Contact | None:
        return next((c for c in self.contacts if c.contact_id.lower() == contact_id.lower()), None)

    def contact_by_name(self, name: str) -> Contact | None:
        return next((c for c in self.contacts if c.name.lower() == name.lower()), None)

    def tracking_by_name(self, name: str) -> TrackingCategory | None:
        return next((t for t in self.tracking if t.name.lower() == name.lower()), None)

    def tracking_by_id(self, category_id: str) -> TrackingCategory | None:
        return next((t for t in self.tracking if t.category_id.lower() == category_id.lower()), None)


@dataclass
class User:
    """A Xero login. ``tenant_ids`` are the organisations this user may connect."""

    xero_user_id: str
    email: str
    given_name: str
    family_name: str
    tenant_ids: list[str]
    sub: str = ""

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


def clone(txn: Txn) -> Txn:
    """A copy whose lines can be changed without touching the original (for all-or-nothing updates)."""
    copy = Txn()
    for name in Txn.__slots__:
        setattr(copy, name, getattr(txn, name))
    copy.lines = [line.copy() for line in txn.lines]
    return copy
