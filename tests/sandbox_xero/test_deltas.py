"""GET /BankTransactions as a mirror reads it: If-Modified-Since with where, page and order.

Every expectation is computed from the sandbox's own rows (``sb.transactions``), not from the
code under test, and every answer comes over HTTP.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.sandbox.xero import XeroSandbox

from .conftest import START, Api, all_transactions, connect, frozen_clock

MS_DATE = re.compile(r"^/Date\((\d+)\+0000\)/$")


def ms(value: str) -> int:
    m = MS_DATE.match(value)
    assert m, value
    return int(m.group(1))


def second(value: str) -> int:
    return ms(value) // 1000


def header(when: datetime) -> dict[str, str]:
    """``If-Modified-Since`` as sync tools send it: naive UTC to the second."""
    return {"If-Modified-Since": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")}


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["BankTransactionID"] for r in rows]


def pages(api: Api, *, size: int, headers: dict[str, str] | None = None, **params: Any) -> list[dict]:
    """Every page of a paged query, checking the pagination block on each."""
    bodies = []
    page = 1
    while True:
        response = api.get(
            "BankTransactions", params={**params, "page": page, "pageSize": size}, headers=headers
        )
        assert response.status_code == 200, response.text
        bodies.append(response.json())
        if page >= bodies[0]["pagination"]["pageCount"]:
            return bodies
        page += 1


def editable(sb: XeroSandbox, tenant: str, n: int, **want: Any) -> list[dict[str, Any]]:
    found = [
        t
        for t in sb.transactions(tenant)
        if t["Type"] in ("SPEND", "RECEIVE")
        and t["Status"] == "AUTHORISED"
        and all(t[k] == v for k, v in want.items())
    ]
    assert len(found) >= n, "the generated data has too few editable rows"
    return found[:n]


# --- If-Modified-Since on its own ------------------------------------------------------------


def test_if_modified_since_returns_rows_changed_after_that_second(sb: XeroSandbox, api: Api) -> None:
    rows = sb.transactions(api.tenant_id)
    seconds = sorted(second(r["UpdatedDateUTC"]) for r in rows)
    cut = seconds[len(seconds) * 3 // 4]
    since = datetime.fromtimestamp(cut, UTC)
    response = api.get("BankTransactions", headers=header(since))
    assert response.status_code == 200
    got = response.json()["BankTransactions"]
    expected = sorted(
        (r for r in rows if second(r["UpdatedDateUTC"]) > cut),
        key=lambda r: (ms(r["UpdatedDateUTC"]), r["BankTransactionID"]),
    )
    assert ids(got) == ids(expected)
    assert 0 < len(got) < len(rows)


def test_updated_dates_carry_milliseconds(sb: XeroSandbox, api: Api) -> None:
    rows = all_transactions(api)
    assert all(MS_DATE.match(r["UpdatedDateUTC"]) for r in rows)
    assert sum(ms(r["UpdatedDateUTC"]) % 1000 != 0 for r in rows) > len(rows) * 0.9


def test_has_attachments_on_every_row(sb: XeroSandbox, api: Api) -> None:
    for rows in (
        all_transactions(api),
        api.get("BankTransactions", params={"page": 1}).json()["BankTransactions"],
    ):
        assert all(isinstance(r["HasAttachments"], bool) for r in rows)
    assert any(r["HasAttachments"] for r in all_transactions(api))


def test_a_change_in_the_same_second_as_the_header_is_not_returned(sb: XeroSandbox, api: Api) -> None:
    first, second_txn = editable(sb, api.tenant_id, 2)
    sb.clock.advance(0.2)
    a = sb.edit_transaction(api.tenant_id, first["BankTransactionID"], reference="first")
    sb.clock.advance(0.5)
    b = sb.edit_transaction(api.tenant_id, second_txn["BankTransactionID"], reference="second")
    assert ms(a["UpdatedDateUTC"]) % 1000 == 200 and ms(b["UpdatedDateUTC"]) % 1000 == 700
    assert second(a["UpdatedDateUTC"]) == second(b["UpdatedDateUTC"]) == int(START.timestamp())

    def delta(value: str) -> list[str]:
        response = api.get("BankTransactions", headers={"If-Modified-Since": value})
        assert response.status_code == 200
        return ids(response.json()["BankTransactions"])

    # A client that bookmarked the second of its last row ("a", 09:00:00.200) and asks without
    # an overlap misses "b", changed later in that same second: the sandbox is strict on purpose.
    assert delta("2026-11-30T09:00:00") == []
    assert delta("2026-11-30T09:00:00.100") == []  # a fraction is dropped, not rounded up or kept
    # With a one-second overlap both come back (and the client upserts by id).
    assert delta("2026-11-30T08:59:59") == [first["BankTransactionID"], second_txn["BankTransactionID"]]


@pytest.mark.parametrize(
    "value",
    ["2026-11-30T08:59:59", "2026-11-30T08:59:59Z", "2026-11-30T09:59:59+01:00", "2026-11-30T00:59:59-08:00"],
)
def test_the_header_is_utc_unless_it_says_otherwise(sb: XeroSandbox, api: Api, value: str) -> None:
    (txn,) = editable(sb, api.tenant_id, 1)
    sb.edit_transaction(api.tenant_id, txn["BankTransactionID"], reference="changed")
    got = api.get("BankTransactions", headers={"If-Modified-Since": value}).json()["BankTransactions"]
    assert ids(got) == [txn["BankTransactionID"]]


def test_an_unreadable_header_is_ignored(api: Api) -> None:
    everything = all_transactions(api)
    for value in ("/Date(1476316800000+0000)/", "yesterday", "Tue, 01 Dec 2026 09:00:00 GMT"):
        got = api.get("BankTransactions", headers={"If-Modified-Since": value}).json()["BankTransactions"]
        assert len(got) == len(everything)


# --- combined with where, page and order -----------------------------------------------------


def _changed(sb: XeroSandbox, tenant: str) -> list[str]:
    """Six changes a minute apart: creates, edits, a delete and a void; their ids in order."""
    spend = editable(sb, tenant, 3, IsReconciled=False, Type="SPEND")
    receive = editable(sb, tenant, 1, IsReconciled=False, Type="RECEIVE")
    made = []
    for step in (
        lambda: sb.edit_transaction(tenant, spend[0]["BankTransactionID"], reference="edited"),
        lambda: sb.create_transaction(tenant, contact="Meridian Energy", amount="88.10"),
        lambda: sb.delete_transaction(tenant, spend[1]["BankTransactionID"]),
        lambda: sb.void_transaction(tenant, receive[0]["BankTransactionID"]),
        lambda: sb.create_transaction(tenant, type="RECEIVE", contact="Cash Sales", amount=40),
        lambda: sb.edit_transaction(tenant, spend[2]["BankTransactionID"], amount="12.34"),
    ):
        sb.clock.advance(60)
        made.append(step()["BankTransactionID"])
    return made


def test_if_modified_since_with_where_page_and_order(sb: XeroSandbox, api: Api) -> None:
    since = sb.clock.now()
    made = _changed(sb, api.tenant_id)
    rows = {r["BankTransactionID"]: r for r in sb.transactions(api.tenant_id)}
    spend_made = [i for i in made if rows[i]["Type"] == "SPEND"]
    bodies = pages(api, size=2, headers=header(since), where='Type=="SPEND"', order="UpdatedDateUTC ASC")
    assert [b["pagination"] for b in bodies] == [
        {"page": p, "pageSize": 2, "pageCount": 2, "itemCount": 4} for p in (1, 2)
    ]
    got = [r for b in bodies for r in b["BankTransactions"]]
    assert ids(got) == spend_made
    assert all(r["LineItems"] for r in got)  # paged: line items included
    newest_first = api.get(
        "BankTransactions", params={"order": "UpdatedDateUTC DESC"}, headers=header(since)
    ).json()["BankTransactions"]
    assert ids(newest_first) == made[::-1]
    assert all(r["LineItems"] == [] for r in newest_first)  # no page: summarised


def test_deleted_and_voided_come_back_on_a_delta_with_their_status(sb: XeroSandbox, api: Api) -> None:
    since = sb.clock.now()
    made = _changed(sb, api.tenant_id)
    got = {
        r["BankTransactionID"]: r["Status"]
        for r in api.get("BankTransactions", headers=header(since)).json()["BankTransactions"]
    }
    assert list(got) == made
    assert got[made[2]] == "DELETED" and got[made[3]] == "VOIDED"
    authorised = api.get(
        "BankTransactions", params={"where": 'Status=="AUTHORISED"'}, headers=header(since)
    ).json()["BankTransactions"]
    assert ids(authorised) == [made[0], made[1], made[4], made[5]]


def test_lists_without_the_header_include_deleted_and_voided_too(sb: XeroSandbox, api: Api) -> None:
    """Xero returns them (Xero staff on VOIDED; sync tools see DELETED) unless ``where`` excludes them."""
    statuses = {r["Status"] for r in all_transactions(api)}
    assert statuses == {"AUTHORISED", "DELETED", "VOIDED"}
    paged = [r for b in pages(api, size=100) for r in b["BankTransactions"]]
    assert {r["Status"] for r in paged} == statuses
    assert {r["Status"] for r in all_transactions(api, where='Status=="AUTHORISED"')} == {"AUTHORISED"}
    assert {r["Status"] for r in all_transactions(api, where='Status!="DELETED"')} == {"AUTHORISED", "VOIDED"}


@pytest.mark.parametrize("size", [13, 100, 1000])
@pytest.mark.parametrize(
    ("where", "order", "with_header"),
    [
        (None, None, False),
        (None, "UpdatedDateUTC ASC", True),
        ("IsReconciled==false", None, False),
        ('Type=="SPEND" AND IsReconciled==false', "Date DESC", True),
        ("Date>=DateTime(2026,6,1)", "Date", True),
        ('Status=="AUTHORISED"', "Total DESC", False),
    ],
)
def test_pagination_numbers_under_every_combination(
    sb: XeroSandbox, api: Api, size: int, where: str | None, order: str | None, with_header: bool
) -> None:
    rows = sb.transactions(api.tenant_id)
    cut = sorted(second(r["UpdatedDateUTC"]) for r in rows)[len(rows) // 3]
    expected = [
        r for r in rows if (not with_header or second(r["UpdatedDateUTC"]) > cut) and _matches(where, r)
    ]
    params = {k: v for k, v in (("where", where), ("order", order)) if v}
    headers = header(datetime.fromtimestamp(cut, UTC)) if with_header else None
    bodies = pages(api, size=size, headers=headers, **params)
    count = len(expected)
    for number, body in enumerate(bodies, start=1):
        assert body["pagination"] == {
            "page": number,
            "pageSize": size,
            "pageCount": math.ceil(count / size),
            "itemCount": count,
        }
    got = [r for b in bodies for r in b["BankTransactions"]]
    assert sorted(ids(got)) == sorted(ids(expected))
    assert len(got) == count
    past = api.get(
        "BankTransactions", params={**params, "page": len(bodies) + 1, "pageSize": size}, headers=headers
    ).json()
    assert past["BankTransactions"] == [] and past["pagination"]["itemCount"] == count


def _matches(where: str | None, r: dict[str, Any]) -> bool:
    """The test's own reading of the few ``where`` expressions above."""
    if where is None:
        return True
    checks = {
        "IsReconciled==false": lambda: r["IsReconciled"] is False,
        'Type=="SPEND" AND IsReconciled==false': lambda: r["Type"] == "SPEND" and not r["IsReconciled"],
        "Date>=DateTime(2026,6,1)": lambda: r["DateString"] >= "2026-06-01",
        'Status=="AUTHORISED"': lambda: r["Status"] == "AUTHORISED",
    }
    return checks[where]()


