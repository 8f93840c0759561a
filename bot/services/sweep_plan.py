"""Which part of Xero's unreconciled list a sweep re-reads, and how often, within the day's share.

Xero need not move UpdatedDateUTC when a transaction is reconciled, so only re-reading
``IsReconciled==false`` corrects the mirror's flags. That list is big: an organisation of a
million transactions holds ~180,000 unreconciled ones, 180 calls, while the whole sync may spend
``daily_share`` × the daily limit (500 of Starter's 1,000) and its 5-minute deltas already take
288 of those. So:

* the **recent** sweep re-reads what is dated in the last :data:`RECENT_DAYS` days, where
  reconciling happens (bank feeds arrive, bookkeepers match them within weeks): every
  :data:`RECENT_EVERY` while that fits;
* the **full** sweep re-reads every unreconciled transaction at most daily (:data:`FULL_EVERY`),
  catching an old one reconciled late; a first sync or ``--full`` counts as one;
* both together may spend what the deltas leave of the sync's share, less a margin for the
  deltas searches cause, half each; when a sweep costs more than its half allows, it runs less
  often, and the interval says how much less (:func:`plan`).

The costs are estimates from the mirror itself (unreconciled rows per range, 1,000 a call).
Pure functions: the sync asks, storage counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

RECENT_DAYS = 90
RECENT_EVERY = timedelta(minutes=55)  # the clock looks every few minutes: "at least hourly"
FULL_EVERY = timedelta(days=1)
FORCED_FULL_EVERY = timedelta(hours=1)  # the digest's sweep is full whenever the budget allows
# A digest's full sweep this cheap always runs (20,000 unreconciled items: nearly every real
# organisation): the digest's own read used to cost as much, and an old item reconciled since
# the last full sweep must not be counted as still waiting.
DIGEST_FULL_CALLS = 20
DAY = timedelta(days=1)
MARGIN = 0.1  # of the day's share, kept for deltas a stale search asks for


@dataclass(frozen=True)
class SweepPlan:
    """One sweep to run: from ``date_from`` (None: every unreconciled transaction)."""

    date_from: date | None
    calls: int  # estimated

    @property
    def full(self) -> bool:
        return self.date_from is None


def recent_from(now: datetime) -> date:
    return (now - timedelta(days=RECENT_DAYS)).date()


def calls_for(unreconciled: int, ranges: int = 1, page_size: int = 1000) -> int:
    """Calls to read ``unreconciled`` rows in ``ranges`` date ranges (each at least one call)."""
    return max(ranges, math.ceil(unreconciled / page_size) + ranges - 1)


def allowance(daily_calls: int, interval: timedelta) -> int:
    """Calls a day the sweeps may spend: the sync's share less the clock's deltas and a margin."""
    deltas = math.ceil(DAY / interval) if interval > timedelta(0) else daily_calls
    return max(2, int(daily_calls * (1 - MARGIN)) - deltas)


def every(calls: int, floor: timedelta, share: int) -> timedelta:
    """How often a sweep of ``calls`` fits in ``share`` calls a day, never more often than ``floor``."""
    return max(floor, DAY * calls / max(share, 1))


def plan(
    now: datetime,
    *,
    last_sweep: datetime | None,
    last_full: datetime | None,
    recent_calls: int,
    full_calls: int,
    daily_calls: int,
    interval: timedelta,
    force: bool = False,
) -> SweepPlan | None:
    """The sweep due now, if any: the full one when due, else the recent one.

    ``force`` (the digest, just before it is built) always sweeps: the full one when it costs
    at most :data:`DIGEST_FULL_CALLS` or the budget would allow one that often (at most hourly),
    else the recent one; older items are then as of the last full sweep.
    """
    if force and full_calls <= DIGEST_FULL_CALLS:
        return SweepPlan(None, full_calls)
    half = allowance(daily_calls, interval) // 2
    floor = FORCED_FULL_EVERY if force else FULL_EVERY
    if last_full is None or now - last_full >= every(full_calls, floor, half):
        return SweepPlan(None, full_calls)
    if force or last_sweep is None or now - last_sweep >= every(recent_calls, RECENT_EVERY, half):
        return SweepPlan(recent_from(now), recent_calls)
    return None


def cheap_check(now: datetime, *, last_sweep: datetime | None, last_full: datetime | None) -> bool:
    """False when no sweep can be due yet (skip counting rows for the plan)."""
    if last_sweep is None or last_full is None:
        return True
    return now - last_sweep >= RECENT_EVERY or now - last_full >= FULL_EVERY


__all__ = [
    "DIGEST_FULL_CALLS",
    "FULL_EVERY",
    "RECENT_DAYS",
    "RECENT_EVERY",
    "SweepPlan",
    "allowance",
    "plan",
    "recent_from",
]
