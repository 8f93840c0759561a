"""The fields ``where`` and ``order`` may name, per collection, with their types and getters."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from .where import FieldSpec


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


TXN_FIELDS: dict[str, FieldSpec] = {
    "BankTransactionID": FieldSpec("guid", lambda t: t.id),
    "Type": FieldSpec("enum", lambda t: t.type),
    "Status": FieldSpec("enum", lambda t: t.status),
    "Date": FieldSpec("date", lambda t: t.date),
    "UpdatedDateUTC": FieldSpec("datetime", lambda t: _utc(t.updated_ms)),
    "IsReconciled": FieldSpec("bool", lambda t: t.reconciled),
    "HasAttachments": FieldSpec("bool", lambda t: t.has_attachments),
    "Reference": FieldSpec("string", lambda t: t.reference),
    "Url": FieldSpec("string", lambda t: t.url),
    "CurrencyCode": FieldSpec("enum", lambda t: t.currency_code),
    "LineAmountTypes": FieldSpec("enum", lambda t: t.line_amount_types),
    "SubTotal": FieldSpec("number", lambda t: Decimal(t.sub_total).scaleb(-2)),
    "TotalTax": FieldSpec("number", lambda t: Decimal(t.total_tax).scaleb(-2)),
    "Total": FieldSpec("number", lambda t: Decimal(t.total).scaleb(-2)),
    "Contact.ContactID": FieldSpec("guid", lambda t: t.contact.contact_id if t.contact else None),
    "Contact.Name": FieldSpec("string", lambda t: t.contact.name if t.contact else None),
    "BankAccount.AccountID": FieldSpec("guid", lambda t: t.bank.account_id),
    "BankAccount.Code": FieldSpec("string", lambda t: t.bank.code),
    "BankAccount.Name": FieldSpec("string", lambda t: t.bank.name),
}

ACCOUNT_FIELDS: dict[str, FieldSpec] = {
    "AccountID": FieldSpec("guid", lambda a: a.account_id),
    "Code": FieldSpec("string", lambda a: a.code),
    "Name": FieldSpec("string", lambda a: a.name),
    "Type": FieldSpec("enum", lambda a: a.type),
    "Status": FieldSpec("enum", lambda a: a.status),
    "TaxType": FieldSpec("enum", lambda a: a.tax_type),
    "CurrencyCode": FieldSpec("enum", lambda a: a.currency),
    "BankAccountType": FieldSpec("enum", lambda a: a.bank_account_type),
    "UpdatedDateUTC": FieldSpec("datetime", lambda a: _utc(a.updated_ms)),
}

TRACKING_FIELDS: dict[str, FieldSpec] = {
    "TrackingCategoryID": FieldSpec("guid", lambda c: c.category_id),
    "Name": FieldSpec("string", lambda c: c.name),
    "Status": FieldSpec("enum", lambda c: c.status),
}
