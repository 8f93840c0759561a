"""The mirror's sync against the sandbox over HTTP, on SQLite and PostgreSQL.

Each test compares the mirror with the sandbox's own data, and counts the calls Xero received.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot.demo.xero_world import TEAM, make_world
from bot.sandbox.xero import SandboxClock
from bot.services.sweep_plan import RECENT_DAYS
from bot.services.sync import LEASE, OVERLAP, MirrorSettings, SyncService
from storage.crypto import TokenCipher
from storage.db import Database
from storage.mirror_state import get_sync_state
from tests.integration.mirror_helpers import header, in_xero, list_calls, mirrored

USER = "U0ALICE"


@pytest.fixture
def world(db, db_url):
    w = make_world(db, db_url, transactions=2500)
    w.consent(USER)
    yield w
    w.services.close()
    w.sb.stop()


def tenant_of(world) -> str:
    return world.services.connect.default_org(TEAM, USER).tenant_id


def synced(world):
    tenant = tenant_of(world)
    outcome = world.services.sync.sync(tenant)
    assert outcome.complete and outcome.error is None, outcome
    world.sb.clear_requests()
    return tenant


def test_first_sync_reads_every_transaction_in_updated_order_a_thousand_a_page(world):
    tenant = tenant_of(world)
    outcome = world.services.sync.sync(tenant)
    assert outcome.complete and outcome.error is None and outcome.did[0] == "first sync"
    assert mirrored(world.db, tenant) == in_xero(world.sb, tenant)
    calls = list_calls(world)
    pages = [c for c in calls if "IsReconciled" not in c.query.get("where", "")]
    assert len(pages) == 3  # 2,500 transactions: three pages of up to 1,000
    assert all(c.query["pageSize"] == "1000" and c.query["order"] == "UpdatedDateUTC ASC" for c in pages)
    assert header(pages[0], "If-Modified-Since") is None  # from the beginning
    assert all(header(c, "If-Modified-Since") for c in pages[1:])  # then forward by Xero's clock
    state = get_sync_state(world.db, tenant)
    assert state.row_count == len(in_xero(world.sb, tenant))
    assert state.first_sync_expected == 2500  # Xero's itemCount, deleted and voided included
    assert state.calls_today == len(calls) == outcome.calls
    assert state.bookmark_utc == max(
        datetime.fromtimestamp(int(t["UpdatedDateUTC"][6:-2].split("+")[0]) / 1000, UTC)
        for t in world.sb.transactions(tenant)
    )


def test_a_delta_brings_creates_edits_deletes_and_voids_in_one_call(world):
    tenant = synced(world)
    sb = world.sb
    live = [t for t in sb.transactions(tenant) if t["Status"] == "AUTHORISED" and not t["IsReconciled"]]
    spend = [t for t in live if t["Type"] in ("SPEND", "RECEIVE")]
    created = sb.create_transaction(tenant, contact="Spark NZ", amount="57.33", reference="INV-NEW")
    sb.edit_transaction(tenant, spend[0]["BankTransactionID"], reference="EDITED-IN-XERO")
    sb.delete_transaction(tenant, spend[1]["BankTransactionID"])
    sb.void_transaction(tenant, spend[2]["BankTransactionID"])
    before = get_sync_state(world.db, tenant).bookmark_utc

    outcome = world.services.sync.delta(tenant)

    assert outcome.error is None and outcome.calls == 1
    rows = mirrored(world.db, tenant)
    assert rows == in_xero(sb, tenant)
    assert rows[created["BankTransactionID"]][0] == "INV-NEW"
    assert rows[spend[0]["BankTransactionID"]][0] == "EDITED-IN-XERO"
    assert spend[1]["BankTransactionID"] not in rows and spend[2]["BankTransactionID"] not in rows
    (call,) = list_calls(world)
    sent = header(call, "If-Modified-Since")
    assert sent == (before.replace(microsecond=0) - OVERLAP).strftime("%Y-%m-%dT%H:%M:%S")
    state = get_sync_state(world.db, tenant)
    assert state.row_count == len(rows) and state.bookmark_utc > before


def test_a_delta_when_nothing_changed_is_one_call_and_changes_nothing(world):
    tenant = synced(world)
    before = mirrored(world.db, tenant)
    outcome = world.services.sync.delta(tenant)
    assert outcome.calls == 1 and len(list_calls(world)) == 1
    assert mirrored(world.db, tenant) == before


def _dated(t) -> datetime:
    return datetime.fromtimestamp(int(t["Date"][6:-2].split("+")[0]) / 1000, UTC)


def _authorised(world, tenant, *, recent: bool) -> list[dict]:
    """Live transactions dated inside the recent sweep's window (or well before it)."""
    now = world.bot_now()
    txns = [t for t in world.sb.transactions(tenant) if t["Status"] == "AUTHORISED"]
    if recent:
        return [t for t in txns if now - _dated(t) < timedelta(days=RECENT_DAYS - 5)]
    return [t for t in txns if now - _dated(t) > timedelta(days=RECENT_DAYS + 5)]


