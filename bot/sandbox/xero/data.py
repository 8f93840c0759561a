"""Deterministic, realistic-looking Xero data.

Everything derives from ``seed``: the same seed and clock start give the same organisations,
contacts, accounts and transactions, byte for byte. Transactions are generated per
organisation on first use (``ensure_transactions``) so that a 200,000-row benchmark
organisation costs nothing until someone reads it.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from .model import Account, Contact, Line, Organisation, TaxRate, TrackingCategory, TrackingOption, Txn, User
from .totals import line_tax

HISTORY_DAYS = 548  # about 18 months of transactions before the clock's start


@dataclass(frozen=True)
class OrgProfile:
    name: str
    short_code: str
    currency: str
    country: str
    timezone: str
    iana: str
    version: str
    foreign_currency: str
    tax_rate: str
    tracking: tuple[tuple[str, tuple[str, ...]], ...]
    suppliers: tuple[str, ...]
    customers: tuple[str, ...]


PROFILES: tuple[OrgProfile, ...] = (
    OrgProfile(
        "Harbour Coffee Roasters",
        "!hcr01",
        "NZD",
        "NZ",
        "NEWZEALANDSTANDARDTIME",
        "Pacific/Auckland",
        "NZ",
        "USD",
        "0.15",
        (
            ("Region", ("Auckland", "Wellington", "Christchurch")),
            ("Channel", ("Wholesale", "Retail", "Online")),
        ),
        (
            "Zephyr Plumbing Ltd",
            "Pacific Green Bean Traders",
            "Anchor Milk Supplies",
            "Meridian Energy",
            "Spark NZ",
            "Kiwi Packaging Co",
            "Ponsonby Property Management",
            "Fix-It Espresso Machines",
            "Auckland Council",
            "Trade Me Ltd",
            "O'Reilly & Sons Freight",
            "*Star* Print Shop",
            "Waitemata Cleaning Services",
            "Bean Scene Equipment",
            "Z Energy",
        ),
        (
            "Café Kōwhai",
            "The Daily Grind",
            "Queen St Deli",
            "Ponsonby Social Club",
            "Mt Eden Bakery",
            "<!channel> Events Ltd",
            "Devonport Books & Brews",
            "Grey Lynn Grocers",
            "Wellington Wholesale",
            "Cash Sales",
        ),
    ),
    OrgProfile(
        "Kestrel Design Studio",
        "!kds02",
        "GBP",
        "GB",
        "GMTSTANDARDTIME",
        "Europe/London",
        "UK",
        "EUR",
        "0.20",
        (("Department", ("Branding", "Illustration", "Web", "Admin")),),
        (
            "Adobe Systems Software Ireland",
            "WeWork Shoreditch",
            "British Gas Business",
            "BT Business",
            "Royal Mail",
            "Pret A Manger",
            "Figma Inc",
            "Paper & Ink Supplies Ltd",
            "HMRC",
            "Transport for London",
            "Smith & Jones <Accountants>",
            "Brewdog Camden",
        ),
        (
            "Northwind Traders",
            "Bluebell Florists",
            "Camden Market Co-op",
            "Thames Rowing Club",
            "Greenwich Gallery",
            "Acme Widgets plc",
            "Lumen Architects",
            "Orchard Cider Ltd",
        ),
    ),
    OrgProfile(
        "Bluegum Physiotherapy",
        "!bgp03",
        "AUD",
        "AU",
        "AUSEASTERNSTANDARDTIME",
        "Australia/Sydney",
        "AU",
        "NZD",
        "0.10",
        (("Clinic", ("Bondi", "Parramatta", "Newtown")),),
        ("Medical Supplies Australia", "Telstra", "AGL Energy", "Bondi Beach Leasing", "Officeworks"),
        ("Medibank Private", "Bupa Australia", "NIB Health Funds", "Walk-in Patients"),
    ),
    OrgProfile(
        "Lighthouse Books",
        "!lhb04",
        "USD",
        "US",
        "PACIFICSTANDARDTIME",
        "America/Los_Angeles",
        "US",
        "CAD",
        "0.00",
        (("Store", ("Downtown", "Harbor")),),
        ("Ingram Content Group", "PG&E", "Comcast Business", "Harbor Leasing LLC", "Square Inc"),
        ("Portland Public Schools", "Book Club Orders", "Walk-in Sales", "Harbor Library Friends"),
    ),
)

SPEND_ACCOUNTS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("300", "Purchases", "DIRECTCOSTS", ("Green beans", "Milk", "Packaging", "Stock purchase")),
    ("404", "Bank Fees", "EXPENSE", ("Monthly account fee", "Merchant fees", "International transfer fee")),
    ("408", "Cleaning", "EXPENSE", ("Office clean", "Window cleaning")),
    ("412", "Consulting & Accounting", "EXPENSE", ("Bookkeeping", "Year-end accounts")),
    ("420", "Entertainment", "EXPENSE", ("Team lunch", "Client coffee")),
    ("429", "General Expenses", "EXPENSE", ("Sundries", "Postage")),
    ("445", "Light, Power, Heating", "EXPENSE", ("Electricity", "Gas")),
    ("461", "Printing & Stationery", "EXPENSE", ("Business cards", "Printer paper", "Labels")),
    ("469", "Rent", "EXPENSE", ("Monthly rent", "Storage unit")),
    ("473", "Repairs and Maintenance", "EXPENSE", ("Machine service", "Plumbing repair")),
    ("485", "Subscriptions", "EXPENSE", ("Software subscription", "Trade magazine")),
    ("489", "Telephone & Internet", "EXPENSE", ("Broadband", "Mobile plan")),
    ("493", "Travel - National", "EXPENSE", ("Taxi", "Train fare", "Parking")),
)
RECEIVE_ACCOUNTS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("200", "Sales", "REVENUE", ("Wholesale order", "Retail sales", "Online orders", "Invoice payment")),
    ("260", "Other Revenue", "OTHERINCOME", ("Workshop fees", "Equipment hire", "Refund received")),
)


def new_uuid(rng: random.Random) -> str:
    """A random version-4 UUID from ``rng`` (so it is reproducible); formatted by hand for speed."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_VARIANT = {c: "89ab"[int(c, 16) % 4] for c in "0123456789abcdef"}


def epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def build_organisations(seed: int, count: int, transactions: int, start: datetime) -> list[Organisation]:
    return [_build_org(seed, i, transactions, start) for i in range(count)]


def _build_org(seed: int, index: int, transactions: int, start: datetime) -> Organisation:
    rng = random.Random(f"xero-sandbox:{seed}:org:{index}")
    profile = PROFILES[index % len(PROFILES)]
    name = profile.name if index < len(PROFILES) else f"{profile.name} {index // len(PROFILES) + 1}"
    short_code = profile.short_code if index < len(PROFILES) else f"{profile.short_code[:4]}{index:02d}"
    created = start - timedelta(days=HISTORY_DAYS + 30 + rng.randrange(400))
    created_ms = epoch_ms(created)
    rate = int(Decimal(profile.tax_rate) * 10_000)
    tax_rates = {
        "INPUT2": TaxRate("INPUT2", "Tax on Purchases", rate),
        "OUTPUT2": TaxRate("OUTPUT2", "Tax on Sales", rate),
        "NONE": TaxRate("NONE", "No Tax", 0),
        "EXEMPTINPUT": TaxRate("EXEMPTINPUT", "Exempt Expenses", 0),
        "ZERORATEDOUTPUT": TaxRate("ZERORATEDOUTPUT", "Zero Rated Income", 0),
    }
    accounts = _bank_accounts(rng, profile, index, created_ms)
    for code, acc_name, acc_type, _ in SPEND_ACCOUNTS:
        accounts.append(Account(new_uuid(rng), code, acc_name, acc_type, "INPUT2", updated_ms=created_ms))
    for code, acc_name, acc_type, _ in RECEIVE_ACCOUNTS:
        accounts.append(Account(new_uuid(rng), code, acc_name, acc_type, "OUTPUT2", updated_ms=created_ms))
    contacts = [Contact(new_uuid(rng), n, created_ms) for n in (*profile.suppliers, *profile.customers)]
    tracking = [
        TrackingCategory(new_uuid(rng), cat, [TrackingOption(new_uuid(rng), o) for o in options])
        for cat, options in profile.tracking
    ]
    return Organisation(
        tenant_id=new_uuid(rng),
        name=name,
        short_code=short_code,
        base_currency=profile.currency,
        country_code=profile.country,
        timezone=profile.timezone,
        iana_timezone=profile.iana,
        version=profile.version,
        created=created,
        accounts=accounts,
        contacts=contacts,
        tracking=tracking,
        tax_rates=tax_rates,
        transaction_count=transactions,
        seed=f"xero-sandbox:{seed}:txns:{index}",
    )


