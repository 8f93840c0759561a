"""Changes made in Xero itself (create, edit, delete, void, reconcile), from Python and over HTTP.

What is asserted is what the bot would see afterwards through the API: the transaction from
GET /BankTransactions/{id}, where it lands in lists, and its History.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
import requests

from bot.sandbox.xero import ActionError, XeroSandbox

from .conftest import START, Api, all_transactions, frozen_clock

MS_DATE = re.compile(r"^/Date\((\d+)\+0000\)/$")


def ms(value: str) -> int:
    m = MS_DATE.match(value)
    assert m, value
    return int(m.group(1))


def now_ms(sb: XeroSandbox) -> int:
    return int(sb.clock.now().timestamp() * 1000)


def pick(sb: XeroSandbox, tenant: str, lines: int | None = None, **want: Any) -> dict[str, Any]:
    for t in sb.transactions(tenant):
        if t["Status"] != "AUTHORISED" or t["Type"] not in ("SPEND", "RECEIVE"):
            continue
        if lines is not None and len(t["LineItems"]) != lines:
            continue
        if all(t[k] == v for k, v in want.items()):
            return t
    raise AssertionError(f"no transaction like {want}")


def check_totals(txn: dict[str, Any]) -> None:
    """Total = SubTotal + TotalTax, and the lines add up, whatever the LineAmountTypes."""
    line_sum = round(sum(line["LineAmount"] for line in txn["LineItems"]), 2)
    tax = round(sum(line["TaxAmount"] for line in txn["LineItems"]), 2)
    assert txn["TotalTax"] == tax
    assert txn["Total"] == round(txn["SubTotal"] + txn["TotalTax"], 2)
    if txn["LineAmountTypes"] == "Inclusive":
        assert txn["Total"] == line_sum
    else:
        assert txn["SubTotal"] == line_sum


# --- create --------------------------------------------------------------------------------


def test_create_spend_money(sb: XeroSandbox, api: Api) -> None:
    tenant = api.tenant_id
    sb.clock.advance(0.25)
    made = sb.create_transaction(
        tenant,
        contact="Zephyr Plumbing Ltd",
        amount="57.33",
        reference="PLB-77",
        description="Tap washer",
        date="2026-11-28",
    )
    assert made["Type"] == "SPEND" and made["Status"] == "AUTHORISED" and made["IsReconciled"] is False
    assert made["Contact"]["Name"] == "Zephyr Plumbing Ltd"
    existing = next(
        t["Contact"]
        for t in sb.transactions(tenant)
        if t.get("Contact", {}).get("Name") == "Zephyr Plumbing Ltd"
    )
    assert made["Contact"]["ContactID"] == existing["ContactID"]  # an existing contact, not a new one
    assert made["Reference"] == "PLB-77"
    assert made["DateString"] == "2026-11-28T00:00:00"
    assert made["BankAccount"]["Code"] == "090"
    assert made["CurrencyCode"] == "NZD"
    assert made["Total"] == 57.33 and made["LineAmountTypes"] == "Inclusive"
    assert made["HasAttachments"] is False
    (line,) = made["LineItems"]
    assert (
        line["Description"] == "Tap washer" and line["AccountCode"] == "429" and line["TaxType"] == "INPUT2"
    )
    check_totals(made)
    assert ms(made["UpdatedDateUTC"]) == now_ms(sb)
    fetched = api.get(f"BankTransactions/{made['BankTransactionID']}").json()["BankTransactions"][0]
    assert fetched["Reference"] == "PLB-77" and fetched["Total"] == 57.33
    assert made["BankTransactionID"] in sb.transaction_ids(tenant)
    (created,) = sb.history(tenant, made["BankTransactionID"])
    assert created["Changes"] == "Created" and "57.33" in created["Details"]


@pytest.mark.parametrize("lat", ["Inclusive", "Exclusive", "NoTax"])
def test_create_makes_the_total_exactly_the_amount(sb: XeroSandbox, lat: str) -> None:
    tenant = sb.tenants[0]["tenant_id"]
    for amount in ("0.01", "1.00", "12.34", "999.99", "1234.57"):
        made = sb.create_transaction(
            tenant, type="RECEIVE", contact="Cash Sales", amount=amount, line_amount_types=lat
        )
        assert made["Total"] == float(amount)
        assert made["LineItems"][0]["AccountCode"] == "200"
        check_totals(made)


def test_create_in_another_bank_account_and_with_a_new_contact(sb: XeroSandbox) -> None:
    tenant = sb.tenants[0]["tenant_id"]
    usd = next(a for a in sb.tenants[0]["bank_accounts"] if a["currency"] == "USD")
    made = sb.create_transaction(
        tenant, contact="Brand New Supplier", amount=10, bank_account=usd["account_id"]
    )
    assert made["BankAccount"]["AccountID"] == usd["account_id"]
    assert made["CurrencyCode"] == "USD" and made["CurrencyRate"] == 1.0
    again = sb.create_transaction(tenant, contact="brand new supplier", amount=11, bank_account="091")
    assert again["Contact"]["ContactID"] == made["Contact"]["ContactID"]
    assert again["BankAccount"]["Code"] == "091"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"contact": None, "amount": 10}, "contact is required"),
        ({"contact": "Spark NZ", "amount": None}, "amount is required"),
        ({"contact": "Spark NZ", "amount": 0}, "more than zero"),
        ({"contact": "Spark NZ", "amount": "-5"}, "more than zero"),
        ({"contact": "Spark NZ", "amount": "1.234"}, "two decimals"),
        ({"contact": "Spark NZ", "amount": "lots"}, "not a number"),
        ({"contact": "Spark NZ", "amount": 5, "type": "SPEND-TRANSFER"}, "Only SPEND and RECEIVE"),
        ({"contact": "Spark NZ", "amount": 5, "bank_account": "094"}, "archived"),
        ({"contact": "Spark NZ", "amount": 5, "bank_account": "200"}, "not a bank account"),
        ({"contact": "Spark NZ", "amount": 5, "account_code": "999"}, "not a valid code"),
        ({"contact": "Spark NZ", "amount": 5, "date": "31/12/2026"}, "not a date"),
        ({"contact": "Spark NZ", "amount": 5, "reference": "x" * 256}, "255"),
        ({"contact": "Spark NZ", "amount": 5, "line_amount_types": "Gross"}, "LineAmountTypes"),
    ],
)
def test_create_refuses_what_xero_would(sb: XeroSandbox, fields: dict[str, Any], message: str) -> None:
    tenant = sb.tenants[0]["tenant_id"]
    before = len(sb.transaction_ids(tenant))
    with pytest.raises(ActionError, match=message):
        sb.create_transaction(tenant, **fields)
    assert len(sb.transaction_ids(tenant)) == before


def test_created_ids_are_reproducible() -> None:
    def made() -> list[str]:
        sb = XeroSandbox(seed=7, transactions=20, clock=frozen_clock())
        tenant = sb.tenants[0]["tenant_id"]
        return [
            sb.create_transaction(tenant, contact=f"New {n}", amount=n)["BankTransactionID"] for n in (1, 2)
        ]

    assert made() == made()


# --- edit ------------------------------------------------------------------------------------


def test_edit_each_field_moves_updated_date(sb: XeroSandbox, api: Api) -> None:
    tenant = api.tenant_id
    txn = pick(sb, tenant, lines=1, IsReconciled=False)
    txn_id = txn["BankTransactionID"]
    stamps = [ms(txn["UpdatedDateUTC"])]
    for change, check in (
        ({"reference": "REF-NEW"}, lambda t: t["Reference"] == "REF-NEW"),
        ({"contact": "Anchor Milk Supplies"}, lambda t: t["Contact"]["Name"] == "Anchor Milk Supplies"),
        ({"amount": "321.09"}, lambda t: t["Total"] == 321.09),
        ({"date": "2026-02-03"}, lambda t: t["DateString"] == "2026-02-03T00:00:00"),
        ({"description": "Bulk oat milk"}, lambda t: t["LineItems"][0]["Description"] == "Bulk oat milk"),
        ({"reference": ""}, lambda t: "Reference" not in t),
    ):
        sb.clock.advance(1)
        after = sb.edit_transaction(tenant, txn_id, **change)
        assert check(after), change
        check_totals(after)
        stamps.append(ms(after["UpdatedDateUTC"]))
        assert stamps[-1] == now_ms(sb)
        listed = api.get(f"BankTransactions/{txn_id}").json()["BankTransactions"][0]
        assert check(listed)
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    edits = [h for h in sb.history(tenant, txn_id) if h["Changes"] == "Edited"]
    assert len(edits) == 6 and "Total changed from" in edits[2]["Details"]


def test_editing_the_amount_of_several_lines_changes_the_first(sb: XeroSandbox) -> None:
    tenant = sb.tenants[0]["tenant_id"]
    txn = pick(sb, tenant, lines=2, IsReconciled=False, LineAmountTypes="Exclusive")
    first, other = txn["LineItems"]
    target = round(txn["Total"] + 5, 2)
    after = sb.edit_transaction(tenant, txn["BankTransactionID"], amount=str(target))
    assert after["Total"] == target
    assert [line["LineItemID"] for line in after["LineItems"]] == [first["LineItemID"], other["LineItemID"]]
    assert after["LineItems"][1] == other
    check_totals(after)
    smaller = sb.edit_transaction(tenant, txn["BankTransactionID"], amount="0.50")
    assert smaller["Total"] == 0.5
    assert [line["LineItemID"] for line in smaller["LineItems"]] == [first["LineItemID"]]
    check_totals(smaller)


def test_a_reconciled_transaction_keeps_its_amount_and_date(sb: XeroSandbox) -> None:
    tenant = sb.tenants[0]["tenant_id"]
    txn = pick(sb, tenant, IsReconciled=True)
    for change in ({"amount": "1.00"}, {"date": "2026-01-01"}):
        with pytest.raises(ActionError, match="reconciled: unreconcile it first"):
            sb.edit_transaction(tenant, txn["BankTransactionID"], **change)
    after = sb.edit_transaction(tenant, txn["BankTransactionID"], reference="still allowed")
    assert after["Reference"] == "still allowed" and after["Total"] == txn["Total"]


def test_edit_refusals(sb: XeroSandbox) -> None:
    tenant = sb.tenants[0]["tenant_id"]
    rows = sb.transactions(tenant)
    transfer = next(t for t in rows if t["Type"] == "SPEND-TRANSFER")
    deleted = next(t for t in rows if t["Status"] == "DELETED")
    editable = pick(sb, tenant)
    with pytest.raises(ActionError, match="only SPEND and RECEIVE"):
        sb.edit_transaction(tenant, transfer["BankTransactionID"], reference="x")
    with pytest.raises(ActionError, match="status is DELETED"):
        sb.edit_transaction(tenant, deleted["BankTransactionID"], reference="x")
    with pytest.raises(ActionError, match="Nothing to change"):
        sb.edit_transaction(tenant, editable["BankTransactionID"])
    with pytest.raises(ActionError, match="Nothing to change"):
        sb.edit_transaction(tenant, editable["BankTransactionID"], reference=editable.get("Reference") or "")
    with pytest.raises(ActionError, match="description must not be empty"):
        sb.edit_transaction(tenant, editable["BankTransactionID"], description=" ")
    with pytest.raises(KeyError):
        sb.edit_transaction(tenant, "00000000-0000-0000-0000-000000000000", reference="x")
    assert sb.get_transaction(tenant, editable["BankTransactionID"]) == editable


# --- delete, void, reconcile -------------------------------------------------------------------


def test_delete_and_void(sb: XeroSandbox, api: Api) -> None:
    tenant = api.tenant_id
    spend = pick(sb, tenant, IsReconciled=False, Type="SPEND")
    transfer = next(
        t
        for t in sb.transactions(tenant)
        if t["Type"] == "RECEIVE-TRANSFER" and t["Status"] == "AUTHORISED" and not t["IsReconciled"]
    )
    sb.clock.advance(5)
    deleted = sb.delete_transaction(tenant, spend["BankTransactionID"])
    assert deleted["Status"] == "DELETED" and ms(deleted["UpdatedDateUTC"]) == now_ms(sb)
    sb.clock.advance(5)
    voided = sb.void_transaction(tenant, transfer["BankTransactionID"])
    assert voided["Status"] == "VOIDED" and ms(voided["UpdatedDateUTC"]) == now_ms(sb)
    statuses = {r["BankTransactionID"]: r["Status"] for r in all_transactions(api)}
    assert statuses[spend["BankTransactionID"]] == "DELETED"
    assert statuses[transfer["BankTransactionID"]] == "VOIDED"
    assert [h["Changes"] for h in sb.history(tenant, spend["BankTransactionID"])][-1] == "Deleted"
    for again in (sb.delete_transaction, sb.void_transaction):
        with pytest.raises(ActionError, match="status is"):
            again(tenant, spend["BankTransactionID"])
    with pytest.raises(ActionError, match="only SPEND and RECEIVE"):
        sb.delete_transaction(
            tenant,
            next(t for t in sb.transactions(tenant) if t["Type"] == "SPEND-TRANSFER")["BankTransactionID"],
        )
    reconciled = pick(sb, tenant, IsReconciled=True)
    for remove in (sb.delete_transaction, sb.void_transaction):
        with pytest.raises(ActionError, match="reconciled"):
            remove(tenant, reconciled["BankTransactionID"])


def test_reconcile_and_unreconcile(sb: XeroSandbox, api: Api) -> None:
    tenant = api.tenant_id
    txn = pick(sb, tenant, IsReconciled=False)
    txn_id = txn["BankTransactionID"]
    sb.clock.advance(10)
    done = sb.reconcile_transaction(tenant, txn_id)
    assert done["IsReconciled"] is True
    assert done["UpdatedDateUTC"] == txn["UpdatedDateUTC"]  # Xero doesn't promise to touch it
    assert done == {**txn, "IsReconciled": True}
    assert txn_id not in {r["BankTransactionID"] for r in all_transactions(api, where="IsReconciled==false")}
    with pytest.raises(ActionError, match="already reconciled"):
        sb.reconcile_transaction(tenant, txn_id)
    undone = sb.unreconcile_transaction(tenant, txn_id)
    assert undone["IsReconciled"] is False and undone["UpdatedDateUTC"] == txn["UpdatedDateUTC"]
    sb.clock.advance(10)
    touched = sb.reconcile_transaction(tenant, txn_id, touch=True)
    assert ms(touched["UpdatedDateUTC"]) == now_ms(sb) > ms(txn["UpdatedDateUTC"])
    assert [h["Changes"] for h in sb.history(tenant, txn_id)][-3:] == [
        "Reconciled",
        "Unreconciled",
        "Reconciled",
    ]
    deleted = next(t for t in sb.transactions(tenant) if t["Status"] == "DELETED")
    with pytest.raises(ActionError, match="status is DELETED"):
        sb.reconcile_transaction(tenant, deleted["BankTransactionID"])


def test_writes_in_the_same_millisecond_get_distinct_increasing_stamps(sb: XeroSandbox) -> None:
    tenant = sb.tenants[0]["tenant_id"]
    made = [sb.create_transaction(tenant, contact="Spark NZ", amount=n) for n in (1, 2, 3)]
    stamps = [ms(t["UpdatedDateUTC"]) for t in made]
    start = int(START.timestamp() * 1000)
    assert stamps == [start, start + 1, start + 2]


# --- the same over HTTP ------------------------------------------------------------------------


def test_control_routes_over_http(sb: XeroSandbox, api: Api) -> None:
    tenant = api.tenant_id
    base = f"{sb.url}/_sandbox/transactions/{tenant}"
    created = requests.post(
        base,
        json={
            "type": "RECEIVE",
            "contact": "The Daily Grind",
            "amount": "150.00",
            "reference": "INV-9001",
            "description": "Wholesale beans",
            "date": "2026-11-29",
            "bank_account": "090",
            "account_code": "200",
            "line_amount_types": "Exclusive",
            "url": "https://docs.example.com/invoices/9001",
        },
        timeout=5,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body == sb.get_transaction(tenant, body["BankTransactionID"])
    assert (body["Type"], body["Total"], body["Reference"], body["Url"]) == (
        "RECEIVE",
        150.0,
        "INV-9001",
        "https://docs.example.com/invoices/9001",
    )
    txn = f"{base}/{body['BankTransactionID']}"
    sb.clock.advance(1)
    edited = requests.post(
        f"{txn}/edit",
        json={"reference": "INV-9002", "contact": "Queen St Deli", "amount": 99.5, "date": "2026-11-20"},
        timeout=5,
    ).json()
    assert (edited["Reference"], edited["Contact"]["Name"], edited["Total"], edited["DateString"]) == (
        "INV-9002",
        "Queen St Deli",
        99.5,
        "2026-11-20T00:00:00",
    )
    assert ms(edited["UpdatedDateUTC"]) == now_ms(sb)
    sb.clock.advance(1)
    reconciled = requests.post(f"{txn}/reconcile", timeout=5).json()
    assert reconciled["IsReconciled"] is True and reconciled["UpdatedDateUTC"] == edited["UpdatedDateUTC"]
    unreconciled = requests.post(f"{txn}/unreconcile", json={"touch": True}, timeout=5).json()
    assert unreconciled["IsReconciled"] is False and ms(unreconciled["UpdatedDateUTC"]) == now_ms(sb)
    assert requests.post(f"{txn}/void", timeout=5).json()["Status"] == "VOIDED"
    other = pick(sb, tenant, IsReconciled=False, Type="SPEND")
    deleted = requests.post(f"{base}/{other['BankTransactionID']}/delete", json={}, timeout=5)
    assert deleted.status_code == 200 and deleted.json()["Status"] == "DELETED"
    assert sb.get_transaction(tenant, other["BankTransactionID"])["Status"] == "DELETED"


def test_control_route_errors_over_http(sb: XeroSandbox) -> None:
    tenant = sb.tenants[0]["tenant_id"]
    base = f"{sb.url}/_sandbox/transactions/{tenant}"
    txn = pick(sb, tenant)
    cases = [
        (base, {"contact": "Spark NZ"}, 400, "amount is required"),
        (base, {"contact": "Spark NZ", "amount": 5, "colour": "red"}, 400, "Unknown field(s) colour"),
        (base, [1, 2], 400, "JSON object"),
        (f"{sb.url}/_sandbox/transactions/nope", {"contact": "x", "amount": 1}, 404, "unknown tenant"),
        (f"{base}/{txn['BankTransactionID']}/edit", {"amount": "abc"}, 400, "not a number"),
        (f"{base}/{txn['BankTransactionID']}/reconcile", {"touch": "yes"}, 400, "touch must be"),
        (f"{base}/{txn['BankTransactionID']}/delete", {"really": True}, 400, "accepts nothing"),
        (f"{base}/00000000-0000-0000-0000-000000000000/void", {}, 404, "unknown transaction"),
    ]
    for url, payload, status, message in cases:
        response = requests.post(url, json=payload, timeout=5)
        assert response.status_code == status, (url, response.text)
        assert message in response.json()["error"]
    bad_json = requests.post(base, data="{not json", headers={"Content-Type": "application/json"}, timeout=5)
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["error"]
    assert requests.post(f"{base}/{txn['BankTransactionID']}/explode", timeout=5).status_code == 404
    assert requests.get(f"{base}/{txn['BankTransactionID']}/void", timeout=5).status_code == 405
    assert sb.get_transaction(tenant, txn["BankTransactionID"]) == txn


def test_money_in_the_answer_is_what_was_asked(sb: XeroSandbox) -> None:
    tenant = sb.tenants[0]["tenant_id"]
    made = sb.create_transaction(
        tenant, contact="Spark NZ", amount=Decimal("19.99"), line_amount_types="Exclusive"
    )
    assert Decimal(str(made["Total"])) == Decimal("19.99")