def test_the_reconciled_sweep_corrects_flags_a_delta_cannot_see(world):
    tenant = synced(world)
    sb = world.sb
    txns = _authorised(world, tenant, recent=True)
    open_one = next(t for t in txns if not t["IsReconciled"])
    done_one = next(t for t in txns if t["IsReconciled"])
    sb.reconcile_transaction(tenant, open_one["BankTransactionID"])  # UpdatedDateUTC stays
    sb.unreconcile_transaction(tenant, done_one["BankTransactionID"])

    world.services.sync.delta(tenant)
    rows = mirrored(world.db, tenant)
    assert rows[open_one["BankTransactionID"]][1] is False  # the delta could not know
    assert rows[done_one["BankTransactionID"]][1] is True

    world.sb.clear_requests()
    outcome = world.services.sync.sweep(tenant)
    assert outcome.error is None and outcome.reconciled >= 1
    assert mirrored(world.db, tenant) == in_xero(sb, tenant)
    wheres = [c.query.get("where", "") for c in list_calls(world)]
    assert wheres and all("IsReconciled==false" in w for w in wheres)
    assert get_sync_state(world.db, tenant).last_sweep_at is not None


def test_the_hourly_sweep_reads_the_recent_window_and_the_daily_one_everything(world):
    tenant = synced(world)
    sb = world.sb
    old = next(t for t in _authorised(world, tenant, recent=False) if not t["IsReconciled"])
    new = next(t for t in _authorised(world, tenant, recent=True) if not t["IsReconciled"])
    sb.reconcile_transaction(tenant, old["BankTransactionID"])
    sb.reconcile_transaction(tenant, new["BankTransactionID"])
    unreconciled = sum(1 for t in in_xero(sb, tenant).values() if not t[1])

    sb.clock.advance(56 * 60)  # the clock's hourly sweep: only what is dated recently
    outcome = world.services.sync.sync(tenant)
    assert "sweep" in outcome.did and not outcome.full_sweep and outcome.error is None
    assert outcome.swept_from == (world.bot_now() - timedelta(days=RECENT_DAYS)).date()
    rows = mirrored(world.db, tenant)
    assert rows[new["BankTransactionID"]][1] is True
    assert rows[old["BankTransactionID"]][1] is False  # older than the window: not read
    sweep_calls = [c for c in list_calls(world) if "IsReconciled" in c.query.get("where", "")]
    assert sweep_calls and all("Date>=DateTime(" in c.query["where"] for c in sweep_calls)
    assert len(sweep_calls) < unreconciled / 1000 + 1  # fewer rows than the whole list

    world.sb.clear_requests()
    sb.clock.advance(24 * 3600)  # a day on: the full sweep, every unreconciled transaction
    outcome = world.services.sync.sync(tenant)
    assert "sweep" in outcome.did and outcome.full_sweep and outcome.error is None
    assert mirrored(world.db, tenant) == in_xero(sb, tenant)
    sweep_calls = [c for c in list_calls(world) if "IsReconciled" in c.query.get("where", "")]
    assert sweep_calls and not any("Date" in c.query["where"] for c in sweep_calls)
    state = get_sync_state(world.db, tenant)
    assert state.last_full_at == state.last_sweep_at


def test_an_edit_writes_through_to_the_mirror_at_once(world):
    tenant = synced(world)
    txn = next(
        t
        for t in world.sb.transactions(tenant)
        if t["Status"] == "AUTHORISED" and t["Type"] in ("SPEND", "RECEIVE") and not t["IsReconciled"]
    )
    form = world.services.edit.load(TEAM, USER, tenant, txn["BankTransactionID"])
    outcome = world.services.edit.save(
        TEAM,
        USER,
        "Alice",
        tenant,
        txn["BankTransactionID"],
        expected_updated=form.txn.updated_date_utc,
        reference="WRITTEN-THROUGH",
        url="",
        note="",
    )
    assert outcome.kind == "saved", outcome.message
    assert mirrored(world.db, tenant)[txn["BankTransactionID"]][0] == "WRITTEN-THROUGH"
    assert not [c for c in list_calls(world)]  # no sync call was needed for it


