"""What people do to bank transactions in Xero's own screens, so tests can make it happen.

A bookkeeper (or another app) creates spend and receive money, edits a transaction, deletes
or voids it, reconciles or unreconciles it, while our bot is not looking. Each function here
checks what Xero's screens would check, and returns a changed copy of the transaction and the
line its History gets. The ledger stores the copy (moving UpdatedDateUTC, except where the
action says otherwise) and tells the list indexes.

The rules, as Xero's screens apply them: only SPEND and RECEIVE are created or edited
(and deleted, per Xero's BankTransactions page); a DELETED or VOIDED transaction changes no
more; a reconciled one keeps its amount and date and cannot be deleted or voided until it is
unreconciled. VOIDED is allowed for
every type (Xero voids prepayments and overpayments).

Guesses: editing ``amount`` (the new Total) changes the first line by the difference, with
quantity 1 (the other lines go when the difference is larger than the first line); with
Exclusive amounts that line's tax is set so that the Total is exactly the amount asked for;
``description`` is the first line's; ``contact`` is a name, matched in any case, a new contact
being made for a new name; a new transaction in a foreign-currency account gets CurrencyRate 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .model import Account, Contact, Line, Organisation, Txn, clone
from .totals import div_round, document_totals, from_cents, line_tax
from .updates import LINE_AMOUNT_TYPES, MAX_REFERENCE

CREATABLE_TYPES = ("SPEND", "RECEIVE")
MAX_DESCRIPTION = 4000
MAX_CONTACT_NAME = 255
DEFAULT_BANK_CODE = "090"
DEFAULT_ACCOUNT = {"SPEND": "429", "RECEIVE": "200"}  # General Expenses, Sales


class ActionError(ValueError):
    """Xero would refuse this; the message says why (a 400 on the control surface)."""


@dataclass
class Change:
    txn: Txn
    kind: str  # the History "Changes" column: Created, Edited, Deleted, Voided, Reconciled…
    details: str
    new_contact: Contact | None = None
    touch: bool = True  # move UpdatedDateUTC


NewId = Callable[[], str]

# What the control surface accepts (the same names in Python and in JSON).
CREATE_FIELDS = (
    "type",
    "contact",
    "amount",
    "date",
    "reference",
    "description",
    "bank_account",
    "account_code",
    "line_amount_types",
    "url",
)
EDIT_FIELDS = ("reference", "contact", "amount", "date", "description")
ACTIONS = ("edit", "delete", "void", "reconcile", "unreconcile")


def create_from(org: Organisation, new_id: NewId, params: dict[str, Any], today: date) -> Change:
    """:func:`create` from the control surface's field names."""
    fields = _known(params, CREATE_FIELDS)
    for required in ("contact", "amount"):
        if fields.get(required) is None:
            raise ActionError(f"{required} is required to create a transaction.")
    if "type" in fields:
        fields["kind"] = fields.pop("type")
    if "date" in fields:
        fields["day"] = fields.pop("date")
    return create(org, new_id, today=today, **{k: v for k, v in fields.items() if v is not None})


def perform(name: str, org: Organisation, current: Txn, new_id: NewId, params: dict[str, Any]) -> Change:
    """One of :data:`ACTIONS` on ``current``, with the control surface's field names."""
    if name == "edit":
        fields = _known(params, EDIT_FIELDS)
        if "date" in fields:
            fields["day"] = fields.pop("date")
        return edit(org, current, new_id, **fields)
    if name in ("delete", "void"):
        _known(params, ())
        return delete(current) if name == "delete" else void(current)
    if name in ("reconcile", "unreconcile"):
        touch = _known(params, ("touch",)).get("touch", False)
        if not isinstance(touch, bool):
            raise ActionError("touch must be true or false.")
        return reconcile(current, reconciled=name == "reconcile", touch=touch)
    raise ActionError(f"Unknown action {name!r}; use one of {', '.join(ACTIONS)}.")


