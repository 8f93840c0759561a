"""Build Xero's ``where`` expression from a ``TransactionFilter`` — typed values only.

Nothing a user typed can reach this string: every clause is rendered from a ``date``, a value
from a fixed allow-list, a ``bool``, a ``uuid.UUID`` or a ``Decimal``, and anything else raises.
The dataclass already promises those types; checking again here is defence in depth, because a
single ``str`` slipping through would be a filter-injection hole.

Xero only indexes some fields for bank transactions (Type, Status, Date, Contact.ContactID), so
those clauses come first; the rest narrow an already-optimised range.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import get_args

from bot.xero.filters import TransactionFilter, TransactionStatus, TransactionType

ALLOWED_TYPES: frozenset[str] = frozenset(get_args(TransactionType))
ALLOWED_STATUSES: frozenset[str] = frozenset(get_args(TransactionStatus))

_MAX_AMOUNT = Decimal(10) ** 15

BANK_ACCOUNTS_WHERE = 'Status=="ACTIVE" AND Type=="BANK"'


def build_where(f: TransactionFilter) -> str | None:
    """``where`` for ``GET /BankTransactions``, or ``None`` when the filter constrains nothing."""
    if not isinstance(f, TransactionFilter):
        raise TypeError("build_where needs a TransactionFilter")
    clauses: list[str] = []

    types = _types(f.types)
    if len(types) == 1:
        clauses.append(f'Type=="{types[0]}"')
    elif types:
        clauses.append("(" + " OR ".join(f'Type=="{t}"' for t in types) + ")")

    if f.status is not None:
        clauses.append(f'Status=="{_enum(f.status, ALLOWED_STATUSES, "status")}"')
    if f.date_from is not None:
        clauses.append(f"Date>={_datetime(f.date_from, 'date_from')}")
    if f.date_to is not None:
        clauses.append(f"Date<={_datetime(f.date_to, 'date_to')}")
    if f.contact_id is not None:
        clauses.append(f"Contact.ContactID=={_guid(f.contact_id, 'contact_id')}")

    if f.is_reconciled is not None:
        if not isinstance(f.is_reconciled, bool):
            raise TypeError("is_reconciled must be a bool")
        clauses.append(f"IsReconciled=={'true' if f.is_reconciled else 'false'}")
    if f.bank_account_id is not None:
        clauses.append(f"BankAccount.AccountID=={_guid(f.bank_account_id, 'bank_account_id')}")
    if f.min_total is not None:
        clauses.append(f"Total>={_amount(f.min_total, 'min_total')}")
    if f.max_total is not None:
        clauses.append(f"Total<={_amount(f.max_total, 'max_total')}")

    return " AND ".join(clauses) or None


def _types(values: object) -> list[str]:
    if not isinstance(values, tuple | list | frozenset | set):
        raise TypeError("types must be a tuple of transaction types")
    out: list[str] = []
    for v in values:
        t = _enum(v, ALLOWED_TYPES, "type")
        if t not in out:
            out.append(t)
    return out


def _enum(value: object, allowed: frozenset[str], what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string from the allow-list")
    if value not in allowed:
        raise ValueError(f"unknown {what}: {value!r}")
    return value


def _datetime(value: object, what: str) -> str:
    if not isinstance(value, date):
        raise TypeError(f"{what} must be a datetime.date")
    return f"DateTime({value.year:04d},{value.month:02d},{value.day:02d})"


def _guid(value: object, what: str) -> str:
    if not isinstance(value, uuid.UUID):
        raise TypeError(f"{what} must be a uuid.UUID")
    return f'guid("{value}")'


def _amount(value: object, what: str) -> str:
    if not isinstance(value, Decimal):
        raise TypeError(f"{what} must be a Decimal")
    if not value.is_finite():
        raise ValueError(f"{what} must be a finite amount")
    if abs(value) >= _MAX_AMOUNT:
        raise ValueError(f"{what} is larger than any Xero amount")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        value = value.quantize(Decimal("0.01"))
    return format(value, "f")
