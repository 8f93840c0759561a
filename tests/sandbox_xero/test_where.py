"""The where/order language on its own (pure), then as the API answers it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from bot.sandbox.xero.where import FieldSpec, WhereError, compile_where, parse_order

from .conftest import Api, all_transactions

FIELDS = {
    "Type": FieldSpec("enum", lambda r: r["type"]),
    "Status": FieldSpec("enum", lambda r: r["status"]),
    "Date": FieldSpec("date", lambda r: r["date"]),
    "UpdatedDateUTC": FieldSpec("datetime", lambda r: r["updated"]),
    "IsReconciled": FieldSpec("bool", lambda r: r["rec"]),
    "Total": FieldSpec("number", lambda r: r["total"]),
    "Reference": FieldSpec("string", lambda r: r["ref"]),
    "Contact.ContactID": FieldSpec("guid", lambda r: r["contact"]),
    "Contact.Name": FieldSpec("string", lambda r: r["name"]),
}
ROW = {
    "type": "SPEND",
    "status": "AUTHORISED",
    "date": date(2024, 3, 1),
    "updated": datetime(2024, 3, 2, 10, 30),
    "rec": False,
    "total": Decimal("12.50"),
    "ref": "INV-0042",
    "contact": "7cb59f93-2964-421d-bb5e-a0f7a4572a44",
    "name": 'Zephyr "Pipes" Ltd',
}


def matches(where: str, row: dict = ROW) -> bool:
    return compile_where(where, FIELDS).predicate(row)


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ('Type=="SPEND"', True),
        ('Type == "spend"', True),
        ('Type!="SPEND"', False),
        ('Type<>"RECEIVE"', True),
        ('Type="SPEND"', True),
        ("Date==DateTime(2024, 03, 01)", True),
        ("Date>DateTime(2024,3,1)", False),
        ("Date>=DateTime(2024,3,1)", True),
        ("Date<DateTime(2024,3,2)", True),
        ("Date<=DateTime(2024,2,29)", False),
        ("Date<DateTime(2024,3,1,0,0,1)", True),
        ("UpdatedDateUTC>DateTime(2024,3,2,10,0,0)", True),
        ("UpdatedDateUTC>DateTime(2024,3,2)", True),
        ("IsReconciled==false", True),
        ("IsReconciled==true", False),
        ("IsReconciled", False),
        ("NOT IsReconciled", True),
        ("!IsReconciled", True),
        ("Total>12", True),
        ("Total>=12.5 AND Total<=12.50", True),
        ("Total==12.51", False),
        ('Reference=="inv-0042"', True),
        ('Reference.Contains("0042")', True),
        ('Reference.StartsWith("INV")', True),
        ('Reference.EndsWith("41")', False),
        ('Reference.ToLower()=="inv-0042"', True),
        ('Contact.Name=="Zephyr \\"Pipes\\" Ltd"', True),
        ('Contact.ContactID==guid("7CB59F93-2964-421D-BB5E-A0F7A4572A44")', True),
        ('Contact.ContactID==Guid("00000000-0000-0000-0000-000000000000")', False),
        ('Type=="SPEND" AND IsReconciled==false', True),
        ('Type=="SPEND" && Status=="DELETED"', False),
        ('Type=="RECEIVE" OR Total>10', True),
        ('Type=="RECEIVE" || Total>100', False),
        ('(Type=="RECEIVE" OR Type=="SPEND") AND (Date>=DateTime(2024,1,1) AND IsReconciled==false)', True),
        ('Type=="RECEIVE" OR Type=="SPEND" AND Status=="DELETED"', False),  # AND binds tighter than OR
        ("Reference==null", False),
        ("Reference!=null", True),
    ],
)
def test_where_evaluates_like_xero(where: str, expected: bool) -> None:
    assert matches(where) is expected


def test_missing_values_compare_as_null() -> None:
    row = dict(ROW, ref=None)
    assert matches("Reference==null", row)
    assert not matches('Reference=="x"', row)
    assert not matches('Reference.Contains("x")', row)


@pytest.mark.parametrize(
    "where",
    [
        "",
        "Type==",
        'Type=="SPEND" AND',
        '(Type=="SPEND"',
        'Type=="SPEND")',
        'Type=="SPEND" Status=="AUTHORISED"',
        "Type==SPEND",  # unquoted: SPEND is read as an unknown field
        'Type=="SPEND',
        "Nope==1",
        'Date=="2024-01-01"',
        "Date>=DateTime(2024,13,1)",
        "Date>=DateTime(2024,1)",
        "Date>=DateTime(2024,1,x)",
        'Contact.ContactID=="7cb59f93-2964-421d-bb5e-a0f7a4572a44"',
        'Contact.ContactID==guid("not-a-guid")',
        'Total>"12"',
        "IsReconciled<true",
        'Total.Contains("1")',
        "Type==#",
    ],
)
def test_malformed_or_ill_typed_where_is_rejected(where: str) -> None:
    with pytest.raises(WhereError):
        compile_where(where, FIELDS)


def test_compiled_where_reports_fields_and_operators_used() -> None:
    compiled = compile_where('Type=="SPEND" AND Date>=DateTime(2024,1,1) OR IsReconciled==false', FIELDS)
    assert compiled.used == {("Type", "=="), ("Date", ">="), ("IsReconciled", "==")}


def test_field_names_are_case_insensitive() -> None:
    assert matches('type=="SPEND" and contact.name.contains("zephyr")')


def test_order_parses_fields_and_directions() -> None:
    keys = parse_order("Date DESC, BankTransactionID", {**FIELDS, "BankTransactionID": FIELDS["Type"]})
    assert [(k.field, k.descending) for k in keys] == [("Date", True), ("BankTransactionID", False)]
    with pytest.raises(WhereError):
        parse_order("Date SIDEWAYS", FIELDS)
    with pytest.raises(WhereError):
        parse_order("Nope", FIELDS)


# --- over HTTP -------------------------------------------------------------------------------


def test_where_over_http_filters_the_list(api: Api) -> None:
    rows = all_transactions(api, where='Type=="SPEND" AND IsReconciled==false AND Status=="AUTHORISED"')
    assert rows
    assert all(
        r["Type"] == "SPEND" and r["IsReconciled"] is False and r["Status"] == "AUTHORISED" for r in rows
    )
    everything = all_transactions(api)
    expected = [
        r
        for r in everything
        if r["Type"] == "SPEND" and not r["IsReconciled"] and r["Status"] == "AUTHORISED"
    ]
    assert {r["BankTransactionID"] for r in rows} == {r["BankTransactionID"] for r in expected}


def test_where_on_bank_account_and_contact(api: Api) -> None:
    everything = all_transactions(api)
    sample = next(r for r in everything if "Contact" in r)
    account = sample["BankAccount"]
    by_account = all_transactions(api, where=f'BankAccount.AccountID==guid("{account["AccountID"]}")')
    assert by_account and all(r["BankAccount"]["AccountID"] == account["AccountID"] for r in by_account)
    by_code = all_transactions(api, where=f'BankAccount.Code=="{account["Code"]}"')
    assert {r["BankTransactionID"] for r in by_code} == {r["BankTransactionID"] for r in by_account}
    contact = sample["Contact"]
    by_contact = all_transactions(api, where=f'Contact.ContactID==guid("{contact["ContactID"]}")')
    assert by_contact and all(r["Contact"]["ContactID"] == contact["ContactID"] for r in by_contact)
    by_name = all_transactions(api, where=f'Contact.Name=="{contact["Name"]}"')
    assert {r["BankTransactionID"] for r in by_name} == {r["BankTransactionID"] for r in by_contact}


def test_where_on_dates_totals_and_reference(api: Api) -> None:
    rows = all_transactions(
        api, where="Date>=DateTime(2026,10,01) AND Date<DateTime(2026,11,01) AND Total>100"
    )
    assert rows
    for r in rows:
        assert "2026-10-01" <= r["DateString"][:10] < "2026-11-01"
        assert r["Total"] > 100
    with_ref = all_transactions(api, where='Reference.StartsWith("INV-")')
    assert with_ref and all(r["Reference"].startswith("INV-") for r in with_ref)


def test_malformed_where_is_a_400_validation_error(api: Api) -> None:
    response = api.get("BankTransactions", params={"where": 'Type=="SPEND" AND (Status=="AUTHORISED"'})
    assert response.status_code == 400
    body = response.json()
    assert body["ErrorNumber"] == 10
    assert body["Type"] == "ValidationException"
    assert body["Elements"][0]["ValidationErrors"][0]["Message"].startswith("Syntax error")