def test_twenty_concurrent_stale_searches_in_two_processes_cause_one_delta(world, db_url, encryption_key):
    tenant = synced(world)
    world.sb.clock.advance(120)  # older than RECON_MIRROR_MAX_AGE (60 s)
    world.sb.faults.latency(400)  # the delta is still in flight while the others arrive
    other_db = Database(db_url, TokenCipher([encryption_key]))
    other = SyncService(other_db, world.services.xero, world.services.tokens, now=world.bot_now)
    keepers = [world.services.sync, other]
    barrier = threading.Barrier(20)
    answers = []

    def search(n: int) -> None:
        barrier.wait()
        answers.append(keepers[n % 2].ensure_fresh(tenant, max_age=60, wait=3))

    threads = [threading.Thread(target=search, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    other.close()
    other_db.dispose()
    assert len(list_calls(world)) == 1
    assert len(answers) == 20
    assert all(a.complete and world.bot_now() - a.as_of < timedelta(seconds=60) for a in answers)


def test_xero_failing_mid_sync_loses_nothing_and_is_recorded(world):
    tenant = tenant_of(world)
    pages = []

    def after_each_page(progress):
        pages.append(progress.rows_read)
        if len(pages) == 1:
            world.sb.faults.fail_next(20, 503)  # more than the client retries

    outcome = world.services.sync.first_sync(tenant, progress=after_each_page)
    assert not outcome.complete and "XeroUnavailable" in outcome.error
    state = get_sync_state(world.db, tenant)
    assert "XeroUnavailable" in state.last_error and state.last_error_at is not None
    assert state.row_count == len(mirrored(world.db, tenant)) == pages[0] > 0
    assert state.lease_owner is None  # given back for the next attempt

    world.sb.faults.clear()
    world.sb.faults.fail_next(4, 429)  # Xero says slow down: the client waits, then gives up
    world.services.xero.max_retries = 3
    outcome = world.services.sync.sync(tenant)
    assert not outcome.complete and "slow down" in outcome.error
    world.sb.faults.clear()
    world.sb.clock.advance(2)
    outcome = world.services.sync.sync(tenant)
    assert outcome.complete and outcome.error is None
    assert mirrored(world.db, tenant) == in_xero(world.sb, tenant)
    assert get_sync_state(world.db, tenant).last_error is None


def test_the_first_sync_keeps_to_its_share_of_the_daily_budget_and_carries_on_tomorrow(world):
    tenant = tenant_of(world)
    thrifty = SyncService(
        world.db,
        world.services.xero,
        world.services.tokens,
        settings=MirrorSettings(daily_limit=100, daily_share=0.02),  # two calls a day
        now=world.bot_now,
    )
    outcome = thrifty.sync(tenant)
    assert outcome.paused and not outcome.complete and outcome.calls == 2
    assert len(list_calls(world)) == 2
    state = get_sync_state(world.db, tenant)
    assert state.calls_today == 2 and "carries on tomorrow" in state.last_error
    again = thrifty.sync(tenant)
    assert again.paused and again.calls == 0 and len(list_calls(world)) == 2  # nothing more today

    world.sb.clock.advance(24 * 3600)
    outcome = thrifty.sync(tenant)
    assert outcome.complete and outcome.error is None
    assert mirrored(world.db, tenant) == in_xero(world.sb, tenant)
    thrifty.close()


def test_disconnect_removes_the_organisations_rows(world):
    tenant = synced(world)
    assert mirrored(world.db, tenant)
    world.services.connect.disconnect(TEAM, USER, None)
    assert mirrored(world.db, tenant) == {} and get_sync_state(world.db, tenant) is None


def test_a_grant_xero_revoked_takes_the_rows_with_it(world):
    tenant = synced(world)
    world.sb.revoke_user(world.sb.user["xero_user_id"])
    world.sb.clock.advance(31 * 60)  # the access token expires: the refresh meets invalid_grant
    outcome = world.services.sync.sync(tenant)
    assert outcome.error
    assert mirrored(world.db, tenant) == {} and get_sync_state(world.db, tenant) is None


def test_the_rows_stay_while_another_users_grant_still_holds_the_organisation(world):
    tenant = synced(world)
    bob = world.sb.add_user("bob@example.com", "Bob", "Tane")  # his own Xero login
    world.sb.login_as(bob["xero_user_id"])
    world.consent("U0BOB")
    world.services.connect.disconnect(TEAM, USER, None)
    assert mirrored(world.db, tenant) and get_sync_state(world.db, tenant) is not None
    world.sb.create_transaction(tenant, contact="Bob's supplier", amount="10.00")
    world.sb.clock.advance(400)
    (outcome,) = [o for o in world.services.sync.sync_all() if o.tenant_id == tenant]
    assert outcome.error is None  # kept in step with Bob's grant
    assert mirrored(world.db, tenant) == in_xero(world.sb, tenant)


def test_the_clock_syncs_each_organisation_once_however_many_users_hold_it(world):
    world.consent("U0BOB")  # the same Xero login in another Slack account: both hold both orgs
    outcomes = world.services.sync.sync_all()
    tenants = [t["tenant_id"] for t in world.sb.tenants]
    assert sorted(o.tenant_id for o in outcomes) == sorted(tenants)
    for tenant in tenants:
        assert mirrored(world.db, tenant) == in_xero(world.sb, tenant)
    world.sb.clear_requests()
    assert world.services.sync.sync_all() == []  # nothing is due a minute later
    assert list_calls(world) == []


@pytest.fixture
def frozen_world(db, db_url):
    w = make_world(db, db_url, transactions=50, clock=SandboxClock(ticking=False))
    w.consent(USER)
    yield w
    w.services.close()
    w.sb.stop()


def test_a_change_in_the_same_second_as_the_bookmark_is_not_lost(frozen_world):
    world = frozen_world
    tenant = synced(world)
    sb = world.sb
    ids = [t["BankTransactionID"] for t in sb.transactions(tenant) if t["Status"] == "AUTHORISED"]
    ids = [i for i in ids if sb.get_transaction(tenant, i)["Type"] in ("SPEND", "RECEIVE")]
    world.sb.clock.advance(10.2)
    sb.edit_transaction(tenant, ids[0], reference="FIRST")
    world.services.sync.delta(tenant)
    bookmark = get_sync_state(world.db, tenant).bookmark_utc
    sb.edit_transaction(tenant, ids[1], reference="SAME-SECOND")  # a millisecond later, same second
    assert (
        sb.get_transaction(tenant, ids[1])["UpdatedDateUTC"]
        != sb.get_transaction(tenant, ids[0])["UpdatedDateUTC"]
    )
    world.services.sync.delta(tenant)
    assert mirrored(world.db, tenant)[ids[1]][0] == "SAME-SECOND"
    assert get_sync_state(world.db, tenant).bookmark_utc.replace(microsecond=0) == bookmark.replace(
        microsecond=0
    )


def test_an_expired_lease_is_taken_over_and_a_held_one_is_not(world):
    from storage.mirror_state import take_lease

    tenant = tenant_of(world)
    assert take_lease(world.db, tenant, "elsewhere", world.bot_now() + LEASE, now=world.bot_now)
    outcome = world.services.sync.sync(tenant)
    assert outcome.busy and outcome.calls == 0 and list_calls(world) == []
    world.sb.clock.advance(LEASE.total_seconds() + 1)
    outcome = world.services.sync.sync(tenant)
    assert outcome.complete and not outcome.busy


def test_the_digest_sweeps_the_mirror_just_before_it_is_built(world):
    from bot.services.digest import digest_service

    tenant = synced(world)
    txn = next(t for t in _authorised(world, tenant, recent=True) if not t["IsReconciled"])
    old = next(t for t in _authorised(world, tenant, recent=False) if not t["IsReconciled"])
    world.sb.reconcile_transaction(tenant, txn["BankTransactionID"])
    world.sb.reconcile_transaction(tenant, old["BankTransactionID"])
    digest = digest_service(world.services)
    before = len([t for t in in_xero(world.sb, tenant).values() if not t[1]])
    content = digest.build_now(TEAM, USER)
    # A small organisation's full sweep is cheap, so the digest's is full even a moment after the
    # first sync: the recent item and the old one both count as reconciled at once.
    rows = mirrored(world.db, tenant)
    assert rows[txn["BankTransactionID"]][1] is True and rows[old["BankTransactionID"]][1] is True
    assert mirrored(world.db, tenant) == in_xero(world.sb, tenant)
    assert get_sync_state(world.db, tenant).last_sweep_at is not None
    assert content.complete and content.count == before


def test_mirror_commands_show_sync_and_forget(world, capsys):
    import argparse

    from bot.mirror_cli import run

    tenant = tenant_of(world)
    name = world.services.connect.default_org(TEAM, USER).tenant_name
    assert run(argparse.Namespace(action="sync", org=name[:6], full=False), world.services) == 0
    out = capsys.readouterr().out
    assert f"{name}: first sync" in out and "Xero call(s)" in out
    assert run(argparse.Namespace(action="status"), world.services) == 0
    table = capsys.readouterr().out
    rows = len(in_xero(world.sb, tenant))
    assert name in table and f"{rows:,}" in table and "in step" in table and "LAST ERROR" in table
    header, line = (next(x for x in table.splitlines() if key in x) for key in ("FULL SWEEP", name))
    assert line[header.index("FULL SWEEP") :].split()[1:3] == ["s", "ago"]  # the whole read was one
    assert run(argparse.Namespace(action="forget", org=tenant), world.services) == 0
    assert f"{rows:,} row(s) deleted" in capsys.readouterr().out
    assert mirrored(world.db, tenant) == {}
    assert run(argparse.Namespace(action="forget", org="no such org"), world.services) == 1


def test_a_full_read_takes_out_what_xero_no_longer_has(world):
    """``mirror sync --full`` makes the copy Xero's again: a row Xero no longer returns at all
    (no DELETED trace to read) is gone once the re-read completes, and the count agrees."""
    from dataclasses import replace

    from storage.mirror import get_row, upsert_rows
    from storage.mirror_state import record_outcome

    tenant = synced(world)
    some = next(iter(mirrored(world.db, tenant)))
    stray = replace(get_row(world.db, tenant, some), bank_transaction_id="not-in-xero")
    an_hour_ago = world.sb.clock.now() - timedelta(hours=1)
    upsert_rows(world.db, tenant, [stray], now=lambda: an_hour_ago)
    count = get_sync_state(world.db, tenant).row_count
    record_outcome(world.db, tenant, values={"row_count": count + 1})

    assert world.services.sync.delta(tenant).error is None
    assert "not-in-xero" in mirrored(world.db, tenant)  # a delta cannot know

    outcome = world.services.sync.sync(tenant, full=True)

    assert outcome.complete and outcome.error is None, outcome
    assert mirrored(world.db, tenant) == in_xero(world.sb, tenant)
    assert get_sync_state(world.db, tenant).row_count == len(in_xero(world.sb, tenant))


def _sharing_the_newest_millisecond(sb, tenant) -> int:
    stamps = [t["UpdatedDateUTC"] for t in sb.transactions(tenant)]
    return stamps.count(max(stamps, key=lambda s: int(s[6:-2].split("+")[0])))


def test_a_no_change_delta_is_one_call_when_more_than_a_page_share_the_bookmarks_second(world):
    # The generator stamps every edit it would date in the future at one moment (a bulk import
    # does the same at Xero): more of them than a page holds, so re-reading the bookmark's
    # second forward would take several pages.
    tenant = synced(world)
    shared = _sharing_the_newest_millisecond(world.sb, tenant)
    assert shared >= 3
    narrow = SyncService(
        world.db,
        world.services.xero,
        world.services.tokens,
        settings=MirrorSettings(page_size=shared - 1),
        now=world.bot_now,
    )
    before = mirrored(world.db, tenant)

    outcome = narrow.delta(tenant)
    assert outcome.error is None and outcome.calls == 1 and len(list_calls(world)) == 1
    assert outcome.rows_written == 0  # the overlap's re-read rows are the ones already held
    assert mirrored(world.db, tenant) == before

    # A change after them still comes in one call, and so do more changes than a page.
    spend = [
        t
        for t in world.sb.transactions(tenant)
        if t["Status"] == "AUTHORISED" and t["Type"] in ("SPEND", "RECEIVE") and not t["IsReconciled"]
    ]
    world.sb.edit_transaction(tenant, spend[0]["BankTransactionID"], reference="AFTER-THE-CROWD")
    world.sb.clear_requests()
    outcome = narrow.delta(tenant)
    assert outcome.error is None and outcome.calls == 1
    assert mirrored(world.db, tenant)[spend[0]["BankTransactionID"]][0] == "AFTER-THE-CROWD"

    for n, t in enumerate(spend[1 : shared + 2]):
        world.sb.edit_transaction(tenant, t["BankTransactionID"], reference=f"MANY-{n}")
    world.sb.delete_transaction(tenant, spend[-1]["BankTransactionID"])
    outcome = narrow.delta(tenant)
    assert outcome.error is None and outcome.calls > 1
    assert mirrored(world.db, tenant) == in_xero(world.sb, tenant)
    world.sb.clear_requests()
    assert narrow.delta(tenant).calls == 1  # and then nothing is left to read
    narrow.close()


def _planner_knows_the_mirror(db) -> bool:
    from sqlalchemy import text

    with db.engine.connect() as conn:
        if db.is_sqlite:
            has = conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first()
            return bool(has) and bool(
                conn.execute(text("SELECT 1 FROM sqlite_stat1 WHERE tbl = 'mirror_transactions'")).first()
            )
        # TRUNCATE between tests resets reltuples to -1 ("never analysed").
        tuples = conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'mirror_transactions'"))
        return tuples.scalar() > 0


def test_the_planner_learns_the_mirror_when_the_first_sync_completes(world):
    from sqlalchemy import text

    tenant = tenant_of(world)
    with world.db.engine.begin() as conn:
        if world.db.is_sqlite:
            conn.execute(text("DROP TABLE IF EXISTS sqlite_stat1"))
        else:
            conn.execute(text("TRUNCATE mirror_transactions"))
    assert not _planner_knows_the_mirror(world.db)
    outcome = world.services.sync.sync(tenant)
    assert outcome.complete
    assert _planner_knows_the_mirror(world.db)


def test_a_grant_xero_refuses_for_the_organisation_gives_way_to_the_next_that_holds_it(world):
    from storage.mirror_state import grants_holding
    from storage.models import Grant

    tenant = tenant_of(world)
    bob = world.sb.add_user("bob@example.com", "Bob", "Tane")  # his own Xero login
    world.sb.login_as(bob["xero_user_id"])
    world.consent("U0BOB")
    holders = grants_holding(world.db, tenant)
    assert len(holders) == 2
    with world.db.session() as session:
        first_login = session.get(Grant, holders[0]).xero_user_id
    # The login the sync asks first loses the organisation at Xero; the other still holds it.
    assert world.sb.disconnect_at_xero(first_login, tenant) == 1
    world.sb.clear_requests()

    outcome = world.services.sync.sync(tenant)

    assert outcome.complete and outcome.error is None, outcome
    assert [c.status for c in list_calls(world)][0] == 403  # refused once, then read with the other
    assert mirrored(world.db, tenant) == in_xero(world.sb, tenant)
    assert get_sync_state(world.db, tenant).last_error is None


def test_when_xero_refuses_every_grant_that_holds_it_the_sync_says_it_needs_reconnecting(world):
    tenant = synced(world)
    world.sb.disconnect_at_xero(world.sb.user["xero_user_id"], tenant)
    world.sb.clock.advance(400)
    outcome = world.services.sync.sync(tenant)
    assert outcome.error and "reconnecting" in outcome.error
    assert "reconnecting" in get_sync_state(world.db, tenant).last_error
    assert mirrored(world.db, tenant) == in_xero(world.sb, tenant)  # what was read stays


def test_the_digests_sweep_is_the_digests_own_read_and_is_not_held_back_by_the_background_lane(world):
    """The background lane full for the minute: the clock's sweep waits its turn, the digest's does not
    (it replaced the digest's own read of Xero, which a person's lane always served)."""
    from bot.xero.client import XeroClient
    from bot.xero.throttle import Throttle
    from storage.budget import BACKGROUND, BackgroundShare

    tenant = synced(world)
    open_one = next(t for t in _authorised(world, tenant, recent=True) if not t["IsReconciled"])
    world.sb.reconcile_transaction(tenant, open_one["BankTransactionID"])  # undated: only a sweep sees it
    throttle = Throttle(background=BackgroundShare(minute_reserve=59))  # the background lane: 1 a minute
    xero = XeroClient(world.services.settings.xero_api_url, timeout=(2.0, 5.0), throttle=throttle)
    sync = SyncService(
        world.db, xero, world.services.tokens, settings=MirrorSettings.from_settings(world.services.settings),
        now=world.services.now,
    )  # fmt: skip
    try:
        throttle.acquire(tenant, 0, lane=BACKGROUND).release()  # someone else's sync took this minute's slot
        clocks = sync.sweep(tenant)
        assert clocks.error  # the digest would not be built from this copy
        assert mirrored(world.db, tenant)[open_one["BankTransactionID"]][1] is False

        digests = sync.sweep(tenant, for_digest=True)
        assert digests.error is None and "sweep" in digests.did and digests.reconciled >= 1
        assert mirrored(world.db, tenant) == in_xero(world.sb, tenant)
    finally:
        sync.close()
