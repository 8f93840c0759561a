"""Stored records → Xero's JSON shapes (pure functions)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from .formats import amount, connection_date, date_string, ms_date, ms_date_from_millis
from .identity import Connection
from .model import Account, Contact, Line, Organisation, TrackingCategory, Txn


def _money(cents: int) -> float:
    """Cents as Xero's JSON number; ``cents / 100`` is the same float as ``float(Decimal("x.yz"))``."""
    return cents / 100


@lru_cache(maxsize=4096)
def _day(value: date) -> tuple[str, str]:
    """(``Date``, ``DateString``) for a day: rendering a million rows meets the same days often."""
    return ms_date(value), date_string(value)


@lru_cache(maxsize=256)
def _quantity(value: Decimal) -> float:
    return amount(value)


def _unit_amount(line: Line) -> float:
    if line.unit_amount is None and line.quantity == 1:
        return line.line_amount / 100  # what amount(line.unit()) gives, without Decimal arithmetic
    return amount(line.unit())


def contact_summary(contact: Contact) -> dict[str, Any]:
    return {
        "ContactID": contact.contact_id,
        "Name": contact.name,
        "Addresses": [],
        "Phones": [],
        "ContactGroups": [],
        "ContactPersons": [],
        "HasValidationErrors": False,
    }


def bank_account_ref(account: Account) -> dict[str, Any]:
    return {"AccountID": account.account_id, "Code": account.code, "Name": account.name}


def line_item(line: Line, org: Organisation) -> dict[str, Any]:
    account = org.account_by_code(line.account_code)
    body: dict[str, Any] = {
        "Description": line.description,
        "UnitAmount": _unit_amount(line),
        "TaxType": line.tax_type,
        "TaxAmount": _money(line.tax_amount),
        "LineAmount": _money(line.line_amount),
        "AccountCode": line.account_code,
        "Tracking": [
            {
                "Name": cat.name,
                "Option": opt.name,
                "TrackingCategoryID": cat.category_id,
                "TrackingOptionID": opt.option_id,
            }
            for cat, opt in line.tracking
        ],
        "Quantity": _quantity(line.quantity),
        "LineItemID": line.line_item_id,
        "ValidationErrors": [],
    }
    if account is not None:
        body["AccountID"] = account.account_id
    return body


def transaction(txn: Txn, org: Organisation, *, with_lines: bool) -> dict[str, Any]:
    """One BankTransaction; ``with_lines=False`` is the summarised list form (``LineItems: []``)."""
    assert txn.bank is not None
    body: dict[str, Any] = {
        "BankTransactionID": txn.id,
        "BankAccount": bank_account_ref(txn.bank),
        "Type": txn.type,
        "IsReconciled": txn.reconciled,
        "HasAttachments": txn.has_attachments,
    }
    if txn.contact is not None:
        body["Contact"] = contact_summary(txn.contact)
    if txn.reference:
        body["Reference"] = txn.reference
    if txn.url:
        body["Url"] = txn.url
    day, day_string = _day(txn.date)
    body.update(
        {
            "DateString": day_string,
            "Date": day,
            "Status": txn.status,
            "LineAmountTypes": txn.line_amount_types,
            "LineItems": [line_item(line, org) for line in txn.lines] if with_lines else [],
            "SubTotal": _money(txn.sub_total),
            "TotalTax": _money(txn.total_tax),
            "Total": _money(txn.total),
            "UpdatedDateUTC": ms_date_from_millis(txn.updated_ms),
            "CurrencyCode": txn.currency_code,
        }
    )
    if txn.currency_rate is not None:
        body["CurrencyRate"] = float(txn.currency_rate)
    if txn.overpayment_id:
        body["OverpaymentID"] = txn.overpayment_id
    if txn.prepayment_id:
        body["PrepaymentID"] = txn.prepayment_id
    return body


