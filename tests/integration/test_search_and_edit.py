"""Search and safe edits against the sandbox over HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.demo.xero_world import TEAM, make_world
from bot.services.errors import ServiceError
from bot.services.query import QueryError
from bot.xero.errors import RateLimited
from storage.audit import audit_for_transaction

USER = "U0ALICE"


@pytest.fixture
def world(db, db_url):
    w = make_world(db, db_url, transactions=400)
    w.consent(USER)
    yield w
    w.services.close()
    w.sb.stop()


def stored_txns(world, tenant_id):
    return world.transactions(tenant_id)


def test_filtered_search_returns_newest_first_within_the_window(world):
    result = world.services.search.search(TEAM, USER, "type:spend status:unreconciled from:180d")
    assert result.rows and len(result.rows) <= 10
    assert all(t.type == "SPEND" and not t.is_reconciled for t in result.rows)
    dates = [t.date for t in result.rows]
    assert dates == sorted(dates, reverse=True)
    assert result.xero_calls == 1


def test_text_search_matches_contact_reference_or_lines_on_our_side(world):
    org = world.services.connect.default_org(TEAM, USER)
    stored = [t for t in stored_txns(world, org.tenant_id) if t["Status"] == "AUTHORISED"]
    contact = next(t["Contact"]["Name"] for t in stored if t.get("Contact"))
    word = contact.split()[0]
    result = world.services.search.search(TEAM, USER, f'"{word}" from:540d')
    assert result.rows
    for txn in result.rows:
        haystack = " ".join(
            [txn.contact.name if txn.contact else "", txn.reference or ""]
            + [li.description or "" for li in txn.line_items]
        ).casefold()
        assert word.casefold() in haystack
    # user text never reached Xero's where clause
    wheres = [r.query.get("where", "") for r in world.reqs() if r.path.endswith("/BankTransactions")]
    assert wheres and all(word not in w for w in wheres)


def test_paging_with_cursors_and_the_cursor_is_bound_to_the_presser(world):
    first = world.services.search.search(TEAM, USER, "from:540d")
    assert first.has_next and first.next_cursor
    second = world.services.search.page(TEAM, USER, first.next_cursor)
    assert second.page == 2 and second.has_prev
    assert not {t.bank_transaction_id for t in first.rows} & {t.bank_transaction_id for t in second.rows}
    back = world.services.search.page(TEAM, USER, second.prev_cursor)
    assert [t.bank_transaction_id for t in back.rows] == [t.bank_transaction_id for t in first.rows]
    with pytest.raises(ServiceError):
        world.services.search.page(TEAM, "U0BOB", first.next_cursor)  # Bob has no such organisation
    with pytest.raises(ServiceError):
        world.services.search.page(TEAM, USER, "garbage!!")


def test_bad_query_names_the_token(world):
    with pytest.raises(QueryError) as err:
        world.services.search.search(TEAM, USER, "from:2024-13-45")
    assert "from:2024-13-45" in str(err.value)


def test_account_filter_resolves_a_guid_we_looked_up(world):
    org = world.services.connect.default_org(TEAM, USER)
    account = world.bank_accounts(org.tenant_id)[0]
    result = world.services.search.search(TEAM, USER, f'account:"{account["name"]}" from:540d')
    assert result.rows and all(t.bank_account.account_id == account["account_id"] for t in result.rows)
    assert any(f'guid("{account["account_id"]}")' in r.query.get("where", "") for r in world.reqs())
    with pytest.raises(ServiceError) as err:
        world.services.search.search(TEAM, USER, "account:nosuchaccount")
    assert "No bank account matches" in str(err.value)


def _editable_with_lines(world, tenant_id, *, min_lines=2):
    for txn in stored_txns(world, tenant_id):
        if (
            txn["Type"] in ("SPEND", "RECEIVE")
            and txn["Status"] == "AUTHORISED"
            and len(txn.get("LineItems") or []) >= min_lines
            and any(li.get("Tracking") for li in txn["LineItems"])
        ):
            return txn
    raise AssertionError("sandbox data has no multi-line tracked spend/receive transaction")


def test_edit_keeps_every_line_and_tracking_sends_no_totals_and_is_audited(world):
    org = world.services.connect.default_org(TEAM, USER)
    stored = _editable_with_lines(world, org.tenant_id)
    txn_id = stored["BankTransactionID"]
    form = world.services.edit.load(TEAM, USER, org.tenant_id, txn_id)
    outcome = world.services.edit.save(
        TEAM,
        USER,
        "Alice Ngata",
        org.tenant_id,
        txn_id,
        expected_updated=form.txn.updated_date_utc,
        reference="ZP-4471",
        url="https://docs.example.com/invoices/4471",
        note="matched to the supplier statement",
    )
    assert outcome.kind == "saved", outcome.message
    after = world.sb.get_transaction(org.tenant_id, txn_id)
    assert after["Reference"] == "ZP-4471" and after["Url"] == "https://docs.example.com/invoices/4471"
    assert [li["LineItemID"] for li in after["LineItems"]] == [li["LineItemID"] for li in stored["LineItems"]]
    assert [li.get("Tracking") for li in after["LineItems"]] == [
        li.get("Tracking") for li in stored["LineItems"]
    ]
    assert after["Total"] == stored["Total"] and after["IsReconciled"] == stored["IsReconciled"]
    posts = [r for r in world.reqs() if r.method == "POST" and txn_id in r.path]
    assert len(posts) == 1
    sent = posts[0].json["BankTransactions"][0]
    assert not {"Total", "SubTotal", "TotalTax", "UpdatedDateUTC", "IsReconciled"} & set(sent)
    assert posts[0].headers.get("Idempotency-Key")
    history = world.sb.history(org.tenant_id, txn_id)
    assert any(
        "by Alice Ngata via Slack" in h["Details"] and "supplier statement" in h["Details"] for h in history
    )
    audit = audit_for_transaction(world.db, org.tenant_id, txn_id)
    assert {(a.field, a.outcome) for a in audit} >= {
        ("reference", "success"),
        ("url", "success"),
        ("history", "success"),
    }
    ref = next(a for a in audit if a.field == "reference")
    assert (ref.before, ref.after, ref.slack_user_id) == (stored.get("Reference") or "", "ZP-4471", USER)


def test_concurrent_change_in_xero_is_a_conflict_and_writes_nothing(world):
    org = world.services.connect.default_org(TEAM, USER)
    stored = _editable_with_lines(world, org.tenant_id, min_lines=1)
    txn_id = stored["BankTransactionID"]
    form = world.services.edit.load(TEAM, USER, org.tenant_id, txn_id)
    world.sb.modify_transaction(org.tenant_id, txn_id, Reference="changed-in-xero")
    outcome = world.services.edit.save(
        TEAM, USER, "Alice", org.tenant_id, txn_id,
        expected_updated=form.txn.updated_date_utc, reference="mine", url=form.txn.url or "", note="",
    )  # fmt: skip
    assert outcome.kind == "conflict"
    assert outcome.after.reference == "changed-in-xero"
    assert "Nothing was changed" in outcome.message
    assert world.sb.get_transaction(org.tenant_id, txn_id)["Reference"] == "changed-in-xero"
    assert not [r for r in world.reqs() if r.method == "POST" and txn_id in r.path]
    assert [a.outcome for a in audit_for_transaction(world.db, org.tenant_id, txn_id)] == ["conflict"]


def test_xero_down_during_save_says_nothing_changed_and_audits_failure(world):
    org = world.services.connect.default_org(TEAM, USER)
    stored = _editable_with_lines(world, org.tenant_id, min_lines=1)
    txn_id = stored["BankTransactionID"]
    form = world.services.edit.load(TEAM, USER, org.tenant_id, txn_id)
    world.sb.faults.fail_next(20, status=503)
    outcome = world.services.edit.save(
        TEAM, USER, "Alice", org.tenant_id, txn_id,
        expected_updated=form.txn.updated_date_utc, reference="new-ref", url="", note="",
    )  # fmt: skip
    world.sb.faults.clear()
    assert outcome.kind == "failed" and "Nothing was changed" in outcome.message
    assert world.sb.get_transaction(org.tenant_id, txn_id).get("Reference") == stored.get("Reference")


def test_non_editable_types_are_refused_with_a_reason(world):
    from bot.services.errors import NotEditable

    org = world.services.connect.default_org(TEAM, USER)
    transfer = next(t for t in stored_txns(world, org.tenant_id) if t["Type"].endswith("TRANSFER"))
    with pytest.raises(NotEditable) as err:
        world.services.edit.load(TEAM, USER, org.tenant_id, transfer["BankTransactionID"])
    assert "spend and receive" in str(err.value)


def test_a_429_storm_stays_within_limits_and_surfaces_rate_limited(world):
    org = world.services.connect.default_org(TEAM, USER)
    outcomes = []

    def one(_):
        try:
            world.services.search.search(TEAM, USER, "type:spend from:540d")
            return "ok"
        except RateLimited as exc:
            outcomes.append(exc.retry_after)
            return "limited"

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(90)))
    assert results.count("ok") <= 60
    assert "limited" in results and all(r > 0 for r in outcomes)
    calls = [r for r in world.reqs() if r.tenant_id == org.tenant_id and r.path.startswith("/api.xro/2.0")]
    assert len(calls) <= 60
    assert all(r.status != 429 for r in calls)  # we throttled before Xero had to