def _known(params: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        accepted = ", ".join(allowed) or "nothing"
        raise ActionError(f"Unknown field(s) {', '.join(unknown)}; this accepts {accepted}.")
    return dict(params)


# --- create -------------------------------------------------------------------------------


def create(
    org: Organisation,
    new_id: NewId,
    *,
    kind: str = "SPEND",
    contact: str,
    amount: Any,
    day: Any = None,
    reference: str | None = None,
    description: str = "",
    bank_account: str | None = None,
    account_code: str | None = None,
    line_amount_types: str = "Inclusive",
    url: str | None = None,
    today: date,
) -> Change:
    """Spend or receive money, as entered on Xero's "New transaction" screen."""
    kind = str(kind).upper()
    if kind not in CREATABLE_TYPES:
        raise ActionError(f"Only SPEND and RECEIVE transactions can be created, not {kind!r}.")
    if line_amount_types not in LINE_AMOUNT_TYPES:
        raise ActionError(f"'{line_amount_types}' is not a valid value for LineAmountTypes.")
    cents = parse_amount(amount)
    day = today if day is None else parse_day(day)
    bank = _bank(org, bank_account or DEFAULT_BANK_CODE)
    line_account = _line_account(org, account_code or DEFAULT_ACCOUNT[kind])
    who, new_contact = _contact(org, contact, new_id)
    text = _description(description or line_account.name)
    txn = Txn()
    txn.id = new_id()
    txn.type = kind
    txn.bank = bank
    txn.date = day
    txn.contact = who
    txn.reference = _reference(reference)
    txn.url = url or None
    txn.line_amount_types = line_amount_types
    txn.currency_code = bank.currency or org.base_currency
    if txn.currency_code != org.base_currency:
        txn.currency_rate = Decimal("1.000000")
    tax_type = line_account.tax_type if line_amount_types != "NoTax" else "NONE"
    txn.lines = [Line(new_id(), text, Decimal(1), None, line_account.code, tax_type, 0, 0)]
    _set_contribution(org, txn, txn.lines[0], cents)
    _totals(txn)
    verb = "Spent" if kind == "SPEND" else "Received"
    preposition = "to" if kind == "SPEND" else "from"
    details = (
        f"{verb} {preposition} {who.name} on {day.isoformat()} for {from_cents(txn.total)} from {bank.name}."
    )
    return Change(txn, "Created", details, new_contact)


# --- edit ---------------------------------------------------------------------------------


def edit(
    org: Organisation,
    current: Txn,
    new_id: NewId,
    *,
    reference: str | None = None,
    contact: str | None = None,
    amount: Any = None,
    day: Any = None,
    description: str | None = None,
) -> Change:
    """Change what a bookkeeper changes on the transaction's edit screen; ``None`` leaves a field."""
    _editable(current, "edited")
    txn = clone(current)
    changes: list[str] = []
    new_contact = None
    if reference is not None:
        value = _reference(reference)
        if value != txn.reference:
            changes.append(f"Reference changed from '{txn.reference or ''}' to '{value or ''}'")
            txn.reference = value
    if contact is not None:
        who, new_contact = _contact(org, contact, new_id)
        if txn.contact is None or who.contact_id != txn.contact.contact_id:
            changes.append(f"Contact changed to {who.name}")
            txn.contact = who
    if description is not None:
        text = _description(description)
        if text != txn.lines[0].description:
            changes.append(f"Description changed from '{txn.lines[0].description}' to '{text}'")
            txn.lines[0].description = text
    if day is not None:
        day = parse_day(day)
        if day != txn.date:
            _unreconciled(current, "its date")
            changes.append(f"Date changed from {txn.date.isoformat()} to {day.isoformat()}")
            txn.date = day
    if amount is not None:
        cents = parse_amount(amount)
        if cents != txn.total:
            _unreconciled(current, "its amount")
            _retotal(org, txn, cents)
            changes.append(f"Total changed from {from_cents(current.total)} to {from_cents(txn.total)}")
    if not changes:
        raise ActionError("Nothing to change: give reference, contact, amount, date or description.")
    return Change(txn, "Edited", "; ".join(changes) + ".", new_contact)


# --- status and reconciliation ------------------------------------------------------------


def delete(current: Txn) -> Change:
    _editable(current, "deleted")
    _unreconciled(current)
    txn = clone(current)
    txn.status = "DELETED"
    return Change(txn, "Deleted", "Deleted.")


def void(current: Txn) -> Change:
    if current.status != "AUTHORISED":
        raise ActionError(f"This transaction cannot be voided: its status is {current.status}.")
    _unreconciled(current)
    txn = clone(current)
    txn.status = "VOIDED"
    return Change(txn, "Voided", "Voided.")


def reconcile(current: Txn, *, reconciled: bool, touch: bool) -> Change:
    """Match (or unmatch) it to a bank statement line; ``touch`` decides whether UpdatedDateUTC moves.

    Xero does not promise that reconciling moves UpdatedDateUTC (its guide warns that some
    changes don't), so by default it does not, and only a sweep over ``IsReconciled`` notices.
    """
    if current.status != "AUTHORISED":
        raise ActionError(f"This transaction cannot be reconciled: its status is {current.status}.")
    if current.reconciled == reconciled:
        raise ActionError(f"This transaction is already {'reconciled' if reconciled else 'unreconciled'}.")
    txn = clone(current)
    txn.reconciled = reconciled
    if reconciled:
        return Change(txn, "Reconciled", "Matched to a bank statement line.", touch=touch)
    return Change(txn, "Unreconciled", "No longer matched to a bank statement line.", touch=touch)


# --- parsing and checks -------------------------------------------------------------------


def parse_amount(value: Any) -> int:
    """A positive amount with at most two decimals (``57.33``, ``"57.33"``, ``Decimal``) → cents."""
    if isinstance(value, bool) or value is None:
        raise ActionError("amount must be a number such as 57.33.")
    try:
        amount = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise ActionError(f"amount {value!r} is not a number.") from None
    if not amount.is_finite() or amount <= 0:
        raise ActionError("amount must be more than zero (the Type says which way the money goes).")
    if amount != amount.quantize(Decimal("0.01")):
        raise ActionError(f"amount {value!r} has more than two decimals.")
    if amount >= Decimal("1e12"):
        raise ActionError(f"amount {value!r} is too large.")
    return int(amount * 100)


def parse_day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip()).date()
        except ValueError:
            pass
    raise ActionError(f"date {value!r} is not a date (use YYYY-MM-DD).")