def test_default_and_explicit_updated_order_agree(api: Api) -> None:
    plain = ids(all_transactions(api))
    assert ids(all_transactions(api, order="UpdatedDateUTC ASC")) == plain
    assert ids(all_transactions(api, order="UpdatedDateUTC, BankTransactionID")) == plain
    desc = all_transactions(api, order="UpdatedDateUTC DESC")
    keys = [(-ms(r["UpdatedDateUTC"]), r["BankTransactionID"]) for r in desc]
    assert keys == sorted(keys)


# --- what a write between two pages does -------------------------------------------------------


def test_a_write_between_two_pages_of_a_where_query_is_visible(sb: XeroSandbox, api: Api) -> None:
    query = {"where": "IsReconciled==false", "order": "Date", "pageSize": 20}
    first = api.get("BankTransactions", params={**query, "page": 1}).json()
    count = first["pagination"]["itemCount"]
    second_page = api.get("BankTransactions", params={**query, "page": 2}).json()["BankTransactions"]
    editable_rows = [
        r for r in second_page if r["Type"] in ("SPEND", "RECEIVE") and r["Status"] == "AUTHORISED"
    ]
    renamed, reconciled = editable_rows[0], editable_rows[1]
    sb.edit_transaction(api.tenant_id, renamed["BankTransactionID"], reference="renamed between pages")
    sb.reconcile_transaction(api.tenant_id, reconciled["BankTransactionID"])
    again = api.get("BankTransactions", params={**query, "page": 2}).json()
    assert again["pagination"]["itemCount"] == count - 1
    by_id = {r["BankTransactionID"]: r for r in again["BankTransactions"]}
    assert by_id[renamed["BankTransactionID"]]["Reference"] == "renamed between pages"
    assert reconciled["BankTransactionID"] not in by_id
    # and a create that matches shows up in the count at once
    sb.create_transaction(api.tenant_id, contact="Spark NZ", amount=10, date="2026-01-01")
    third = api.get("BankTransactions", params={**query, "page": 1}).json()
    assert third["pagination"]["itemCount"] == count


