"""POST /BankTransactions/{id}: validate a payload and apply it to a copy of the transaction.

Semantics follow Xero's BankTransactions page and what users of Xero's own clients ran into
(XeroAPI/xero-mcp-server issues #184, #158 and PR #252):

* only SPEND and RECEIVE can be updated; AUTHORISED only; the Type cannot change;
* ``LineItems`` present → the set is replaced: a listed LineItemID is updated, a line without
  one is added, an existing line left out is deleted; an unknown LineItemID is an error;
* ``SubTotal``/``TotalTax``/``Total`` may be sent but must agree with the lines (#184);
* ``Reference``, ``Url``, ``IsReconciled``, ``Contact``, ``Date``, ``BankAccount`` change only
  when present.

Guesses (Xero does not document them): fields left out of an existing line keep their values
except ``Tracking``, which is cleared when absent (replace semantics, like the lines
themselves); a reconciled transaction keeps its amount, date and bank account unless the same
request unreconciles it; ``Reference`` is limited to 255 characters and ``Url`` must be an
absolute http(s) URL of at most 2,048 characters; ``LineItems: []`` is rejected.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlparse

from .model import Contact, Line, Organisation, TrackingCategory, TrackingOption, Txn, clone
from .totals import document_totals, from_cents, line_tax, to_cents

UPDATABLE_TYPES = ("SPEND", "RECEIVE")
LINE_AMOUNT_TYPES = ("Exclusive", "Inclusive", "NoTax")
_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
MAX_REFERENCE = 255
MAX_URL = 2048


class UpdateError(Exception):
    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass
class Outcome:
    txn: Txn
    changes: list[str] = field(default_factory=list)
    new_contact: Contact | None = None


def unwrap(payload: Any, path_id: str) -> dict[str, Any]:
    """Accept ``{"BankTransactions": [{…}]}`` or a bare object; the id must match the path."""
    if isinstance(payload, dict) and "BankTransactions" in payload:
        items = payload["BankTransactions"]
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
            raise UpdateError(["Exactly one BankTransaction must be supplied to update it."])
        payload = items[0]
    if not isinstance(payload, dict):
        raise UpdateError(["The request body is not a BankTransaction."])
    body_id = payload.get("BankTransactionID")
    if body_id is not None and str(body_id).lower() != path_id.lower():
        raise UpdateError(["The BankTransactionID in the body does not match the one in the URL."])
    return payload


def apply_update(org: Organisation, current: Txn, payload: dict[str, Any]) -> Outcome:
    """Validate ``payload`` against ``current`` and return the updated copy; raise UpdateError."""
    errors: list[str] = []
    if current.type not in UPDATABLE_TYPES:
        raise UpdateError(
            [
                f"Updating a bank transaction of type {current.type} is not supported. "
                "Only SPEND and RECEIVE transactions can be updated."
            ]
        )
    if current.status != "AUTHORISED":
        raise UpdateError([f"This Bank Transaction cannot be edited as it has a status of {current.status}."])
    if "Type" in payload and str(payload["Type"]).upper() != current.type:
        raise UpdateError(["The Type of a bank transaction cannot be changed."])

    txn = clone(current)
    outcome = Outcome(txn)
    changes = outcome.changes

    if "Reference" in payload:
        _set_reference(txn, payload["Reference"], errors, changes)
    if "Url" in payload:
        _set_url(txn, payload["Url"], errors, changes)
    if "IsReconciled" in payload:
        value = payload["IsReconciled"]
        if not isinstance(value, bool):
            errors.append("IsReconciled must be true or false.")
        elif value != txn.reconciled:
            txn.reconciled = value
            changes.append("Marked as reconciled" if value else "Marked as unreconciled")
    if payload.get("Contact") is not None:
        _set_contact(org, txn, payload["Contact"], errors, changes, outcome)
    if payload.get("Date") is not None:
        parsed = _parse_date(payload["Date"])
        if parsed is None:
            errors.append(f"The Date '{payload['Date']}' is not valid.")
        elif parsed != txn.date:
            changes.append(f"Date changed from {txn.date.isoformat()} to {parsed.isoformat()}")
            txn.date = parsed
    if payload.get("BankAccount") is not None:
        _set_bank(org, txn, payload["BankAccount"], errors, changes)
    if payload.get("LineAmountTypes") is not None:
        lat = payload["LineAmountTypes"]
        if lat not in LINE_AMOUNT_TYPES:
            errors.append(f"'{lat}' is not a valid value for LineAmountTypes.")
        elif lat != txn.line_amount_types:
            changes.append(f"Amounts are changed from {txn.line_amount_types} to {lat}")
            txn.line_amount_types = lat
    if "Status" in payload and payload["Status"] != txn.status:
        if payload["Status"] != "DELETED":
            errors.append("The Status of a bank transaction can only be changed to DELETED.")
        elif txn.reconciled:
            errors.append("A reconciled bank transaction cannot be deleted.")
        else:
            txn.status = "DELETED"
            changes.append("Deleted")
    if errors:
        raise UpdateError(errors)

    explicit_tax = _apply_lines(org, txn, payload.get("LineItems"), errors, changes)
    if errors:
        raise UpdateError(errors)
    _recompute(org, txn, explicit_tax)
    _check_totals(txn, payload, errors)
    _check_reconciled(current, txn, errors)
    if errors:
        raise UpdateError(errors)
    return outcome


# --- scalar fields ----------------------------------------------------------------------


def _set_reference(txn: Txn, value: Any, errors: list[str], changes: list[str]) -> None:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.append("Reference must be a string.")
        return
    if len(value) > MAX_REFERENCE:
        errors.append(f"Reference must not be more than {MAX_REFERENCE} characters long.")
        return
    if value != (txn.reference or ""):
        changes.append(f"Reference changed from '{txn.reference or ''}' to '{value}'")
        txn.reference = value or None


def _set_url(txn: Txn, value: Any, errors: list[str], changes: list[str]) -> None:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.append("Url must be a string.")
        return
    if value:
        parsed = urlparse(value)
        if len(value) > MAX_URL or parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors.append(f"The Url '{value[:100]}' is not a valid URL.")
            return
    if value != (txn.url or ""):
        changes.append(f"Url changed from '{txn.url or ''}' to '{value}'")
        txn.url = value or None


def _set_contact(
    org: Organisation, txn: Txn, value: Any, errors: list[str], changes: list[str], outcome: Outcome
) -> None:
    if not isinstance(value, dict):
        errors.append("Contact must be an object.")
        return
    contact: Contact | None = None
    if value.get("ContactID"):
        contact = org.contact_by_id(str(value["ContactID"]))
        if contact is None:
            errors.append(f"The contact with ID '{value['ContactID']}' does not exist.")
            return
    elif value.get("Name"):
        contact = org.contact_by_name(str(value["Name"]))
        if contact is None:
            contact = Contact(str(uuid.uuid4()), str(value["Name"]))
            outcome.new_contact = contact
    else:
        errors.append("A Contact needs a ContactID or a Name.")
        return
    if txn.contact is None or contact.contact_id != txn.contact.contact_id:
        changes.append(f"Contact changed to {contact.name}")
        txn.contact = contact


def _set_bank(org: Organisation, txn: Txn, value: Any, errors: list[str], changes: list[str]) -> None:
    if not isinstance(value, dict):
        errors.append("BankAccount must be an object.")
        return
    account = None
    if value.get("AccountID"):
        account = org.account_by_id(str(value["AccountID"]))
    elif value.get("Code"):
        account = org.account_by_code(str(value["Code"]))
    if account is None:
        errors.append("Account could not be found")
        return
    if not account.is_bank:
        errors.append(f"Account {account.code} is not a bank account.")
        return
    if account.status != "ACTIVE":
        errors.append(f"The bank account {account.name} is archived.")
        return
    assert txn.bank is not None
    if account.account_id != txn.bank.account_id:
        changes.append(f"Bank account changed from {txn.bank.name} to {account.name}")
        txn.bank = account
        txn.currency_code = account.currency or org.base_currency


def _parse_date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    m = _MS_DATE.match(value)
    if m:
        return datetime.fromtimestamp(int(m.group(1)) / 1000, UTC).date()
    try:
        return datetime.fromisoformat(value).date()
    except ValueError:
        return None


# --- line items -------------------------------------------------------------------------


def _apply_lines(org: Organisation, txn: Txn, items: Any, errors: list[str], changes: list[str]) -> set[str]:
    """Replace the line set when ``items`` is given; return ids of lines with an explicit TaxAmount."""
    explicit_tax: set[str] = set()
    if items is None:
        return explicit_tax
    if not isinstance(items, list):
        errors.append("LineItems must be a list.")
        return explicit_tax
    if not items:
        errors.append("At least one line item is required.")
        return explicit_tax
    existing = {line.line_item_id.lower(): line for line in txn.lines}
    seen: set[str] = set()
    new_lines: list[Line] = []
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            errors.append(f"Line item {index} is not an object.")
            continue
        line_id = item.get("LineItemID")
        if line_id:
            base = existing.get(str(line_id).lower())
            if base is None:
                errors.append(f"The LineItemID '{line_id}' does not exist on this bank transaction.")
                continue
            if base.line_item_id in seen:
                errors.append(f"The LineItemID '{line_id}' appears more than once.")
                continue
            seen.add(base.line_item_id)
            line = base.copy()
        else:
            if not str(item.get("Description") or "").strip():
                errors.append(f"Line item {index}: Description needs to be at least 1 char long.")
                continue
            if not item.get("AccountCode") and not item.get("AccountID"):
                errors.append(f"Line item {index}: an AccountCode is required.")
                continue
            line = Line(str(uuid.uuid4()), "", Decimal(1), None, "", "", 0, 0)
        if _apply_line(org, line, item, index, errors):
            explicit_tax.add(line.line_item_id)
        new_lines.append(line)
    if errors:
        return explicit_tax
    old = [(line.line_item_id, _line_signature(line)) for line in txn.lines]
    new = [(line.line_item_id, _line_signature(line)) for line in new_lines]
    if old != new:
        removed = len(set(existing) - {line.line_item_id.lower() for line in new_lines})
        added = len([line for line in new_lines if line.line_item_id.lower() not in existing])
        changes.append(f"Line items changed ({added} added, {removed} removed)")
    txn.lines = new_lines
    return explicit_tax


def _line_signature(line: Line) -> tuple[Any, ...]:
    return (
        line.description,
        line.quantity,
        line.unit(),
        line.account_code,
        line.tax_type,
        line.line_amount,
        tuple((c.category_id, o.option_id) for c, o in line.tracking),
    )


def _apply_line(org: Organisation, line: Line, item: dict[str, Any], index: int, errors: list[str]) -> bool:
    """Update ``line`` in place from ``item``; returns True when the item set TaxAmount itself."""
    prefix = f"Line item {index}: "
    if "Description" in item:
        line.description = str(item["Description"] or "")
    if item.get("AccountCode") or item.get("AccountID"):
        account = (
            org.account_by_code(str(item["AccountCode"]))
            if item.get("AccountCode")
            else org.account_by_id(str(item["AccountID"]))
        )
        if account is None or account.status != "ACTIVE":
            errors.append(
                f"{prefix}Account code '{item.get('AccountCode') or item.get('AccountID')}' "
                "is not a valid code for this document."
            )
            return False
        line.account_code = account.code
        if not item.get("TaxType") and not line.tax_type:
            line.tax_type = account.tax_type
    if item.get("TaxType"):
        if item["TaxType"] not in org.tax_rates:
            errors.append(
                f"{prefix}The TaxType code '{item['TaxType']}' does not exist or cannot be used "
                "for this type of transaction."
            )
            return False
        line.tax_type = item["TaxType"]
    if not line.tax_type:
        line.tax_type = "NONE"
    line.tracking = _tracking(org, item.get("Tracking"), prefix, errors)
    try:
        quantity = _decimal(item.get("Quantity"))
        unit = _decimal(item.get("UnitAmount"))
        line_amount = _decimal(item.get("LineAmount"))
        tax_amount = _decimal(item.get("TaxAmount"))
    except InvalidOperation:
        errors.append(f"{prefix}Quantity, UnitAmount, LineAmount and TaxAmount must be numbers.")
        return False
    if quantity is not None:
        line.quantity = quantity
    if unit is not None:
        computed = to_cents(line.quantity * unit)
        if line_amount is not None and abs(to_cents(line_amount) - computed) > 1:
            errors.append(
                f"{prefix}The LineAmount {line_amount} does not equal Quantity × UnitAmount "
                f"({from_cents(computed)})."
            )
            return False
        line.unit_amount = unit
        line.line_amount = computed
    elif line_amount is not None:
        line.line_amount = to_cents(line_amount)
        line.unit_amount = (
            (line_amount / line.quantity).quantize(Decimal("0.0001")) if line.quantity else Decimal(0)
        )
    elif quantity is not None:
        line.line_amount = to_cents(line.quantity * line.unit())
    if tax_amount is not None:
        line.tax_amount = to_cents(tax_amount)
        return True
    return False


def _tracking(
    org: Organisation, value: Any, prefix: str, errors: list[str]
) -> tuple[tuple[TrackingCategory, TrackingOption], ...]:
    if not value:
        return ()
    if not isinstance(value, list):
        errors.append(f"{prefix}Tracking must be a list.")
        return ()
    if len(value) > 2:
        errors.append(f"{prefix}A line item can have at most 2 tracking categories.")
        return ()
    picked: list[tuple[TrackingCategory, TrackingOption]] = []
    for entry in value:
        if not isinstance(entry, dict):
            errors.append(f"{prefix}Tracking entries must be objects.")
            continue
        cat = (
            org.tracking_by_id(str(entry["TrackingCategoryID"]))
            if entry.get("TrackingCategoryID")
            else org.tracking_by_name(str(entry.get("Name") or ""))
        )
        if cat is None or cat.status != "ACTIVE":
            errors.append(
                f"{prefix}The tracking category '{entry.get('Name') or entry.get('TrackingCategoryID')}' "
                "does not exist."
            )
            continue
        option = (
            cat.option_with_id(str(entry["TrackingOptionID"]))
            if entry.get("TrackingOptionID")
            else cat.option_named(str(entry.get("Option") or ""))
        )
        if option is None or option.status != "ACTIVE":
            errors.append(
                f"{prefix}The tracking option '{entry.get('Option') or entry.get('TrackingOptionID')}' "
                f"does not exist for category '{cat.name}'."
            )
            continue
        if any(c is cat for c, _ in picked):
            errors.append(f"{prefix}The tracking category '{cat.name}' is used twice.")
            continue
        picked.append((cat, option))
    return tuple(picked)


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidOperation
    return Decimal(str(value))


# --- totals -----------------------------------------------------------------------------


def _recompute(org: Organisation, txn: Txn, explicit_tax: set[str]) -> None:
    for line in txn.lines:
        if line.line_item_id not in explicit_tax:
            rate = org.tax_rates[line.tax_type].rate_bp if line.tax_type in org.tax_rates else 0
            line.tax_amount = line_tax(line.line_amount, rate, txn.line_amount_types)
        elif txn.line_amount_types == "NoTax":
            line.tax_amount = 0
    txn.sub_total, txn.total_tax, txn.total = document_totals(
        ((line.line_amount, line.tax_amount) for line in txn.lines), txn.line_amount_types
    )


def _check_totals(txn: Txn, payload: dict[str, Any], errors: list[str]) -> None:
    checks = (
        ("SubTotal", txn.sub_total, "The document subtotal does not equal the subtotal of the lines."),
        ("TotalTax", txn.total_tax, "The document total tax does not equal the total tax of the lines."),
        ("Total", txn.total, "The document total does not equal the total of the lines."),
    )
    for key, computed, message in checks:
        if payload.get(key) is None:
            continue
        try:
            sent = to_cents(Decimal(str(payload[key])))
        except InvalidOperation:
            errors.append(f"{key} must be a number.")
            continue
        if sent != computed:
            errors.append(message)


def _check_reconciled(before: Txn, after: Txn, errors: list[str]) -> None:
    if not (before.reconciled and after.reconciled):
        return
    assert before.bank is not None and after.bank is not None
    if (
        before.total != after.total
        or before.date != after.date
        or before.bank.account_id != after.bank.account_id
    ):
        errors.append(
            "This bank transaction has been reconciled: its amount, date and bank account cannot be changed."
        )
