"""A simple tax model: how line amounts, tax and document totals relate.

Xero's real tax engine has compound rates, rounding per line or per document and regional
rules; the sandbox keeps one rate per TaxType (in basis points) and rounds per line, which is
enough to make "totals must equal the sum of the lines" a real constraint. Money is in integer
cents so that generating 200,000 transactions stays fast and exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal


def div_round(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half away from zero, in integers."""
    sign = -1 if (numerator < 0) != (denominator < 0) else 1
    n, d = abs(numerator), abs(denominator)
    return sign * ((2 * n + d) // (2 * d))


def line_tax(line_cents: int, rate_bp: int, line_amount_types: str) -> int:
    """Tax on one line: added on top (Exclusive), contained in it (Inclusive), or none."""
    if line_amount_types == "NoTax" or not rate_bp:
        return 0
    if line_amount_types == "Inclusive":
        return div_round(line_cents * rate_bp, 10_000 + rate_bp)
    return div_round(line_cents * rate_bp, 10_000)


def document_totals(lines: Iterable[tuple[int, int]], line_amount_types: str) -> tuple[int, int, int]:
    """(SubTotal, TotalTax, Total) in cents from (LineAmount, TaxAmount) pairs."""
    line_sum = 0
    tax = 0
    for amount, line_tax_cents in lines:
        line_sum += amount
        tax += line_tax_cents
    if line_amount_types == "NoTax":
        tax = 0
    sub_total = line_sum - tax if line_amount_types == "Inclusive" else line_sum
    return sub_total, tax, sub_total + tax


def to_cents(value: Decimal) -> int:
    return int(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * 100)


def from_cents(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)
