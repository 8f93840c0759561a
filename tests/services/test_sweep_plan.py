"""What the reconciled sweep costs a day, and when it runs, for organisations small and huge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.services.sweep_plan import (
    DIGEST_FULL_CALLS,
    FULL_EVERY,
    RECENT_DAYS,
    RECENT_EVERY,
    allowance,
    calls_for,
    plan,
)

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
FIVE_MIN = timedelta(minutes=5)


def day_of_sweeps(*, recent_calls: int, full_calls: int, daily_calls: int) -> int:
    """Sweep calls one day of the clock (every 5 minutes) spends, after a first sync."""
    last_sweep = last_full = NOW
    spent = 0
    for step in range(1, 288 + 1):
        now = NOW + step * FIVE_MIN
        due = plan(
            now,
            last_sweep=last_sweep,
            last_full=last_full,
            recent_calls=recent_calls,
            full_calls=full_calls,
            daily_calls=daily_calls,
            interval=FIVE_MIN,
        )
        if due is not None:
            spent += due.calls
            last_sweep = now
            if due.full:
                last_full = now
    return spent


def test_a_small_organisation_sweeps_hourly_and_fully_once_a_day():
    due = plan(
        NOW + RECENT_EVERY,
        last_sweep=NOW,
        last_full=NOW,
        recent_calls=2,
        full_calls=10,
        daily_calls=500,
        interval=FIVE_MIN,
    )
    assert (
        due is not None
        and not due.full
        and due.date_from == (NOW + RECENT_EVERY - timedelta(RECENT_DAYS)).date()
    )
    due = plan(
        NOW + FULL_EVERY,
        last_sweep=NOW + FULL_EVERY - RECENT_EVERY,
        last_full=NOW,
        recent_calls=2,
        full_calls=10,
        daily_calls=500,
        interval=FIVE_MIN,
    )
    assert due is not None and due.full
    # Every 55 minutes on a 5-minute clock: 26 recent sweeps, and the full one at 24 hours.
    assert day_of_sweeps(recent_calls=2, full_calls=10, daily_calls=500) == 26 * 2 + 10


def test_a_million_rows_on_starter_stays_inside_the_syncs_share_of_the_day():
    # ~180,000 unreconciled in 13 date ranges; ~19,000 of them dated in the last 90 days.
    full, recent = calls_for(180_000, 13), calls_for(19_000)
    deltas = 288
    spent = day_of_sweeps(recent_calls=recent, full_calls=full, daily_calls=500)
    assert spent + deltas <= 500
    assert spent <= allowance(500, FIVE_MIN)
    # ...so the full sweep waits more than a day, and the recent one runs every few hours.
    assert (
        plan(
            NOW + FULL_EVERY,
            last_sweep=NOW + FULL_EVERY,
            last_full=NOW,
            recent_calls=recent,
            full_calls=full,
            daily_calls=500,
            interval=FIVE_MIN,
        )
        is None
    )


def test_a_million_rows_on_a_standard_tier_sweeps_hourly_and_daily():
    full, recent = calls_for(180_000, 13), calls_for(19_000)
    spent = day_of_sweeps(recent_calls=recent, full_calls=full, daily_calls=2500)
    assert spent + 288 <= 2500
    assert spent >= 20 * recent  # about hourly


def test_the_digests_sweep_always_sweeps_and_is_full_when_cheap_or_the_budget_allows():
    # A cheap full sweep always runs for a digest, even a minute after the last one: an old item
    # reconciled since must not be counted as waiting.
    small = dict(recent_calls=1, full_calls=1, daily_calls=500, interval=FIVE_MIN, force=True)
    assert plan(NOW + timedelta(minutes=1), last_sweep=NOW, last_full=NOW, **small).full is True
    cheap = dict(small, full_calls=DIGEST_FULL_CALLS)
    assert plan(NOW + timedelta(minutes=1), last_sweep=NOW, last_full=NOW, **cheap).full is True
    # A costly one only as often as the day's share allows; in between the recent window.
    costly = dict(small, recent_calls=5, full_calls=DIGEST_FULL_CALLS + 1)
    assert plan(NOW + timedelta(minutes=1), last_sweep=NOW, last_full=NOW, **costly).full is False
    assert plan(NOW + timedelta(hours=12), last_sweep=NOW, last_full=NOW, **costly).full is True
    huge = dict(recent_calls=20, full_calls=193, daily_calls=500, interval=FIVE_MIN, force=True)
    assert plan(NOW + timedelta(hours=1), last_sweep=NOW, last_full=NOW, **huge).full is False
