"""Xero accounting objects as frozen dataclasses, parsed from Xero's JSON.

Money is ``Decimal`` (the client parses JSON numbers straight to ``Decimal``; floats are converted
through ``str`` so 0.1 stays 0.1). Dates arrive Microsoft-JSON style (``/Date(ms+0000)/``);
``DateString`` ISO values are accepted as a fallback. ``update_payload`` builds the body for an
edit and encodes the two traps that destroy data on update: lines left out get deleted, and
echoed totals get rejected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{2,4})?\)/$")
_ISO_FRACTION = re.compile(r"(\.\d{6})\d+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

EDITABLE_TYPES = frozenset({"SPEND", "RECEIVE"})


# --------------------------------------------------------------------------- parsing helpers


def parse_ms_date(s: str) -> datetime:
    """Parse ``/Date(ms)/``, ``/Date(ms+hhmm)/`` or an ISO-8601 string into an aware UTC datetime.

    The milliseconds are always the UTC instant; the optional offset only says which zone the
    value was entered in, so it does not move the instant (same as Xero's own SDKs). ISO strings
    without an offset are Xero's UTC ``DateString``/``...DateUtc`` values.
    """
    if not isinstance(s, str):
        raise ValueError(f"not a Xero date: {s!r}")
    text = s.strip()
    m = _MS_DATE.match(text)
    if m:
        return _EPOCH + timedelta(milliseconds=int(m.group(1)))
    try:
        parsed = datetime.fromisoformat(_ISO_FRACTION.sub(r"\1", text.replace("Z", "+00:00")))
    except ValueError as exc:
        raise ValueError(f"not a Xero date: {s!r}") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_xero_date(s: str) -> date:
    """The calendar date of a transaction ``Date``.

    Xero sends transaction dates as UTC midnight with ``+0000``; should a value carry another
    offset, the calendar date is the one in that offset (local midnight in Auckland is the
    previous day in UTC), so the offset is applied before taking the date.
    """
    m = _MS_DATE.match(s.strip()) if isinstance(s, str) else None
    if m and m.group(2):
        sign = -1 if m.group(2)[0] == "-" else 1
        digits = m.group(2)[1:].ljust(4, "0")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return (parse_ms_date(s) + sign * offset).date()
    return parse_ms_date(s).date()


def _opt_datetime(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return parse_ms_date(value)


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError("boolean is not an amount")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc


def _dec0(value: Any) -> Decimal:
    d = _dec(value)
    return d if d is not None else Decimal("0")


def _str(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)


# --------------------------------------------------------------------------- value objects


@dataclass(frozen=True)
class Tracking:
    name: str | None
    option: str | None
    tracking_category_id: str | None = None
    tracking_option_id: str | None = None

    @classmethod
    def from_xero(cls, d: Mapping[str, Any]) -> Tracking:
        return cls(
            name=_str(d.get("Name")),
            option=_str(d.get("Option")),
            tracking_category_id=_str(d.get("TrackingCategoryID")),
            tracking_option_id=_str(d.get("TrackingOptionID")),
        )

    def to_xero(self) -> dict[str, Any]:
        """IDs when Xero gave both (unambiguous even after a rename), else the names."""
        if self.tracking_category_id and self.tracking_option_id:
            return {
                "TrackingCategoryID": self.tracking_category_id,
                "TrackingOptionID": self.tracking_option_id,
            }
        out: dict[str, Any] = {}
        if self.tracking_category_id:
            out["TrackingCategoryID"] = self.tracking_category_id
        if self.name is not None:
            out["Name"] = self.name
        if self.option is not None:
            out["Option"] = self.option
        return out


@dataclass(frozen=True)
class LineItem:
    line_item_id: str | None
    description: str | None
    quantity: Decimal | None
    unit_amount: Decimal | None
    line_amount: Decimal | None
    account_code: str | None
    account_id: str | None
    tax_type: str | None
    tax_amount: Decimal | None
    item_code: str | None
    tracking: tuple[Tracking, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_xero(cls, d: Mapping[str, Any]) -> LineItem:
        return cls(
            line_item_id=_str(d.get("LineItemID")),
            description=_str(d.get("Description")),
            quantity=_dec(d.get("Quantity")),
            unit_amount=_dec(d.get("UnitAmount")),
            line_amount=_dec(d.get("LineAmount")),
            account_code=_str(d.get("AccountCode")),
            account_id=_str(d.get("AccountID")),
            tax_type=_str(d.get("TaxType")),
            tax_amount=_dec(d.get("TaxAmount")),
            item_code=_str(d.get("ItemCode")),
            tracking=tuple(Tracking.from_xero(t) for t in d.get("Tracking") or ()),
            raw=dict(d),
        )

    def to_xero(self) -> dict[str, Any]:
        """The line as Xero must receive it on update so that nothing about it changes."""
        out: dict[str, Any] = {}
        if self.line_item_id:
            out["LineItemID"] = self.line_item_id
        if self.description is not None:
            out["Description"] = self.description
        if self.quantity is not None:
            out["Quantity"] = self.quantity
        if self.unit_amount is not None:
            out["UnitAmount"] = self.unit_amount
        if self.line_amount is not None:
            out["LineAmount"] = self.line_amount
        if self.account_code:
            out["AccountCode"] = self.account_code
        elif self.account_id:
            out["AccountID"] = self.account_id
        if self.tax_type is not None:
            out["TaxType"] = self.tax_type
        if self.tax_amount is not None:
            out["TaxAmount"] = self.tax_amount
        if self.item_code:
            out["ItemCode"] = self.item_code
        # A discount left out would silently change the line amount.
        for key in ("DiscountRate", "DiscountAmount"):
            value = _dec(self.raw.get(key))
            if value is not None:
                out[key] = value
        out["Tracking"] = [t.to_xero() for t in self.tracking]
        return out


@dataclass(frozen=True)
class ContactRef:
    contact_id: str | None
    name: str | None

    @classmethod
    def from_xero(cls, d: Mapping[str, Any] | None) -> ContactRef | None:
        if not d or not (d.get("ContactID") or d.get("Name")):
            return None
        return cls(contact_id=_str(d.get("ContactID")), name=_str(d.get("Name")))


@dataclass(frozen=True)
class AccountRef:
    account_id: str | None
    code: str | None
    name: str | None

    @classmethod
    def from_xero(cls, d: Mapping[str, Any] | None) -> AccountRef:
        d = d or {}
        return cls(account_id=_str(d.get("AccountID")), code=_str(d.get("Code")), name=_str(d.get("Name")))


@dataclass(frozen=True)
class BankTransaction:
    bank_transaction_id: str
    type: str
    status: str
    date: date
    contact: ContactRef | None
    bank_account: AccountRef
    reference: str | None
    url: str | None
    line_items: tuple[LineItem, ...]
    line_amount_types: str | None
    sub_total: Decimal
    total_tax: Decimal
    total: Decimal
    currency_code: str | None
    is_reconciled: bool
    updated_date_utc: datetime
    has_line_items: bool
    has_attachments: bool = False

    @property
    def is_editable(self) -> bool:
        """Xero only updates spend/receive money that is still live."""
        return self.type in EDITABLE_TYPES and self.status == "AUTHORISED"

    @property
    def is_spend(self) -> bool:
        return self.type.startswith("SPEND")

    @property
    def signed_total(self) -> Decimal:
        """Money out is negative, as a bookkeeper reads a bank statement."""
        return -self.total if self.is_spend else self.total

    @classmethod
    def from_xero(cls, d: Mapping[str, Any]) -> BankTransaction:
        raw_date = d.get("Date") or d.get("DateString")
        if not raw_date:
            raise ValueError("bank transaction without a date")
        lines = d.get("LineItems")
        # Xero requires at least one line, so an empty/missing list means "not loaded"
        # (lists fetched without `page` are summarised).
        has_lines = isinstance(lines, list) and len(lines) > 0
        return cls(
            bank_transaction_id=str(d["BankTransactionID"]),
            type=str(d.get("Type") or ""),
            status=str(d.get("Status") or ""),
            date=parse_xero_date(raw_date),
            contact=ContactRef.from_xero(d.get("Contact")),
            bank_account=AccountRef.from_xero(d.get("BankAccount")),
            reference=_str(d.get("Reference")),
            url=_str(d.get("Url")),
            line_items=tuple(LineItem.from_xero(li) for li in lines) if has_lines else (),
            line_amount_types=_str(d.get("LineAmountTypes")),
            sub_total=_dec0(d.get("SubTotal")),
            total_tax=_dec0(d.get("TotalTax")),
            total=_dec0(d.get("Total")),
            currency_code=_str(d.get("CurrencyCode")),
            is_reconciled=bool(d.get("IsReconciled", False)),
            updated_date_utc=_opt_datetime(d.get("UpdatedDateUTC")) or _EPOCH,
            has_line_items=has_lines,
            has_attachments=bool(d.get("HasAttachments", False)),
        )


def update_payload(txn: BankTransaction, *, reference: str | None, url: str | None) -> dict[str, Any]:
    """Body for ``POST /BankTransactions/{id}`` that changes only Reference and Url.

    ``None`` keeps the current value (which is sent back, so nothing depends on how Xero treats an
    absent field); ``""`` clears it. Every existing line goes back with its LineItemID, amounts,
    account, tax and tracking, because Xero deletes lines left out. Totals, status, date,
    reconciliation state and timestamps are never sent: Xero computes or owns them, and echoing
    them is what makes updates fail or flip state.
    """
    if not txn.has_line_items:
        raise ValueError(
            "line items were not loaded; updating would delete them — fetch the transaction first"
        )
    if not txn.is_editable:
        raise ValueError(f"Xero does not allow editing a {txn.status} {txn.type} transaction")
    if txn.bank_account.account_id:
        bank_account: dict[str, Any] = {"AccountID": txn.bank_account.account_id}
    elif txn.bank_account.code:
        bank_account = {"Code": txn.bank_account.code}
    else:
        raise ValueError("transaction has no bank account")
    body: dict[str, Any] = {
        "BankTransactionID": txn.bank_transaction_id,
        "Type": txn.type,
        "BankAccount": bank_account,
    }
    if txn.contact is not None and txn.contact.contact_id:
        body["Contact"] = {"ContactID": txn.contact.contact_id}
    if txn.line_amount_types:
        body["LineAmountTypes"] = txn.line_amount_types
    body["LineItems"] = [li.to_xero() for li in txn.line_items]
    new_reference = txn.reference if reference is None else reference
    new_url = txn.url if url is None else url
    if new_reference is not None:
        body["Reference"] = new_reference
    if new_url is not None:
        body["Url"] = new_url
    return {"BankTransactions": [body]}


# --------------------------------------------------------------------------- settings objects


@dataclass(frozen=True)
class BankAccount:
    account_id: str
    code: str | None
    name: str
    currency_code: str | None
    status: str | None
    bank_account_type: str | None

    @classmethod
    def from_xero(cls, d: Mapping[str, Any]) -> BankAccount:
        return cls(
            account_id=str(d["AccountID"]),
            code=_str(d.get("Code")) or None,
            name=str(d.get("Name") or ""),
            currency_code=_str(d.get("CurrencyCode")),
            status=_str(d.get("Status")),
            bank_account_type=_str(d.get("BankAccountType")) or None,
        )


@dataclass(frozen=True)
class Organisation:
    organisation_id: str
    name: str
    base_currency: str | None
    timezone: str | None
    short_code: str | None
    country_code: str | None

    @classmethod
    def from_xero(cls, d: Mapping[str, Any]) -> Organisation:
        return cls(
            organisation_id=str(d["OrganisationID"]),
            name=str(d.get("Name") or ""),
            base_currency=_str(d.get("BaseCurrency")),
            timezone=_str(d.get("Timezone")),
            short_code=_str(d.get("ShortCode")),
            country_code=_str(d.get("CountryCode")),
        )


@dataclass(frozen=True)
class TrackingOption:
    tracking_option_id: str
    name: str
    status: str | None

    @classmethod
    def from_xero(cls, d: Mapping[str, Any]) -> TrackingOption:
        return cls(
            tracking_option_id=str(d.get("TrackingOptionID") or ""),
            name=str(d.get("Name") or ""),
            status=_str(d.get("Status")),
        )


@dataclass(frozen=True)
class TrackingCategory:
    tracking_category_id: str
    name: str
    status: str | None
    options: tuple[TrackingOption, ...] = ()

    @classmethod
    def from_xero(cls, d: Mapping[str, Any]) -> TrackingCategory:
        return cls(
            tracking_category_id=str(d["TrackingCategoryID"]),
            name=str(d.get("Name") or ""),
            status=_str(d.get("Status")),
            options=tuple(TrackingOption.from_xero(o) for o in d.get("Options") or ()),
        )


@dataclass(frozen=True)
class HistoryRecord:
    details: str | None
    changes: str | None
    user: str | None
    date_utc: datetime | None

    @classmethod
    def from_xero(cls, d: Mapping[str, Any]) -> HistoryRecord:
        return cls(
            details=_str(d.get("Details")),
            changes=_str(d.get("Changes")),
            user=_str(d.get("User")),
            date_utc=_opt_datetime(d.get("DateUTC") or d.get("DateUTCString")),
        )


@dataclass(frozen=True)
class Page:
    transactions: tuple[BankTransaction, ...]
    page: int
    page_count: int | None
    item_count: int | None

    @property
    def has_more(self) -> bool | None:
        """``None`` when Xero sent no pagination block (caller must fall back to "page was full")."""
        if self.page_count is None:
            return None
        return self.page < self.page_count


# --------------------------------------------------------------------------- identity objects


@dataclass(frozen=True)
class Connection:
    id: str
    tenant_id: str
    tenant_name: str | None
    tenant_type: str | None
    auth_event_id: str | None
    created: datetime | None
    updated: datetime | None

    @classmethod
    def from_xero(cls, d: Mapping[str, Any]) -> Connection:
        return cls(
            id=str(d["id"]),
            tenant_id=str(d["tenantId"]),
            tenant_name=_str(d.get("tenantName")),
            tenant_type=_str(d.get("tenantType")),
            auth_event_id=_str(d.get("authEventId")),
            created=_opt_datetime(d.get("createdDateUtc")),
            updated=_opt_datetime(d.get("updatedDateUtc")),
        )


@dataclass(frozen=True, repr=False)
class TokenSet:
    """A token response. ``repr`` never shows a token so it is safe in logs and tracebacks."""

    access_token: str
    refresh_token: str
    expires_at: datetime
    scope: tuple[str, ...] = ()
    id_token: str | None = None

    def __repr__(self) -> str:
        return (
            f"TokenSet(access_token=<redacted>, refresh_token=<redacted>, "
            f"expires_at={self.expires_at.isoformat()}, scope={self.scope!r}, "
            f"id_token={'<redacted>' if self.id_token else None})"
        )

    __str__ = __repr__

    def expires_within(self, seconds: float, now: datetime) -> bool:
        return self.expires_at - now <= timedelta(seconds=seconds)