def _editable(txn: Txn, verb: str) -> None:
    if txn.type not in CREATABLE_TYPES:
        raise ActionError(f"A {txn.type} transaction cannot be {verb}: only SPEND and RECEIVE can.")
    if txn.status != "AUTHORISED":
        raise ActionError(f"This transaction cannot be {verb}: its status is {txn.status}.")


def _unreconciled(txn: Txn, change: str | None = None) -> None:
    if txn.reconciled:
        to = f" to change {change}" if change else ""
        raise ActionError(f"This transaction is reconciled: unreconcile it first{to}.")


def _reference(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ActionError("reference must be text.")
    if len(value) > MAX_REFERENCE:
        raise ActionError(f"reference must not be more than {MAX_REFERENCE} characters long.")
    return value or None


def _description(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ActionError("description must not be empty.")
    if len(value) > MAX_DESCRIPTION:
        raise ActionError(f"description must not be more than {MAX_DESCRIPTION} characters long.")
    return value


def _contact(org: Organisation, name: Any, new_id: NewId) -> tuple[Contact, Contact | None]:
    """The contact with this name (any case), or a new one; the second value is the new one."""
    if not isinstance(name, str) or not name.strip():
        raise ActionError("contact must be a contact's name.")
    if len(name) > MAX_CONTACT_NAME:
        raise ActionError(f"contact must not be more than {MAX_CONTACT_NAME} characters long.")
    found = org.contact_by_name(name.strip())
    if found is not None:
        return found, None
    made = Contact(new_id(), name.strip())
    return made, made


def _bank(org: Organisation, code_or_id: str) -> Account:
    account = org.account_by_code(code_or_id) or org.account_by_id(code_or_id)
    if account is None or not account.is_bank:
        raise ActionError(f"{code_or_id!r} is not a bank account of {org.name}.")
    if account.status != "ACTIVE":
        raise ActionError(f"The bank account {account.name} is archived.")
    return account


def _line_account(org: Organisation, code: str) -> Account:
    account = org.account_by_code(code)
    if account is None or account.is_bank or account.status != "ACTIVE":
        raise ActionError(f"Account code {code!r} is not a valid code for this document.")
    return account


# --- money --------------------------------------------------------------------------------


def _rate(org: Organisation, tax_type: str) -> int:
    rate = org.tax_rates.get(tax_type)
    return rate.rate_bp if rate is not None else 0


def _contribution(txn: Txn, line: Line) -> int:
    """What ``line`` adds to the Total."""
    if txn.line_amount_types == "Exclusive":
        return line.line_amount + line.tax_amount
    return line.line_amount


def _set_contribution(org: Organisation, txn: Txn, line: Line, cents: int) -> None:
    """Make ``line`` add exactly ``cents`` to the Total (tax included or on top)."""
    rate = _rate(org, line.tax_type)
    line.quantity = Decimal(1)
    line.unit_amount = None
    if txn.line_amount_types == "Exclusive":
        line.line_amount = div_round(cents * 10_000, 10_000 + rate)
        line.tax_amount = cents - line.line_amount
    else:
        line.line_amount = cents
        line.tax_amount = line_tax(cents, rate, txn.line_amount_types)


def _retotal(org: Organisation, txn: Txn, cents: int) -> None:
    first, rest = txn.lines[0], txn.lines[1:]
    others = sum(_contribution(txn, line) for line in rest)
    if cents - others <= 0:
        txn.lines = [first]
        others = 0
    _set_contribution(org, txn, first, cents - others)
    _totals(txn)


def _totals(txn: Txn) -> None:
    txn.sub_total, txn.total_tax, txn.total = document_totals(
        ((line.line_amount, line.tax_amount) for line in txn.lines), txn.line_amount_types
    )