def _bank_accounts(rng: random.Random, profile: OrgProfile, index: int, created_ms: int) -> list[Account]:
    prefix = "12-3456-" if profile.country == "NZ" else "20-45-77 "
    accounts = [
        Account(
            new_uuid(rng),
            "090",
            "Business Bank Account",
            "BANK",
            "NONE",
            currency=profile.currency,
            bank_account_number=f"{prefix}{rng.randrange(10**7):07d}",
            bank_account_type="BANK",
            updated_ms=created_ms,
        ),
        Account(
            new_uuid(rng),
            "091",
            "Company Credit Card",
            "BANK",
            "NONE",
            currency=profile.currency,
            bank_account_number=f"4111 **** **** {rng.randrange(10**4):04d}",
            bank_account_type="CREDITCARD",
            updated_ms=created_ms,
        ),
    ]
    if index % 2 == 0 or index < 2:
        accounts.append(
            Account(
                new_uuid(rng),
                "092",
                f"{profile.foreign_currency} Account",
                "BANK",
                "NONE",
                currency=profile.foreign_currency,
                bank_account_number=f"{prefix}{rng.randrange(10**7):07d}",
                bank_account_type="BANK",
                updated_ms=created_ms,
            )
        )
    accounts.append(
        Account(
            new_uuid(rng),
            "094",
            "Old Cheque Account",
            "BANK",
            "NONE",
            status="ARCHIVED",
            currency=profile.currency,
            bank_account_number=f"{prefix}0000001",
            bank_account_type="BANK",
            updated_ms=created_ms,
        )
    )
    return accounts


def default_user(seed: int, tenant_ids: list[str]) -> User:
    rng = random.Random(f"xero-sandbox:{seed}:user")
    return User(
        xero_user_id=new_uuid(rng),
        email="bookkeeper@harbourcoffee.example",
        given_name="Aroha",
        family_name="Ngata",
        tenant_ids=list(tenant_ids),
        sub=uuid.UUID(int=rng.getrandbits(128)).hex,
    )


def make_user(email: str, given_name: str, family_name: str, tenant_ids: list[str]) -> User:
    rng = random.Random(f"xero-sandbox:user:{email.lower()}")
    return User(
        new_uuid(rng),
        email,
        given_name,
        family_name,
        list(tenant_ids),
        uuid.UUID(int=rng.getrandbits(128)).hex,
    )


# --- transactions -------------------------------------------------------------------------

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAY_MS = 86_400_000
_ONE = Decimal(1)
_QUANTITIES = {n: Decimal(n) for n in range(1, 13)}


def ensure_transactions(org: Organisation, start: datetime) -> dict[str, Txn]:
    """Generate ``org``'s transactions if not done yet (callers hold the store lock)."""
    if org.transactions is None:
        org.transactions = generate_transactions(org, start)
    return org.transactions


def generate_transactions(org: Organisation, start: datetime) -> dict[str, Txn]:
    return _TxnGenerator(org, start).run()