def account(acc: Account) -> dict[str, Any]:
    body: dict[str, Any] = {
        "AccountID": acc.account_id,
        "Code": acc.code,
        "Name": acc.name,
        "Status": acc.status,
        "Type": acc.type,
        "TaxType": acc.tax_type,
        "Class": _CLASS.get(acc.type, "EXPENSE"),
        "EnablePaymentsToAccount": False,
        "ShowInExpenseClaims": acc.type in ("EXPENSE", "OVERHEADS"),
        "ReportingCode": _REPORTING.get(acc.type, "EXP"),
        "ReportingCodeName": _REPORTING.get(acc.type, "EXP"),
        "HasAttachments": False,
        "UpdatedDateUTC": ms_date_from_millis(acc.updated_ms),
        "AddToWatchlist": acc.is_bank,
    }
    if acc.is_bank:
        body["BankAccountNumber"] = acc.bank_account_number or ""
        body["BankAccountType"] = acc.bank_account_type or "BANK"
        body["CurrencyCode"] = acc.currency
    return body


_CLASS = {"BANK": "ASSET", "REVENUE": "REVENUE", "OTHERINCOME": "REVENUE", "DIRECTCOSTS": "EXPENSE"}
_REPORTING = {
    "BANK": "ASS.CUR.CAS.CAS",
    "REVENUE": "REV.TRA",
    "OTHERINCOME": "REV.OTH",
    "DIRECTCOSTS": "EXP.COS",
}


def tracking_category(cat: TrackingCategory) -> dict[str, Any]:
    return {
        "Name": cat.name,
        "Status": cat.status,
        "TrackingCategoryID": cat.category_id,
        "Options": [
            {
                "TrackingOptionID": o.option_id,
                "Name": o.name,
                "Status": o.status,
                "TrackingCategoryID": cat.category_id,
            }
            for o in cat.options
        ],
    }


def organisation(org: Organisation) -> dict[str, Any]:
    return {
        "OrganisationID": org.tenant_id,
        "APIKey": "",
        "Name": org.name,
        "LegalName": f"{org.name} Limited",
        "PaysTax": True,
        "Version": org.version,
        "OrganisationType": "COMPANY",
        "BaseCurrency": org.base_currency,
        "CountryCode": org.country_code,
        "IsDemoCompany": False,
        "OrganisationStatus": "ACTIVE",
        "FinancialYearEndDay": 31,
        "FinancialYearEndMonth": 3,
        "SalesTaxBasis": "PAYMENTS" if org.country_code == "NZ" else "ACCRUALS",
        "SalesTaxPeriod": "TWOMONTHS" if org.country_code == "NZ" else "QUARTERLY1",
        "DefaultSalesTax": "Tax Exclusive",
        "DefaultPurchasesTax": "Tax Inclusive",
        "CreatedDateUTC": ms_date(org.created),
        "OrganisationEntityType": "COMPANY",
        "Timezone": org.timezone,
        "ShortCode": org.short_code,
        "Edition": "BUSINESS",
        "Class": "STANDARD",
        "LineOfBusiness": "Retail",
        "Addresses": [],
        "Phones": [],
        "ExternalLinks": [],
        "PaymentTerms": {},
    }


def connection(conn: Connection) -> dict[str, Any]:
    return {
        "id": conn.id,
        "authEventId": conn.auth_event_id,
        "tenantId": conn.tenant_id,
        "tenantType": "ORGANISATION",
        "tenantName": conn.tenant_name,
        "createdDateUtc": connection_date(conn.created),
        "updatedDateUtc": connection_date(conn.updated),
    }


def history_record(changes: str, user: str, details: str, when: datetime) -> dict[str, str]:
    when = when.astimezone(UTC)
    return {
        "Changes": changes,
        "DateUTCString": when.strftime("%Y-%m-%dT%H:%M:%S"),
        "DateUTC": ms_date(when),
        "User": user,
        "Details": details,
    }
