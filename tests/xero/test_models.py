from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from bot.xero.models import (
    BankTransaction,
    Connection,
    HistoryRecord,
    TokenSet,
    parse_ms_date,
    parse_xero_date,
    update_payload,
)
from tests.xero.fixtures import BANK_ID, CONTACT_ID, LINE_1, LINE_2, NORTH_ID, REGION_ID, TXN_ID, txn_json

# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/Date(1476316800000+0000)/", datetime(2016, 10, 13, tzinfo=UTC)),
        ("/Date(1551212901659)/", datetime(2019, 2, 26, 20, 28, 21, 659000, tzinfo=UTC)),
        # The offset says where it was entered; the milliseconds are still the UTC instant.
        ("/Date(1476316800000+1300)/", datetime(2016, 10, 13, tzinfo=UTC)),
        ("/Date(1476316800000-0500)/", datetime(2016, 10, 13, tzinfo=UTC)),
        ("/Date(-86400000)/", datetime(1969, 12, 31, tzinfo=UTC)),
        ("/Date(-1000+0000)/", datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("2016-10-13T00:00:00", datetime(2016, 10, 13, tzinfo=UTC)),
        ("2019-07-09T23:40:30.1833130", datetime(2019, 7, 9, 23, 40, 30, 183313, tzinfo=UTC)),
        ("2020-02-06T12:17:43.202-08:00", datetime(2020, 2, 6, 20, 17, 43, 202000, tzinfo=UTC)),
    ],
)
def test_parse_ms_date_forms(raw, expected):
    parsed = parse_ms_date(raw)
    assert parsed == expected
    assert parsed.tzinfo is not None


@pytest.mark.parametrize("raw", ["", "/Date()/", "/Date(abc)/", "yesterday", None, 12345])
def test_parse_ms_date_rejects_junk(raw):
    with pytest.raises(ValueError):
        parse_ms_date(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/Date(1476316800000+0000)/", date(2016, 10, 13)),
        ("/Date(1476316800000)/", date(2016, 10, 13)),
        # Local midnight 13 Oct in Auckland (+13:00) is 11:00 UTC on the 12th.
        ("/Date(1476270000000+1300)/", date(2016, 10, 13)),
        ("/Date(1476334800000-0500)/", date(2016, 10, 13)),
        ("2016-10-13T00:00:00", date(2016, 10, 13)),
    ],
)
def test_transaction_calendar_date(raw, expected):
    assert parse_xero_date(raw) == expected


# ---------------------------------------------------------------- bank transaction


def test_bank_transaction_parsed_with_decimal_money_and_dates():
    txn = BankTransaction.from_xero(txn_json())
    assert txn.bank_transaction_id == TXN_ID
    assert txn.date == date(2016, 10, 13)
    assert txn.updated_date_utc == datetime(2016, 10, 13, 20, 13, 36, 437000, tzinfo=UTC)
    assert txn.total == Decimal("1234.56")
    assert txn.line_items[0].unit_amount == Decimal("1000.1")
    assert isinstance(txn.sub_total, Decimal)
    assert txn.contact is not None and txn.contact.name == "Zephyr Plumbing Ltd"
    assert txn.bank_account.name == "Business Bank Account"
    assert txn.line_items[0].tracking[0].tracking_option_id == NORTH_ID
    assert txn.has_line_items


def test_decimal_input_is_kept_exactly():
    txn = BankTransaction.from_xero(txn_json(Total=Decimal("0.10"), SubTotal=0.1))
    assert txn.total == Decimal("0.10")
    assert txn.sub_total == Decimal("0.1")


def test_date_string_fallback_when_ms_date_missing():
    data = txn_json()
    del data["Date"]
    assert BankTransaction.from_xero(data).date == date(2016, 10, 13)


@pytest.mark.parametrize(
    ("type_", "sign"),
    [
        ("SPEND", -1),
        ("SPEND-TRANSFER", -1),
        ("SPEND-PREPAYMENT", -1),
        ("RECEIVE", 1),
        ("RECEIVE-OVERPAYMENT", 1),
    ],
)
def test_signed_total_makes_money_out_negative(type_, sign):
    txn = BankTransaction.from_xero(txn_json(Type=type_))
    assert txn.signed_total == Decimal("1234.56") * sign


@pytest.mark.parametrize(
    ("type_", "status", "editable"),
    [
        ("SPEND", "AUTHORISED", True),
        ("RECEIVE", "AUTHORISED", True),
        ("SPEND", "VOIDED", False),
        ("RECEIVE", "DELETED", False),
        ("SPEND-TRANSFER", "AUTHORISED", False),
        ("RECEIVE-PREPAYMENT", "AUTHORISED", False),
    ],
)
def test_is_editable_only_for_live_spend_receive(type_, status, editable):
    assert BankTransaction.from_xero(txn_json(Type=type_, Status=status)).is_editable is editable


@pytest.mark.parametrize("lines", [None, []])
def test_summarised_transaction_has_no_line_items(lines):
    data = txn_json()
    if lines is None:
        del data["LineItems"]
    else:
        data["LineItems"] = lines
    txn = BankTransaction.from_xero(data)
    assert not txn.has_line_items
    assert txn.line_items == ()


def test_missing_contact_is_none():
    assert BankTransaction.from_xero(txn_json(Contact=None)).contact is None