def test_a_write_during_a_first_sync_moves_the_row_to_the_end(sb: XeroSandbox, api: Api) -> None:
    query = {"order": "UpdatedDateUTC ASC", "pageSize": 100}
    page1 = api.get("BankTransactions", params={**query, "page": 1}).json()["BankTransactions"]
    target = next(r for r in page1 if r["Type"] in ("SPEND", "RECEIVE") and r["Status"] == "AUTHORISED")
    sb.clock.advance(1)
    sb.edit_transaction(api.tenant_id, target["BankTransactionID"], reference="edited mid-sync")
    last = api.get("BankTransactions", params={**query, "page": 3}).json()
    assert last["pagination"]["itemCount"] == 300
    assert last["BankTransactions"][-1]["BankTransactionID"] == target["BankTransactionID"]
    assert last["BankTransactions"][-1]["Reference"] == "edited mid-sync"
    page1_again = ids(api.get("BankTransactions", params={**query, "page": 1}).json()["BankTransactions"])
    assert target["BankTransactionID"] not in page1_again


# --- reconciling without moving UpdatedDateUTC --------------------------------------------------


def test_reconciling_is_invisible_to_a_delta_but_not_to_a_sweep(sb: XeroSandbox, api: Api) -> None:
    (txn,) = editable(sb, api.tenant_id, 1, IsReconciled=False)
    txn_id = txn["BankTransactionID"]
    since = sb.clock.now() - timedelta(seconds=1)
    sb.clock.advance(30)
    after = sb.reconcile_transaction(api.tenant_id, txn_id)
    assert after["IsReconciled"] is True
    assert after["UpdatedDateUTC"] == txn["UpdatedDateUTC"]
    assert api.get("BankTransactions", headers=header(since)).json()["BankTransactions"] == []
    sweep = all_transactions(api, where="IsReconciled==false")
    assert txn_id not in ids(sweep)
    # the option to touch it: now a delta sees it
    sb.clock.advance(30)
    touched = sb.unreconcile_transaction(api.tenant_id, txn_id, touch=True)
    assert ms(touched["UpdatedDateUTC"]) == int(sb.clock.now().timestamp() * 1000)
    delta = api.get("BankTransactions", headers=header(since)).json()["BankTransactions"]
    assert [(r["BankTransactionID"], r["IsReconciled"]) for r in delta] == [(txn_id, False)]


