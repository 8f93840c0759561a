"""Between Xero's bank transactions and the mirror's rows: the one place that shapes them.

Money goes in as integer ten-thousandths so equality and ranges are exact on both databases;
text goes in folded (:func:`bot.services.textmatch.normalise`) so the database's substring
match means what the bot's own matching means. A transaction read back from the mirror carries
its line descriptions but not its lines (``has_line_items`` is false): an edit always fetches the
transaction from Xero first, because Xero deletes any line an update leaves out.
"""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

from bot.services.textmatch import normalise
from bot.xero.models import AccountRef, BankTransaction, ContactRef, LineItem
from storage.mirror import MirrorRow

_E4 = Decimal(10_000)


def to_e4(amount: Decimal) -> int:
    return int((amount * _E4).to_integral_value())


def from_e4(value: int) -> Decimal:
    return (Decimal(value) / _E4).quantize(Decimal("0.01")) if value % 100 == 0 else Decimal(value) / _E4


def is_live(txn: BankTransaction) -> bool:
    return txn.status not in ("DELETED", "VOIDED")


def row_from_transaction(txn: BankTransaction) -> MirrorRow:
    descriptions = [line.description or "" for line in txn.line_items]
    contact = txn.contact
    account = txn.bank_account
    folded = [normalise(contact.name if contact else None), normalise(txn.reference)]
    folded.extend(normalise(d) for d in descriptions)
    total = abs(txn.total)
    updated = txn.updated_date_utc
    if updated.tzinfo is None:
        updated = updated.replace(tzinfo=UTC)
    return MirrorRow(
        bank_transaction_id=txn.bank_transaction_id,
        type=txn.type,
        status=txn.status,
        date=txn.date,
        contact_id=contact.contact_id if contact else None,
        contact_name=contact.name if contact else None,
        reference=txn.reference,
        url=txn.url,
        bank_account_id=account.account_id or "",
        bank_account_code=account.code,
        bank_account_name=account.name or "",
        currency_code=txn.currency_code,
        total_e4=to_e4(total),
        signed_e4=-to_e4(total) if txn.is_spend else to_e4(total),
        is_reconciled=txn.is_reconciled,
        updated_utc=updated,
        line_descriptions="\n".join(d.replace("\n", " ") for d in descriptions),
        has_attachments=txn.has_attachments,
        search_text="\n".join(folded),
    )


def transaction_from_row(row: MirrorRow) -> BankTransaction:
    """What results and the digest show; lines are summaries (descriptions only)."""
    lines = tuple(
        LineItem(
            line_item_id=None,
            description=text,
            quantity=None,
            unit_amount=None,
            line_amount=None,
            account_code=None,
            account_id=None,
            tax_type=None,
            tax_amount=None,
            item_code=None,
        )
        for text in row.line_descriptions.split("\n")
        if text
    )
    contact = ContactRef(row.contact_id, row.contact_name) if (row.contact_id or row.contact_name) else None
    total = from_e4(row.total_e4)
    return BankTransaction(
        bank_transaction_id=row.bank_transaction_id,
        type=row.type,
        status=row.status,
        date=row.date,
        contact=contact,
        bank_account=AccountRef(
            row.bank_account_id or None, row.bank_account_code, row.bank_account_name or None
        ),
        reference=row.reference,
        url=row.url,
        line_items=lines,
        line_amount_types=None,
        sub_total=total,
        total_tax=Decimal(0),
        total=total,
        currency_code=row.currency_code,
        is_reconciled=row.is_reconciled,
        updated_date_utc=row.updated_utc,
        has_line_items=False,
        has_attachments=row.has_attachments,
    )


__all__ = ["from_e4", "is_live", "row_from_transaction", "to_e4", "transaction_from_row"]