# ---------------------------------------------------------------- update payload


def _body(payload):
    assert list(payload) == ["BankTransactions"]
    assert len(payload["BankTransactions"]) == 1
    return payload["BankTransactions"][0]


def test_update_payload_keeps_every_line_with_ids_amounts_and_tracking():
    txn = BankTransaction.from_xero(txn_json())
    body = _body(update_payload(txn, reference="ZP-4471-A", url="https://example.com/new"))
    assert body["BankTransactionID"] == TXN_ID
    assert body["Type"] == "SPEND"
    assert body["BankAccount"] == {"AccountID": BANK_ID}
    assert body["Contact"] == {"ContactID": CONTACT_ID}
    assert body["LineAmountTypes"] == "Inclusive"
    assert body["Reference"] == "ZP-4471-A"
    assert body["Url"] == "https://example.com/new"
    first, second = body["LineItems"]
    assert first == {
        "LineItemID": LINE_1,
        "Description": "Call-out fee",
        "Quantity": Decimal("1.0"),
        "UnitAmount": Decimal("1000.1"),
        "LineAmount": Decimal("1000.1"),
        "AccountCode": "429",
        "TaxType": "INPUT2",
        "TaxAmount": Decimal("130.45"),
        "Tracking": [{"TrackingCategoryID": REGION_ID, "TrackingOptionID": NORTH_ID}],
    }
    assert second["LineItemID"] == LINE_2
    assert second["AccountID"] == "a3a2d3a3-1111-4aaa-8bbb-222222222222"
    assert "AccountCode" not in second
    assert second["ItemCode"] == "PARTS"
    assert second["Tracking"] == [{"Name": "Region", "Option": "South"}]


def test_update_payload_never_sends_totals_state_or_timestamps():
    txn = BankTransaction.from_xero(txn_json(IsReconciled=True))
    body = _body(update_payload(txn, reference="x", url=None))
    for forbidden in ("SubTotal", "TotalTax", "Total", "UpdatedDateUTC", "IsReconciled", "Status", "Date"):
        assert forbidden not in body
    text = json.dumps(update_payload(txn, reference="x", url=None), default=str)
    assert "1234.56" not in text  # the total appears nowhere, not even nested


def test_update_payload_none_keeps_current_values_and_empty_clears():
    txn = BankTransaction.from_xero(txn_json())
    body = _body(update_payload(txn, reference=None, url=""))
    assert body["Reference"] == "ZP-4471"
    assert body["Url"] == ""


def test_update_payload_keeps_discounts():
    data = txn_json()
    data["LineItems"][0]["DiscountRate"] = 10
    body = _body(update_payload(BankTransaction.from_xero(data), reference="r", url=None))
    assert body["LineItems"][0]["DiscountRate"] == Decimal("10")


def test_update_payload_is_a_fresh_object_each_time():
    txn = BankTransaction.from_xero(txn_json())
    a = update_payload(txn, reference="a", url=None)
    a["BankTransactions"][0]["LineItems"][0]["Tracking"].clear()
    b = update_payload(txn, reference="a", url=None)
    assert b["BankTransactions"][0]["LineItems"][0]["Tracking"]


def test_update_payload_refuses_summarised_transaction():
    data = txn_json()
    del data["LineItems"]
    with pytest.raises(ValueError, match="line items"):
        update_payload(BankTransaction.from_xero(data), reference="x", url=None)


@pytest.mark.parametrize(("type_", "status"), [("SPEND-TRANSFER", "AUTHORISED"), ("SPEND", "VOIDED")])
def test_update_payload_refuses_what_xero_cannot_update(type_, status):
    with pytest.raises(ValueError):
        update_payload(
            BankTransaction.from_xero(txn_json(Type=type_, Status=status)), reference="x", url=None
        )


# ---------------------------------------------------------------- others


def test_history_record_and_connection_parse():
    rec = HistoryRecord.from_xero(
        {"Changes": "Note", "DateUTC": "/Date(1573755038314)/", "User": "Ann", "Details": "hi"}
    )
    assert rec.details == "hi" and rec.user == "Ann" and rec.date_utc.year == 2019
    conn = Connection.from_xero(
        {
            "id": "e1eede29-f875-4a5d-8470-17f6a29a88b1",
            "authEventId": "d99ecdfe-391d-43d2-b834-17636ba90e8d",
            "tenantId": "70784a63-d24b-46a9-a4db-0e70a274b056",
            "tenantType": "ORGANISATION",
            "tenantName": "Maple Florists Inc",
            "createdDateUtc": "2019-07-09T23:40:30.1833130",
            "updatedDateUtc": "2020-05-15T01:35:13.8491980",
        }
    )
    assert conn.tenant_name == "Maple Florists Inc"
    assert conn.updated == datetime(2020, 5, 15, 1, 35, 13, 849198, tzinfo=UTC)


def test_token_set_repr_hides_tokens():
    ts = TokenSet(
        access_token="eyJ-access-SECRET",
        refresh_token="refresh-SECRET",
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        scope=("openid",),
        id_token="eyJ-id-SECRET",
    )
    for text in (repr(ts), str(ts), f"{ts}", repr([ts])):
        assert "SECRET" not in text
    assert "2030-01-01" in repr(ts)
