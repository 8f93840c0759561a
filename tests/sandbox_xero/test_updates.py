"""POST /BankTransactions/{id}, idempotency keys and History."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.sandbox.xero import XeroSandbox

from .conftest import Api


def _find(sb: XeroSandbox, tenant: str, **want: Any) -> dict[str, Any]:
    """The first stored transaction matching ``want`` (with a ``lines`` count if given)."""
    lines = want.pop("lines", None)
    tracked = want.pop("tracked", False)
    for txn_id in sb.transaction_ids(tenant):
        txn = sb.get_transaction(tenant, txn_id)
        if all(txn.get(k) == v for k, v in want.items()) and (
            lines is None or len(txn["LineItems"]) == lines
        ):
            if tracked and not any(line["Tracking"] for line in txn["LineItems"]):
                continue
            return txn
    raise AssertionError(f"no transaction like {want}")


def _editable(sb: XeroSandbox, tenant: str, **extra: Any) -> dict[str, Any]:
    return _find(sb, tenant, Type="SPEND", Status="AUTHORISED", **extra)


def _fresh_lines(txn: dict[str, Any]) -> list[dict[str, Any]]:
    """What a careful client re-sends: every line with its id, amounts, account, tax and tracking."""
    return [
        {
            "LineItemID": line["LineItemID"],
            "Description": line["Description"],
            "Quantity": line["Quantity"],
            "UnitAmount": line["UnitAmount"],
            "AccountCode": line["AccountCode"],
            "TaxType": line["TaxType"],
            "Tracking": [{"Name": t["Name"], "Option": t["Option"]} for t in line["Tracking"]],
        }
        for line in txn["LineItems"]
    ]


def _update(api: Api, txn: dict[str, Any], headers: dict[str, str] | None = None, **fields: Any):
    body = {"BankTransactions": [{"BankTransactionID": txn["BankTransactionID"], **fields}]}
    return api.post(f"BankTransactions/{txn['BankTransactionID']}", body, headers=headers)


def test_reference_and_url_change_and_nothing_else(sb: XeroSandbox, api: Api) -> None:
    before = _editable(sb, api.tenant_id)
    sb.clock.advance(5)
    response = _update(api, before, Reference="ZP-4471", Url="https://docs.example.com/r/1")
    assert response.status_code == 200
    (returned,) = response.json()["BankTransactions"]
    assert returned["Reference"] == "ZP-4471" and returned["Url"] == "https://docs.example.com/r/1"
    after = sb.get_transaction(api.tenant_id, before["BankTransactionID"])
    assert after["Reference"] == "ZP-4471"
    assert after["LineItems"] == before["LineItems"]
    assert after["IsReconciled"] == before["IsReconciled"]
    assert (after["Total"], after["Date"], after["Contact"]) == (
        before["Total"],
        before["Date"],
        before["Contact"],
    )
    assert after["UpdatedDateUTC"] > before["UpdatedDateUTC"]


def test_bare_object_body_is_accepted(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id)
    response = api.post(f"BankTransactions/{txn['BankTransactionID']}", {"Reference": "bare"})
    assert response.status_code == 200
    assert sb.get_transaction(api.tenant_id, txn["BankTransactionID"])["Reference"] == "bare"


def test_absent_fields_are_left_alone(sb: XeroSandbox, api: Api) -> None:
    txn = _find(sb, api.tenant_id, Type="RECEIVE", Status="AUTHORISED", IsReconciled=True)
    assert txn.get("Reference")
    response = _update(api, txn, Url="https://example.com/x")
    assert response.status_code == 200
    after = sb.get_transaction(api.tenant_id, txn["BankTransactionID"])
    assert after["Reference"] == txn["Reference"]
    assert after["IsReconciled"] is True


def test_is_reconciled_can_be_set_explicitly(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id, IsReconciled=False)
    assert _update(api, txn, IsReconciled=True).status_code == 200
    assert sb.get_transaction(api.tenant_id, txn["BankTransactionID"])["IsReconciled"] is True


def test_updated_date_moves_on_every_change(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id)
    stamps = [txn["UpdatedDateUTC"]]
    for n in range(3):
        sb.clock.advance(1)
        body = _update(api, txn, Reference=f"r{n}").json()["BankTransactions"][0]
        stamps.append(body["UpdatedDateUTC"])
    assert len(set(stamps)) == 4
    assert stamps == sorted(stamps, key=lambda s: int(s[6:-7]))


def test_line_items_replace_the_set(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id, lines=2, IsReconciled=False)
    keep, drop = txn["LineItems"]
    lines = [
        {**_fresh_lines(txn)[0], "Description": "Kept and renamed"},
        {
            "Description": "Brand new line",
            "Quantity": 2,
            "UnitAmount": 10.0,
            "AccountCode": "429",
            "TaxType": "INPUT2",
        },
    ]
    response = _update(api, txn, LineItems=lines, LineAmountTypes="Exclusive")
    assert response.status_code == 200, response.text
    after = sb.get_transaction(api.tenant_id, txn["BankTransactionID"])
    ids = [line["LineItemID"] for line in after["LineItems"]]
    assert keep["LineItemID"] in ids and drop["LineItemID"] not in ids
    assert len(ids) == 2
    new = next(line for line in after["LineItems"] if line["LineItemID"] != keep["LineItemID"])
    assert new["Description"] == "Brand new line" and new["LineAmount"] == 20.0
    assert new["TaxAmount"] == 3.0  # 15 % on top (Exclusive)
    renamed = next(line for line in after["LineItems"] if line["LineItemID"] == keep["LineItemID"])
    assert renamed["Description"] == "Kept and renamed"
    assert after["SubTotal"] == round(keep["LineAmount"] + 20.0, 2)
    assert after["Total"] == round(after["SubTotal"] + after["TotalTax"], 2)


def test_unknown_line_item_id_is_rejected_and_nothing_changes(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id)
    lines = _fresh_lines(txn)
    lines[0]["LineItemID"] = "00000000-0000-0000-0000-000000000000"
    response = _update(api, txn, LineItems=lines, Reference="should not stick")
    assert response.status_code == 400
    body = response.json()
    assert body["Type"] == "ValidationException"
    assert body["Elements"][0]["BankTransactionID"] == txn["BankTransactionID"]
    assert "LineItemID" in body["Elements"][0]["ValidationErrors"][0]["Message"]
    assert sb.get_transaction(api.tenant_id, txn["BankTransactionID"]) == txn


def test_totals_that_disagree_with_the_lines_are_rejected(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id)
    response = _update(api, txn, LineItems=_fresh_lines(txn), Total=txn["Total"] + 1)
    assert response.status_code == 400
    messages = [e["Message"] for e in response.json()["Elements"][0]["ValidationErrors"]]
    assert messages == ["The document total does not equal the total of the lines."]


def test_echoed_totals_that_agree_are_fine(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id)
    response = _update(
        api,
        txn,
        LineItems=_fresh_lines(txn),
        SubTotal=txn["SubTotal"],
        TotalTax=txn["TotalTax"],
        Total=txn["Total"],
    )
    assert response.status_code == 200, response.text


def test_changing_an_amount_without_fixing_totals_fails_p7(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id, lines=1, IsReconciled=False)
    lines = _fresh_lines(txn)
    lines[0]["UnitAmount"] = lines[0]["UnitAmount"] + 5
    assert _update(api, txn, LineItems=lines, Total=txn["Total"]).status_code == 400
    ok = _update(api, txn, LineItems=lines)
    assert ok.status_code == 200
    assert ok.json()["BankTransactions"][0]["Total"] != txn["Total"]


def test_tracking_left_out_of_a_line_is_removed(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id, tracked=True)
    careful = _update(api, txn, LineItems=_fresh_lines(txn))
    assert careful.status_code == 200
    assert sb.get_transaction(api.tenant_id, txn["BankTransactionID"])["LineItems"] == txn["LineItems"]
    careless = [{k: v for k, v in line.items() if k != "Tracking"} for line in _fresh_lines(txn)]
    assert _update(api, txn, LineItems=careless).status_code == 200
    after = sb.get_transaction(api.tenant_id, txn["BankTransactionID"])
    assert all(line["Tracking"] == [] for line in after["LineItems"])


def test_invalid_tracking_option_is_rejected(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id)
    lines = _fresh_lines(txn)
    lines[0]["Tracking"] = [{"Name": "Region", "Option": "Atlantis"}]
    response = _update(api, txn, LineItems=lines)
    assert response.status_code == 400
    assert "Atlantis" in response.text


@pytest.mark.parametrize("kind", ["SPEND-TRANSFER", "RECEIVE-OVERPAYMENT", "SPEND-PREPAYMENT"])
def test_only_spend_and_receive_can_be_updated(sb: XeroSandbox, api: Api, kind: str) -> None:
    txn = _find(sb, api.tenant_id, Type=kind)
    response = _update(api, txn, Reference="nope")
    assert response.status_code == 400
    assert "Only SPEND and RECEIVE" in response.json()["Elements"][0]["ValidationErrors"][0]["Message"]


def test_deleted_transactions_cannot_be_edited(sb: XeroSandbox, api: Api) -> None:
    txn = _find(sb, api.tenant_id, Status="DELETED")
    assert _update(api, txn, Reference="x").status_code == 400


def test_type_cannot_change(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id)
    assert _update(api, txn, Type="RECEIVE").status_code == 400


def test_invalid_reference_and_url_are_rejected(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id)
    assert _update(api, txn, Reference="x" * 256).status_code == 400
    assert _update(api, txn, Url="javascript:alert(1)").status_code == 400
    assert _update(api, txn, Url="").status_code == 200  # clearing is fine


def test_reconciled_amount_cannot_change(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id, IsReconciled=True, lines=1)
    lines = _fresh_lines(txn)
    lines[0]["UnitAmount"] += 1
    response = _update(api, txn, LineItems=lines)
    assert response.status_code == 400
    assert "reconciled" in response.text
    assert _update(api, txn, LineItems=_fresh_lines(txn), Reference="fine").status_code == 200


def test_body_id_must_match_the_url(sb: XeroSandbox, api: Api) -> None:
    a = _editable(sb, api.tenant_id)
    response = api.post(
        f"BankTransactions/{a['BankTransactionID']}",
        {"BankTransactions": [{"BankTransactionID": "00000000-0000-0000-0000-000000000000"}]},
    )
    assert response.status_code == 400


def test_update_unknown_transaction_is_404(api: Api) -> None:
    response = api.post("BankTransactions/00000000-0000-0000-0000-000000000000", {"Reference": "x"})
    assert response.status_code == 404


def test_delete_by_status(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id, IsReconciled=False)
    response = _update(api, txn, Status="DELETED")
    assert response.status_code == 200
    assert sb.get_transaction(api.tenant_id, txn["BankTransactionID"])["Status"] == "DELETED"


def test_not_json_is_a_validation_error(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id)
    response = api.post(
        f"BankTransactions/{txn['BankTransactionID']}", None, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


# --- idempotency ----------------------------------------------------------------------------


def test_idempotency_key_replays_the_first_answer(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id)
    key = {"Idempotency-Key": "edit-1"}
    first = _update(api, txn, headers=key, Reference="once")
    sb.clock.advance(2)
    sb.modify_transaction(api.tenant_id, txn["BankTransactionID"], Reference="changed meanwhile in Xero")
    second = _update(api, txn, headers=key, Reference="once")
    assert second.status_code == 200
    assert second.json()["BankTransactions"] == first.json()["BankTransactions"]
    stored = sb.get_transaction(api.tenant_id, txn["BankTransactionID"])
    assert stored["Reference"] == "changed meanwhile in Xero"  # the replay did not write again


def test_idempotency_key_with_a_different_body_is_rejected(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id)
    key = {"Idempotency-Key": "edit-2"}
    assert _update(api, txn, headers=key, Reference="one").status_code == 200
    clash = _update(api, txn, headers=key, Reference="two")
    assert clash.status_code == 400
    assert "Idempotency" in clash.text
    assert sb.get_transaction(api.tenant_id, txn["BankTransactionID"])["Reference"] == "one"


def test_idempotency_key_is_forgotten_after_a_while(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id)
    key = {"Idempotency-Key": "edit-3"}
    assert _update(api, txn, headers=key, Reference="one").status_code == 200
    sb.clock.advance(7 * 60)
    assert _update(api, txn, headers=key, Reference="two").status_code == 200


def test_idempotency_key_longer_than_128_is_rejected(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id)
    assert _update(api, txn, headers={"Idempotency-Key": "k" * 129}, Reference="x").status_code == 400
    assert _update(api, txn, headers={"Idempotency-Key": "k" * 128}, Reference="x").status_code == 200


# --- history --------------------------------------------------------------------------------


def test_history_records_edits_and_notes(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id)
    txn_id = txn["BankTransactionID"]
    initial = api.get(f"BankTransactions/{txn_id}/History").json()["HistoryRecords"]
    assert [r["Changes"] for r in initial] == ["Created"]
    _update(api, txn, Reference="new-ref")
    note = api.put(
        f"BankTransactions/{txn_id}/History",
        {"HistoryRecords": [{"Details": "Reference fixed from Slack by @aroha"}]},
    )
    assert note.status_code == 200
    created = note.json()["HistoryRecords"][0]
    assert created["Details"] == "Reference fixed from Slack by @aroha" and created["DateUTC"].startswith(
        "/Date("
    )
    records = api.get(f"BankTransactions/{txn_id}/History").json()["HistoryRecords"]
    assert [r["Changes"] for r in records] == ["Created", "Edited", "Note"]
    assert "new-ref" in records[1]["Details"]
    assert records[2]["User"] and records[2]["DateUTCString"]
    assert sb.history(api.tenant_id, txn_id) == records


def test_history_note_needs_details(sb: XeroSandbox, api: Api) -> None:
    txn_id = _editable(sb, api.tenant_id)["BankTransactionID"]
    assert (
        api.put(f"BankTransactions/{txn_id}/History", {"HistoryRecords": [{"Details": ""}]}).status_code
        == 400
    )
    assert api.put(f"BankTransactions/{txn_id}/History", {"Nope": []}).status_code == 400


def test_history_note_with_idempotency_key_is_added_once(sb: XeroSandbox, api: Api) -> None:
    txn_id = _editable(sb, api.tenant_id)["BankTransactionID"]
    body = {"HistoryRecords": [{"Details": "once"}]}
    for _ in range(2):
        assert (
            api.put(f"BankTransactions/{txn_id}/History", body, headers={"Idempotency-Key": "n1"}).status_code
            == 200
        )
    assert [r["Details"] for r in sb.history(api.tenant_id, txn_id)].count("once") == 1


def test_modify_transaction_writes_history_as_a_person(sb: XeroSandbox, api: Api) -> None:
    txn_id = _editable(sb, api.tenant_id)["BankTransactionID"]
    sb.modify_transaction(api.tenant_id, txn_id, Reference="typed in Xero")
    last = sb.history(api.tenant_id, txn_id)[-1]
    assert last["Changes"] == "Edited" and last["User"] == sb.user["name"]


def test_parallel_updates_are_all_applied_one_at_a_time(sb: XeroSandbox, api: Api) -> None:
    txn = _editable(sb, api.tenant_id)
    path = f"BankTransactions/{txn['BankTransactionID']}"
    with ThreadPoolExecutor(max_workers=5) as pool:
        statuses = list(
            pool.map(lambda n: api.post(path, {"Reference": f"parallel-{n}"}).status_code, range(40))
        )
    assert statuses == [200] * 40
    edits = [h for h in sb.history(api.tenant_id, txn["BankTransactionID"]) if h["Changes"] == "Edited"]
    assert len(edits) == 40
    final = sb.get_transaction(api.tenant_id, txn["BankTransactionID"])
    assert final["Reference"].startswith("parallel-")
    assert final["LineItems"] == txn["LineItems"]
    assert int(final["UpdatedDateUTC"][6:-7]) >= int(txn["UpdatedDateUTC"][6:-7]) + 40
