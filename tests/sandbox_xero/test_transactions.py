"""GET /BankTransactions and /BankTransactions/{id}: paging, order, line items, deltas, limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bot.sandbox.xero import XeroSandbox

from .conftest import Api, all_transactions, connect, frozen_clock

MS_DATE = re.compile(r"^/Date\((\d+)\+0000\)/$")


def _ms(value: str) -> int:
    m = MS_DATE.match(value)
    assert m, value
    return int(m.group(1))


def test_list_uses_xeros_envelope_and_date_formats(api: Api) -> None:
    response = api.get("BankTransactions")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["Status"] == "OK" and body["Id"] and body["ProviderName"]
    assert re.match(r"^/Date\(\d+\)/$", body["DateTimeUTC"])
    row = body["BankTransactions"][0]
    day = datetime.fromtimestamp(_ms(row["Date"]) / 1000, UTC)
    assert row["DateString"] == day.strftime("%Y-%m-%dT00:00:00")
    _ms(row["UpdatedDateUTC"])


def test_without_accept_json_the_answer_is_xml(sb: XeroSandbox, api: Api) -> None:
    response = api.get("BankTransactions", params={"page": 1, "pageSize": 1}, headers={"Accept": "*/*"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    assert "<BankTransactions><BankTransaction>" in response.text


def test_without_page_all_rows_come_summarised(sb: XeroSandbox, api: Api) -> None:
    body = api.get("BankTransactions").json()
    assert len(body["BankTransactions"]) == 300
    assert "pagination" not in body
    assert all(r["LineItems"] == [] for r in body["BankTransactions"])


def test_with_page_rows_carry_line_items_and_pagination(api: Api) -> None:
    body = api.get("BankTransactions", params={"page": 1}).json()
    assert body["pagination"] == {"page": 1, "pageSize": 100, "pageCount": 3, "itemCount": 300}
    rows = body["BankTransactions"]
    assert len(rows) == 100
    assert all(r["LineItems"] for r in rows)
    line = rows[0]["LineItems"][0]
    assert {
        "LineItemID",
        "Description",
        "Quantity",
        "UnitAmount",
        "LineAmount",
        "AccountCode",
        "TaxType",
        "TaxAmount",
        "Tracking",
    } <= line.keys()


def test_pages_cover_every_row_once(api: Api) -> None:
    seen: list[str] = []
    page = 1
    while True:
        body = api.get("BankTransactions", params={"page": page, "pageSize": 70}).json()
        seen += [r["BankTransactionID"] for r in body["BankTransactions"]]
        if page >= body["pagination"]["pageCount"]:
            break
        page += 1
    assert page == 5
    assert len(seen) == len(set(seen)) == 300


def test_page_size_is_clamped(api: Api) -> None:
    big = api.get("BankTransactions", params={"page": 1, "pageSize": 5000}).json()
    assert big["pagination"]["pageSize"] == 1000
    assert len(big["BankTransactions"]) == 300
    small = api.get("BankTransactions", params={"page": 1, "pageSize": 0}).json()
    assert small["pagination"]["pageSize"] == 1
    assert len(small["BankTransactions"]) == 1


def test_page_past_the_end_is_empty(api: Api) -> None:
    body = api.get("BankTransactions", params={"page": 9}).json()
    assert body["BankTransactions"] == []
    assert body["pagination"]["itemCount"] == 300


def test_non_numeric_page_is_a_validation_error(api: Api) -> None:
    response = api.get("BankTransactions", params={"page": "two"})
    assert response.status_code == 400
    assert response.json()["Type"] == "ValidationException"


def test_default_order_is_updated_date_then_id(api: Api) -> None:
    rows = all_transactions(api)
    keys = [(_ms(r["UpdatedDateUTC"]), r["BankTransactionID"]) for r in rows]
    assert keys == sorted(keys)


def test_order_by_date_desc_then_id(api: Api) -> None:
    rows = all_transactions(api, order="Date DESC, BankTransactionID")
    keys = [(-_ms(r["Date"]), r["BankTransactionID"]) for r in rows]
    assert keys == sorted(keys)
    ascending = all_transactions(api, order="Date")
    dates = [_ms(r["Date"]) for r in ascending]
    assert dates == sorted(dates)


def test_order_by_unknown_field_is_rejected(api: Api) -> None:
    assert api.get("BankTransactions", params={"order": "Colour DESC"}).status_code == 400


def test_if_modified_since_returns_only_later_changes(sb: XeroSandbox, api: Api) -> None:
    rows = all_transactions(api)
    cut = _ms(rows[-10]["UpdatedDateUTC"]) // 1000  # the header is read to the second
    since = datetime.fromtimestamp(cut, UTC)
    later = api.get("BankTransactions", headers={"If-Modified-Since": since.isoformat()}).json()[
        "BankTransactions"
    ]
    assert later and all(_ms(r["UpdatedDateUTC"]) // 1000 > cut for r in later)
    assert {r["BankTransactionID"] for r in later} == {
        r["BankTransactionID"] for r in rows if _ms(r["UpdatedDateUTC"]) // 1000 > cut
    }
    # an edit made now shows up in the next delta
    target = rows[0]["BankTransactionID"]
    sb.clock.advance(60)
    sb.modify_transaction(api.tenant_id, target, Reference="changed in Xero")
    now = sb.clock.now() - timedelta(seconds=1)
    delta = api.get("BankTransactions", headers={"If-Modified-Since": now.isoformat()}).json()[
        "BankTransactions"
    ]
    assert [r["BankTransactionID"] for r in delta] == [target]


def test_if_modified_since_accepts_offsets_and_ignores_garbage(api: Api) -> None:
    everything = all_transactions(api)
    future = api.get("BankTransactions", headers={"If-Modified-Since": "2030-01-01T00:00:00-08:00"})
    assert future.json()["BankTransactions"] == []
    garbage = api.get("BankTransactions", headers={"If-Modified-Since": "/Date(1476316800000+0000)/"})
    assert len(garbage.json()["BankTransactions"]) == len(everything)


def test_get_one_transaction_with_lines(sb: XeroSandbox, api: Api) -> None:
    txn_id = sb.transaction_ids(api.tenant_id)[5]
    response = api.get(f"BankTransactions/{txn_id}")
    assert response.status_code == 200
    (row,) = response.json()["BankTransactions"]
    assert row["BankTransactionID"] == txn_id
    assert row["LineItems"]
    assert row == {**sb.get_transaction(api.tenant_id, txn_id), "LineItems": row["LineItems"]}


def test_get_unknown_transaction_is_404_plain_text(api: Api) -> None:
    response = api.get("BankTransactions/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.text == "The resource you're looking for cannot be found"


def test_paths_are_case_insensitive(sb: XeroSandbox, api: Api) -> None:
    response = api.get("banktransactions", params={"page": 1, "pageSize": 1})
    assert response.status_code == 200


def test_other_tenant_has_its_own_data(sb: XeroSandbox, api: Api) -> None:
    kestrel = Api(sb, api.token, sb.tenants[1]["tenant_id"])
    rows = all_transactions(kestrel)
    assert {r["CurrencyCode"] for r in rows} >= {"GBP"}
    assert not set(r["BankTransactionID"] for r in rows) & set(sb.transaction_ids(api.tenant_id))


# --- high-volume rule -------------------------------------------------------------------------


def _big_sandbox() -> XeroSandbox:
    return XeroSandbox(
        transactions=300, organisations=1, clock=frozen_clock(), high_volume_threshold=100
    ).start()


def test_unoptimised_filter_on_a_big_tenant_is_rejected() -> None:
    sb = _big_sandbox()
    try:
        api = Api(sb, connect(sb)["access_token"], sb.tenants[0]["tenant_id"])
        response = api.get("BankTransactions", params={"where": "IsReconciled==false", "page": 1})
        assert response.status_code == 400
        assert "optimised" in response.json()["Elements"][0]["ValidationErrors"][0]["Message"]
        by_order = api.get("BankTransactions", params={"where": 'Type=="SPEND"', "order": "Total", "page": 1})
        assert by_order.status_code == 400
    finally:
        sb.stop()


def test_too_many_rows_unpaged_is_rejected_but_paged_or_narrow_queries_work() -> None:
    sb = _big_sandbox()
    try:
        api = Api(sb, connect(sb)["access_token"], sb.tenants[0]["tenant_id"])
        unpaged = api.get("BankTransactions")
        assert unpaged.status_code == 400
        assert "paging" in unpaged.json()["Elements"][0]["ValidationErrors"][0]["Message"]
        # a paged read of everything is how Xero says to read a big organisation
        paged = api.get("BankTransactions", params={"page": 3, "order": "UpdatedDateUTC ASC"})
        assert paged.status_code == 200
        assert paged.json()["pagination"] == {"page": 3, "pageSize": 100, "pageCount": 3, "itemCount": 300}
        narrow = api.get(
            "BankTransactions",
            params={"where": 'Type=="RECEIVE" AND Date>=DateTime(2026,6,1)', "order": "Date DESC", "page": 1},
        )
        assert narrow.status_code == 200
        assert narrow.json()["pagination"]["itemCount"] <= 100
    finally:
        sb.stop()


def test_date_ranges_match_a_plain_scan(sb: XeroSandbox, api: Api) -> None:
    everything = all_transactions(api)

    def days(where: str) -> set[str]:
        return {r["BankTransactionID"] for r in all_transactions(api, where=where)}

    def scan(test) -> set[str]:  # noqa: ANN001 - a small predicate on the date string
        return {r["BankTransactionID"] for r in everything if test(r["DateString"][:10])}

    assert days("Date>=DateTime(2026,3,1) AND Date<DateTime(2026,4,1)") == scan(
        lambda d: "2026-03-01" <= d < "2026-04-01"
    )
    assert days("DateTime(2026,3,1) < Date && Date <= DateTime(2026,3,31)") == scan(
        lambda d: "2026-03-01" < d <= "2026-03-31"
    )
    some_day = everything[0]["DateString"][:10]
    y, m, d = (int(p) for p in some_day.split("-"))
    assert days(f"Date==DateTime({y},{m},{d})") == scan(lambda x: x == some_day)
    assert days(f"Date==DateTime({y},{m},{d}) OR Date==DateTime(2020,1,1)") == scan(lambda x: x == some_day)
    assert days("Date>DateTime(2026,6,1) AND Date<DateTime(2026,5,1)") == set()


def test_date_range_sees_an_edited_date(sb: XeroSandbox, api: Api) -> None:
    txn = next(
        r
        for r in all_transactions(api, where='Type=="SPEND" AND Status=="AUTHORISED" AND IsReconciled==false')
    )
    all_transactions(api, where="Date>=DateTime(2026,1,1)")  # builds the date index
    assert api.post(f"BankTransactions/{txn['BankTransactionID']}", {"Date": "2025-06-15"}).status_code == 200
    hits = all_transactions(api, where="Date==DateTime(2025,6,15)")
    assert txn["BankTransactionID"] in {r["BankTransactionID"] for r in hits}