# --- the high-volume rule with the new ways to narrow ----------------------------------------


def test_high_volume_rule_counts_what_optimised_terms_leave() -> None:
    sb = XeroSandbox(
        transactions=300, organisations=1, clock=frozen_clock(), high_volume_threshold=100
    ).start()
    try:
        api = Api(sb, connect(sb)["access_token"], sb.tenants[0]["tenant_id"])
        sweep = {"where": "IsReconciled==false", "page": 1}
        assert api.get("BankTransactions", params=sweep).status_code == 400
        rows = sb.transactions(api.tenant_id)
        days = sorted(r["DateString"][:10] for r in rows)
        y, m, d = (int(p) for p in days[-60].split("-"))
        narrow = {"where": f"Date>=DateTime({y},{m},{d}) AND IsReconciled==false", "page": 1}
        ok = api.get("BankTransactions", params=narrow)
        assert ok.status_code == 200, ok.text
        expected = [r for r in rows if r["DateString"][:10] >= days[-60] and not r["IsReconciled"]]
        assert ok.json()["pagination"]["itemCount"] == len(expected)
        # If-Modified-Since narrows too: a delta sweep of the last few changes is fine
        seconds = sorted(second(r["UpdatedDateUTC"]) for r in rows)
        recent = header(datetime.fromtimestamp(seconds[-50], UTC))
        assert api.get("BankTransactions", params=sweep, headers=recent).status_code == 200
        # and a paged first sync of everything is allowed however big the organisation is
        assert api.get("BankTransactions", params={"page": 1, "pageSize": 1000}).status_code == 200
    finally:
        sb.stop()
