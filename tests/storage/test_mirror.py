"""The mirror's rows: what goes in comes back, an upsert replaces, a delete removes, forget wipes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from bot.services.mirror_rows import row_from_transaction, transaction_from_row
from bot.xero.models import AccountRef, BankTransaction, ContactRef, LineItem
from storage.mirror import count_rows, forget_tenant, get_row, remove_rows, upsert_rows


def _line(description: str) -> LineItem:
    amount = Decimal("57.33")
    return LineItem("L1", description, Decimal(1), amount, amount, "400", None, None, None, None)


def _txn(txn_id: str, **changes) -> BankTransaction:
    fields = dict(
        bank_transaction_id=txn_id,
        type="SPEND",
        status="AUTHORISED",
        date=date(2026, 11, 3),
        contact=ContactRef("c-1", "Café Zoë *Star*"),
        bank_account=AccountRef("acc-1", "090", "Business Bank Account"),
        reference="INV-0042",
        url=None,
        line_items=(_line("Beans\nand milk"), _line("Cups")),
        line_amount_types="Inclusive",
        sub_total=Decimal("57.33"),
        total_tax=Decimal(0),
        total=Decimal("57.33"),
        currency_code="NZD",
        is_reconciled=False,
        updated_date_utc=datetime(2026, 11, 3, 9, 30, 5, tzinfo=UTC),
        has_line_items=True,
        has_attachments=True,
    )
    fields.update(changes)
    return BankTransaction(**fields)


def test_a_row_round_trips_with_exact_money_and_folded_text(db):
    upsert_rows(db, "t-1", [row_from_transaction(_txn("b-1"))])
    row = get_row(db, "t-1", "b-1")
    assert row.total_e4 == 573_300 and row.signed_e4 == -573_300
    assert row.search_text.split("\n") == ["cafe zoe *star*", "inv-0042", "beans and milk", "cups"]
    back = transaction_from_row(row)
    assert back.total == Decimal("57.33") and back.signed_total == Decimal("-57.33")
    assert back.contact.name == "Café Zoë *Star*" and back.reference == "INV-0042"
    assert [line.description for line in back.line_items] == ["Beans and milk", "Cups"]
    assert back.has_line_items is False  # an edit must fetch the real lines from Xero
    assert back.updated_date_utc == datetime(2026, 11, 3, 9, 30, 5, tzinfo=UTC)
    assert back.has_attachments is True


def test_upsert_replaces_by_id_and_tenants_are_apart(db):
    upsert_rows(db, "t-1", [row_from_transaction(_txn("b-1")), row_from_transaction(_txn("b-2"))])
    upsert_rows(db, "t-2", [row_from_transaction(_txn("b-1"))])
    upsert_rows(db, "t-1", [row_from_transaction(_txn("b-1", reference="NEW", is_reconciled=True))])
    assert count_rows(db, "t-1") == 2 and count_rows(db, "t-2") == 1
    assert get_row(db, "t-1", "b-1").reference == "NEW" and get_row(db, "t-1", "b-1").is_reconciled
    assert get_row(db, "t-2", "b-1").reference == "INV-0042"


def test_remove_and_forget(db):
    upsert_rows(db, "t-1", [row_from_transaction(_txn(f"b-{n}")) for n in range(1200)])
    upsert_rows(db, "t-2", [row_from_transaction(_txn("b-1"))])
    assert remove_rows(db, "t-1", [f"b-{n}" for n in range(600)] + ["missing"]) == 600
    assert count_rows(db, "t-1") == 600
    assert forget_tenant(db, "t-1") == 600
    assert count_rows(db, "t-1") == 0 and count_rows(db, "t-2") == 1
