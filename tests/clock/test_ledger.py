"""The run ledger and subscriptions, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

from storage import digests as ledger

T0 = datetime(2026, 6, 1, 21, 0, tzinfo=UTC)
DAY = date(2026, 6, 2)


def subscribe(db, channel="C1", owner="U1", tenant="ten-1", at="09:00", zone="Pacific/Auckland"):
    return ledger.upsert_subscription(
        db,
        slack_team_id="T1",
        channel_id=channel,
        owner_user_id=owner,
        tenant_id=tenant,
        tenant_name="Harbour Coffee",
        local_time=at,
        timezone=zone,
        skip_when_clear=False,
        now=lambda: T0,
    )


def test_resubscribing_a_channel_changes_it_instead_of_adding_a_second(db):
    first = subscribe(db)
    second = subscribe(db, owner="U2", at="08:30")
    assert first.created and not second.created
    assert second.subscription.id == first.subscription.id
    assert second.previous.owner_user_id == "U1"
    assert second.subscription.owner_user_id == "U2" and second.subscription.local_time == "08:30"
    assert len(ledger.enabled_subscriptions(db)) == 1


def test_a_day_can_be_claimed_once(db):
    sub = subscribe(db).subscription
    claim = ledger.claim_run(db, sub.id, DAY, now=lambda: T0)
    assert claim is not None and claim.attempt == 1
    assert ledger.claim_run(db, sub.id, DAY, now=lambda: T0) is None
    assert ledger.claim_run(db, sub.id, DAY + timedelta(days=1), now=lambda: T0) is not None


def test_concurrent_claims_have_exactly_one_winner(db):
    sub = subscribe(db).subscription
    barrier = threading.Barrier(8)
    wins: list[object] = []

    def claim() -> None:
        barrier.wait()
        result = ledger.claim_run(db, sub.id, DAY, now=lambda: T0)
        if result is not None:
            wins.append(result)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


def test_a_crashed_claim_is_retried_once_the_lease_expires_and_the_old_holder_cannot_post(db):
    sub = subscribe(db).subscription
    first = ledger.claim_run(db, sub.id, DAY, now=lambda: T0)
    run = ledger.runs_for(db, [(sub.id, DAY)])[(sub.id, DAY)]
    assert not ledger.retry_due(run, T0 + timedelta(minutes=5))
    later = T0 + ledger.CLAIM_LEASE
    second = ledger.reclaim_run(db, run, now=lambda: later)
    assert second is not None and second.attempt == 2
    # The "crashed" clock was only slow: its compare-and-set into posting now fails.
    assert not ledger.start_posting(db, first, now=lambda: later)
    assert ledger.start_posting(db, second, now=lambda: later)
    # A second taker of the same stale row loses.
    assert ledger.reclaim_run(db, run, now=lambda: later) is None


def test_a_run_in_posting_is_never_retried(db):
    sub = subscribe(db).subscription
    claim = ledger.claim_run(db, sub.id, DAY, now=lambda: T0)
    assert ledger.start_posting(db, claim, now=lambda: T0)
    run = ledger.runs_for(db, [(sub.id, DAY)])[(sub.id, DAY)]
    assert run.status == ledger.STATUS_POSTING
    assert not ledger.retry_due(run, T0 + timedelta(days=1))
    assert ledger.reclaim_run(db, run, now=lambda: T0 + timedelta(days=1)) is None


def test_retries_stop_after_the_last_attempt(db):
    sub = subscribe(db).subscription
    now = T0
    claim = ledger.claim_run(db, sub.id, DAY, now=lambda: now)
    attempts = [claim.attempt]
    while True:
        ledger.finish_run(db, claim, ledger.retry_status(claim.attempt), "xero down", now=lambda t=now: t)
        now += ledger.RETRY_BACKOFF
        run = ledger.runs_for(db, [(sub.id, DAY)])[(sub.id, DAY)]
        claim = ledger.reclaim_run(db, run, now=lambda t=now: t)
        if claim is None:
            break
        attempts.append(claim.attempt)
    assert attempts == list(range(1, ledger.MAX_ATTEMPTS + 1))
    assert ledger.exhausted(run, now)
    assert ledger.give_up(db, run, now=lambda: now)
    assert ledger.runs_for(db, [(sub.id, DAY)])[(sub.id, DAY)].status == ledger.STATUS_FAILED


def test_dead_grant_notice_is_claimed_once_per_incident(db):
    sub = subscribe(db).subscription
    assert ledger.claim_dead_grant_notice(db, sub.id, now=lambda: T0)
    assert not ledger.claim_dead_grant_notice(db, sub.id, now=lambda: T0)
    ledger.clear_dead_grant_notice(db, sub.id)
    assert ledger.claim_dead_grant_notice(db, sub.id, now=lambda: T0)


def test_removing_a_subscription_removes_its_ledger(db):
    sub = subscribe(db).subscription
    ledger.claim_run(db, sub.id, DAY, now=lambda: T0)
    assert ledger.delete_subscriptions(db, [sub.id]) == 1
    assert ledger.get_subscription(db, sub.id) is None
    assert ledger.runs_for(db, [(sub.id, DAY)]) == {}


def test_a_failed_runs_owner_is_told_once_even_by_two_clocks(db):
    sub = subscribe(db).subscription
    claim = ledger.claim_run(db, sub.id, DAY, now=lambda: T0)
    wins = []
    barrier = threading.Barrier(4)

    def tell():
        barrier.wait()
        wins.append(ledger.claim_owner_notice(db, claim.run_id, now=lambda: T0))

    threads = [threading.Thread(target=tell) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False, False, False, True]
    ledger.release_owner_notice(db, claim.run_id)  # the DM certainly didn't go out: try again later
    assert ledger.claim_owner_notice(db, claim.run_id, now=lambda: T0)


def test_concurrent_fixes_each_move_the_posts_version_on(db):
    sub = subscribe(db).subscription
    claim = ledger.claim_run(db, sub.id, DAY, now=lambda: T0)
    post_id = ledger.record_post(
        db,
        slack_team_id="T1",
        channel_id="C1",
        message_ts="1.2",
        tenant_id="ten-1",
        run_id=claim.run_id,
        snapshot="{}",
        transaction_ids=["a", "b", "a"],
        now=lambda: T0,
    )
    ledger.mark_fixed(db, [post_id], "ten-1", "a", fixed_by="U1", reference="R1", now=lambda: T0)
    ledger.mark_fixed(db, [post_id], "ten-1", "b", fixed_by="U2", reference=None, now=lambda: T0)
    post, fixes = ledger.post_state(db, post_id)
    assert post.version == 2
    assert {(f.bank_transaction_id, f.fixed_by, f.reference) for f in fixes} == {
        ("a", "U1", "R1"),
        ("b", "U2", None),
    }
    assert ledger.posts_showing(db, "T1", "ten-1", "a", since=T0 + timedelta(days=1)) == []  # too old
    assert ledger.posts_showing(db, "T2", "ten-1", "a", since=T0) == []  # another workspace's


def test_kept_digest_messages_are_forgotten_once_too_old_to_redraw(db):
    for n, age in enumerate((40, 31, 2)):
        ledger.record_post(
            db,
            slack_team_id="T1",
            channel_id="C1",
            message_ts=f"{n}.0",
            tenant_id="ten-1",
            run_id=None,
            snapshot="{}",
            transaction_ids=["a"],
            now=lambda age=age: T0 - timedelta(days=age),
        )
    assert ledger.forget_posts(db, before=T0 - timedelta(days=30)) == 2
    assert [
        p.message_ts for p in ledger.posts_showing(db, "T1", "ten-1", "a", since=T0 - timedelta(days=400))
    ] == ["2.0"]
