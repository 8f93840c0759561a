"""Structured, already-validated filters for listing bank transactions.

Everything that can reach Xero's ``where`` clause lives here as a typed value (dates, enums,
numbers, GUIDs the bot looked up itself). User text never does: free-text matching runs on the
bot's side after the rows arrive, which is what makes filter injection impossible.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

TransactionType = Literal[
    "SPEND",
    "RECEIVE",
    "SPEND-TRANSFER",
    "RECEIVE-TRANSFER",
    "SPEND-OVERPAYMENT",
    "RECEIVE-OVERPAYMENT",
    "SPEND-PREPAYMENT",
    "RECEIVE-PREPAYMENT",
]
TransactionStatus = Literal["AUTHORISED", "DELETED", "VOIDED"]


@dataclass(frozen=True)
class TransactionFilter:
    """What the bot asks Xero for; ``None`` means "no constraint"."""

    date_from: date | None = None
    date_to: date | None = None
    types: tuple[TransactionType, ...] = ()
    status: TransactionStatus | None = "AUTHORISED"
    is_reconciled: bool | None = None
    bank_account_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    min_total: Decimal | None = None
    max_total: Decimal | None = None