class _TxnGenerator:
    """Builds one organisation's transactions; split out so the hot loop reads top-down.

    Written for speed (integer cents, integer milliseconds, one RNG) because benchmarks ask
    for 200,000 rows per organisation.
    """

    def __init__(self, org: Organisation, start: datetime) -> None:
        self.org = org
        self.rng = random.Random(org.seed)
        self.rand = self.rng.random  # bound once: the hot loop draws about 20 numbers a row
        self.start_ms = epoch_ms(start.astimezone(UTC))
        self.today = start.astimezone(UTC).date()
        self.today_ord = self.today.toordinal()
        banks = [a for a in org.bank_accounts if a.status == "ACTIVE"]
        self.home_banks = [a for a in banks if a.currency == org.base_currency]
        self.foreign_banks = [a for a in banks if a.currency != org.base_currency]
        profile = next((p for p in PROFILES if org.name.startswith(p.name)), PROFILES[0])
        self.suppliers = org.contacts[: len(profile.suppliers)]
        self.customers = org.contacts[len(profile.suppliers) :]
        self.rates = {k: v.rate_bp for k, v in org.tax_rates.items()}
        self.out: dict[str, Txn] = {}
        # Shared values (one object per distinct value): a million rows repeat the same days,
        # initials, references and tracking pairs, so sharing them saves time and memory.
        self._days: dict[int, date] = {}
        self._initials: dict[str, str] = {}
        self._strings: dict[str, str] = {}
        self._tracking: dict[tuple[int, ...], tuple] = {}

    def run(self) -> dict[str, Txn]:
        rng = self.rng
        wanted = self.org.transaction_count
        while len(self.out) < wanted:
            r = rng.random()
            if r < 0.58:
                self._money("SPEND", True)
            elif r < 0.88:
                self._money("RECEIVE", False)
            elif r < 0.95 and wanted - len(self.out) >= 2:
                self._transfer()
            else:
                kind = ("SPEND-OVERPAYMENT", "RECEIVE-OVERPAYMENT", "SPEND-PREPAYMENT", "RECEIVE-PREPAYMENT")[
                    int(rng.random() * 4)
                ]
                self._money(kind, kind.startswith("SPEND"))
        return self.out

    def _base(self, kind: str, bank: Account, day_ord: int) -> Txn:
        rand = self.rand
        t = Txn()
        t.id = new_uuid(self.rng)
        t.type = kind
        t.bank = bank
        day = self._days.get(day_ord)
        if day is None:
            day = self._days[day_ord] = date.fromordinal(day_ord)
        t.date = day
        day_ms = (day_ord - _EPOCH_ORDINAL) * _DAY_MS
        created_ms = day_ms + int(rand() * 4 * _DAY_MS) + 28_800_000 + int(rand() * 43_200_000)
        latest = self.start_ms - 60_000 - int(rand() * 3_600_000)
        if created_ms > latest:
            created_ms = latest
        t.created_ms = created_ms
        t.updated_ms = created_ms
        r = rand()
        if r < 0.08:  # edited some time after it was entered
            t.updated_ms = min(created_ms + int(r * 12.5 * 30 * _DAY_MS), self.start_ms - 1000)
        t.reconciled = rand() >= (0.7 if self.today_ord - day_ord < 45 else 0.155)
        currency = bank.currency or self.org.base_currency
        t.currency_code = currency
        if currency != self.org.base_currency:
            t.currency_rate = Decimal(f"{0.5 + rand():.6f}")
        return t

    def _day(self) -> int:
        return self.today_ord - 1 - int(self.rng.random() * HISTORY_DAYS)

    def _bank(self) -> Account:
        rng = self.rng
        r = rng.random()
        if self.foreign_banks and r < 0.07:
            return self.foreign_banks[0]
        return self.home_banks[0] if r < 0.78 else self.home_banks[-1]

    def _money(self, kind: str, spend: bool) -> None:
        rng = self.rng
        t = self._base(kind, self._bank(), self._day())
        contacts = self.suppliers if spend else self.customers
        t.contact = contacts[int(rng.random() * len(contacts))]
        if kind == "SPEND" or kind == "RECEIVE":
            r = rng.random()
            t.line_amount_types = "Inclusive" if r < 0.6 else ("Exclusive" if r < 0.9 else "NoTax")
            if r < 0.045:  # r is uniform within each band, so reuse it for a rare status
                t.status = "DELETED" if r < 0.03 else "VOIDED"
            t.reference = self._reference(spend, t.contact)
            r = rng.random()
            if r < 0.1:
                t.url = f"https://docs.example.com/{'receipts' if spend else 'invoices'}/{int(r * 1e7):06d}"
            t.has_attachments = r > 0.85
        else:
            t.line_amount_types = "NoTax"
            if "OVERPAYMENT" in kind:
                t.overpayment_id = new_uuid(rng)
            else:
                t.prepayment_id = new_uuid(rng)
        r = rng.random()
        n_lines = 1 if r < 0.7 else (2 if r < 0.9 else 3 + int((r - 0.9) * 30))
        table = SPEND_ACCOUNTS if spend else RECEIVE_ACCOUNTS
        tax_type = ("INPUT2" if spend else "OUTPUT2") if t.line_amount_types != "NoTax" else "NONE"
        rate = self.rates.get(tax_type, 0)
        for _ in range(n_lines):
            code, _name, _type, descriptions = table[int(rng.random() * len(table))]
            self._add_line(t, code, descriptions[int(rng.random() * len(descriptions))], tax_type, rate)
        self._finish(t)

    def _reference(self, spend: bool, contact: Contact) -> str | None:
        r = self.rng.random()
        if r < 0.12:
            return None
        number = 1000 + int(r * 1e6) % 9000
        if spend:
            initials = self._initials.get(contact.name)
            if initials is None:
                letters = "".join(w[0] for w in contact.name.split() if w[:1].isalpha())
                initials = self._initials[contact.name] = letters[:3].upper() or "REF"
            text = f"{initials}-{number}" if r < 0.7 else f"Card {number}"
        else:
            text = f"INV-{number:04d}" if r < 0.8 else "Cash sales"
        return self._strings.setdefault(text, text)

    def _add_line(self, t: Txn, code: str, description: str, tax_type: str, rate: int) -> None:
        rand = self.rand
        cents = int(math.exp(1.6 + rand() * 6.9) * 100)  # about 5 to 5,000
        r = rand()
        quantity = _ONE
        if r < 0.15:
            n = 2 + int(r * 70) % 11
            quantity = _QUANTITIES[n]
            cents = max(cents // n, 1) * n
        tracking: tuple = ()
        if r > 0.65 and self.org.tracking:
            categories = self.org.tracking[:2]
            picks = tuple(int(rand() * len(cat.options)) for cat in categories)
            tracking = self._tracking.get(picks)
            if tracking is None:
                tracking = tuple((cat, cat.options[i]) for cat, i in zip(categories, picks, strict=True))
                self._tracking[picks] = tracking
        tax = line_tax(cents, rate, t.line_amount_types) if rate else 0
        line_id = new_uuid(self.rng)
        t.lines.append(Line(line_id, description, quantity, None, code, tax_type, tax, cents, tracking))

    def _transfer(self) -> None:
        rng = self.rng
        banks = self.home_banks + self.foreign_banks
        source = self._bank()
        target = next(b for b in banks if b is not source) if len(banks) > 1 else source
        day = self._day()
        cents = int(math.exp(4 + rng.random() * 5) * 100)
        for kind, bank, other in (("SPEND-TRANSFER", source, target), ("RECEIVE-TRANSFER", target, source)):
            t = self._base(kind, bank, day)
            t.line_amount_types = "NoTax"
            description = f"Transfer {'to' if kind[0] == 'S' else 'from'} {other.name}"
            t.lines.append(Line(new_uuid(rng), description, _ONE, None, other.code, "NONE", 0, cents))
            self._finish(t)

    def _finish(self, t: Txn) -> None:
        line_sum = 0
        tax = 0
        for line in t.lines:
            line_sum += line.line_amount
            tax += line.tax_amount
        sub_total = line_sum - tax if t.line_amount_types == "Inclusive" else line_sum
        t.sub_total, t.total_tax, t.total = sub_total, tax, sub_total + tax
        self.out[t.id] = t
