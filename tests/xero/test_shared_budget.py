"""The Xero budget every process shares through the database, on real SQLite and PostgreSQL.

Separate ``DatabaseBudget`` objects over one database stand for separate processes (each has
its own engine and caches); where it matters, real child processes spend from it too.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import responses

from bot.sandbox.xero.limits import busiest_window
from bot.xero.client import XeroClient
from bot.xero.errors import RateLimited
from bot.xero.throttle import BACKGROUND, Throttle, clock_of
from storage.budget import BackgroundShare, DatabaseBudget, Limits
from storage.db import Database
from tests.xero.fakes import FakeClock

T1 = "tenant-1"
T2 = "tenant-2"
ROOT = Path(__file__).resolve().parents[2]


_OPEN: list[DatabaseBudget] = []


@pytest.fixture(autouse=True)
def _close_budgets():
    yield
    while _OPEN:
        _OPEN.pop().close()


def process(db: Database, clock: FakeClock | None = None, **limits) -> Throttle:
    """One process's throttle: its own engine on the shared database."""
    other = Database(db.url, db.cipher)
    share = limits.pop("background", None)
    budget = DatabaseBudget(other, Limits(**limits), share)
    _OPEN.append(budget)
    if clock is None:
        return Throttle(budget)
    return Throttle(budget, clock=clock, sleep=clock.sleep)


def _max_overlap(calls: list[tuple[float, float]]) -> int:
    edges = sorted([(s, 1) for s, _ in calls] + [(e, -1) for _, e in calls], key=lambda x: (x[0], x[1]))
    now = best = 0
    for _, step in edges:
        now += step
        best = max(best, now)
    return best


# --------------------------------------------------------------------------- one organisation, many callers


def test_two_processes_share_one_minute_window(db):
    clock = FakeClock()
    a, b = process(db, clock), process(db, clock)
    for i in range(60):
        (a if i % 2 else b).acquire(T1, max_wait=0).release()
    for th in (a, b):
        with pytest.raises(RateLimited) as info:
            th.acquire(T1, max_wait=0)
        assert info.value.problem == "minute"
    a.acquire(T2, max_wait=0).release()  # another organisation has its own minute
    clock.advance(60)
    b.acquire(T1, max_wait=0).release()


def test_two_processes_share_five_calls_in_flight(db):
    clock = FakeClock()
    a, b = process(db, clock), process(db, clock)
    held = [a.acquire(T1, max_wait=0) for _ in range(3)] + [b.acquire(T1, max_wait=0) for _ in range(2)]
    with pytest.raises(RateLimited) as info:
        a.acquire(T1, max_wait=0)
    assert info.value.problem == "concurrent"
    assert b.in_flight(T1) == 5
    held[0].release()
    held[0].release()  # idempotent: must not free a second slot
    b.acquire(T1, max_wait=0)
    with pytest.raises(RateLimited):
        a.acquire(T1, max_wait=0)


def test_a_waiting_caller_gets_the_slot_another_process_frees(db):
    a, b = process(db), process(db)  # real clock: the waiter polls the database
    held = [a.acquire(T1, max_wait=0) for _ in range(5)]
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(b.acquire(T1, max_wait=10)))
    waiter.start()
    threading.Timer(0.3, held[0].release).start()
    waiter.join(10)
    assert got and b.in_flight(T1) == 5


def test_many_threads_in_two_real_processes_stay_inside_the_limits(db):
    """60 calls in any window and 5 in flight, with two processes of 8 threads racing.

    The window is shortened to 2 s (the rules do not depend on its length) so the test takes
    seconds; each call's time is taken inside the process, after acquire and before release.
    """
    window, seconds = 2.0, 5.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.xero.budget_worker", db.url, T1, "8", str(seconds), str(window)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    calls: list[tuple[float, float]] = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        calls += [tuple(json.loads(line)) for line in out.splitlines() if line.startswith("[")]
    assert busiest_window([s for s, _ in calls], window) <= 60
    assert busiest_window([e for _, e in calls], window) <= 60
    assert _max_overlap(calls) <= 5
    # …and the budget was used, not merely refused: at least two full windows' worth.
    assert len(calls) >= 2 * 60


def test_a_killed_holders_leases_expire(db):
    """A process that dies mid-call keeps its slots only until their leases run out."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.xero.budget_worker", db.url, T1, "hold", "5", "30"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().startswith("held 5")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    offset = {"s": 0.0}
    th = Throttle(DatabaseBudget(Database(db.url, db.cipher)), clock=lambda: time.time() + offset["s"])
    with pytest.raises(RateLimited) as info:
        th.acquire(T1, max_wait=0)
    assert info.value.problem == "concurrent"
    offset["s"] = 31  # past the 30 s lease
    th.acquire(T1, max_wait=0).release()
    assert th.in_flight(T1) == 0
    # The dead calls still count in the minute: Xero saw them.
    assert DatabaseBudget(Database(db.url, db.cipher)).usage(T1, time.time() + 31).minute_used == 6


# --------------------------------------------------------------------------- the day, the app


def test_the_days_count_is_shared_and_resets_after_a_day(db):
    clock = FakeClock()
    a, b = process(db, clock, daily=3, per_minute=100), process(db, clock, daily=3, per_minute=100)
    a.acquire(T1, max_wait=0).release()
    b.acquire(T1, max_wait=0).release()
    a.acquire(T1, max_wait=0).release()
    with pytest.raises(RateLimited) as info:
        b.acquire(T1, max_wait=60)
    assert info.value.problem == "day" and info.value.retry_after > 3600
    assert "daily" in str(info.value)
    assert a.used_today(T1) == 3
    clock.advance(86_400)
    b.acquire(T1, max_wait=0).release()
    assert a.used_today(T1) == 1


def test_the_app_wide_minute_spans_every_organisation(db):
    clock = FakeClock()
    a, b = process(db, clock, app_per_minute=4), process(db, clock, app_per_minute=4)
    for i, tenant in enumerate(["t-a", "t-b", "t-c", "t-d"]):
        (a if i % 2 else b).acquire(tenant, max_wait=0).release()
    with pytest.raises(RateLimited) as info:
        a.acquire("t-e", max_wait=0)
    assert info.value.problem == "appminute"
    clock.advance(62)
    a.acquire("t-e", max_wait=0).release()


# --------------------------------------------------------------------------- what Xero says


def test_remaining_headers_are_shared_with_other_processes(db):
    clock = FakeClock()
    a, b = process(db, clock), process(db, clock)
    permit = a.acquire(T1, max_wait=0)
    a.observe(T1, {"X-MinLimit-Remaining": "2", "X-DayLimit-Remaining": "4000"})
    permit.release()  # the headers are written down with the release
    b.acquire(T1, max_wait=0).release()
    b.acquire(T1, max_wait=0).release()
    with pytest.raises(RateLimited) as info:
        b.acquire(T1, max_wait=0)
    assert info.value.problem == "minute"
    # Xero's day count above ours is believed by every process.
    b.observe(T1, {"X-DayLimit-Remaining": "1"})
    assert b.used_today(T1) == 4999 and a.used_today(T1) == 4999


def test_app_remaining_zero_pauses_every_process(db):
    clock = FakeClock()
    a, b = process(db, clock), process(db, clock)
    a.observe(T1, {"X-AppMinLimit-Remaining": "0"})
    with pytest.raises(RateLimited) as info:
        b.acquire(T2, max_wait=0)
    assert info.value.problem == "appminute"


def test_retry_after_from_one_process_holds_the_others(db):
    clock = FakeClock()
    a, b = process(db, clock), process(db, clock)
    api = "https://xero.test"
    client = XeroClient(api, session=requests.Session(), throttle=a, sleep=clock.sleep, max_wait=5)

    class Auth:
        tenant_id = T1

        def access_token(self, force_refresh: bool = False) -> str:
            return "token"

    with responses.RequestsMock() as rsps:
        rsps.get(
            f"{api}/api.xro/2.0/Organisation",
            status=429,
            headers={"Retry-After": "30", "X-Rate-Limit-Problem": "minute"},
        )
        with pytest.raises(RateLimited) as info:
            client.get_organisation(Auth())
        assert info.value.retry_after == 30
        assert len(rsps.calls) == 1
    with pytest.raises(RateLimited) as info:
        b.acquire(T1, max_wait=5)  # the other process waits out Xero's Retry-After too
    assert 29 <= info.value.retry_after <= 30
    b.acquire(T2, max_wait=0).release()
    clock.advance(30)
    b.acquire(T1, max_wait=0).release()


# --------------------------------------------------------------------------- lanes


def test_background_work_leaves_people_their_part_of_the_minute(db):
    clock = FakeClock()
    share = BackgroundShare(minute_reserve=20, concurrent_reserve=1, day_share=0.5)
    sync, person = process(db, clock, background=share), process(db, clock, background=share)
    taken = 0
    while True:
        try:
            sync.acquire(T1, max_wait=0, lane=BACKGROUND).release()
        except RateLimited as exc:
            assert exc.problem == "minute"
            break
        taken += 1
    assert taken == 40
    for _ in range(20):  # the last 20 are a person's
        person.acquire(T1, max_wait=0).release()
    with pytest.raises(RateLimited):
        person.acquire(T1, max_wait=0)


def test_background_work_never_holds_the_last_call_in_flight(db):
    clock = FakeClock()
    sync, person = process(db, clock), process(db, clock)
    held = [sync.acquire(T1, max_wait=0, lane=BACKGROUND) for _ in range(4)]
    with pytest.raises(RateLimited) as info:
        sync.acquire(T1, max_wait=0, lane=BACKGROUND)
    assert info.value.problem == "concurrent"
    person.acquire(T1, max_wait=0).release()
    assert len(held) == 4


def test_background_work_stops_at_its_share_of_the_day(db):
    clock = FakeClock()
    share = BackgroundShare(day_share=0.5)
    sync = process(db, clock, daily=10, per_minute=100, background=share)
    person = process(db, clock, daily=10, per_minute=100, background=share)
    for _ in range(5):
        sync.acquire(T1, max_wait=0, lane=BACKGROUND).release()
    with pytest.raises(RateLimited) as info:
        sync.acquire(T1, max_wait=0, lane=BACKGROUND)
    assert info.value.problem == "day"
    for _ in range(5):
        person.acquire(T1, max_wait=0).release()
    with pytest.raises(RateLimited):
        person.acquire(T1, max_wait=0)


def test_the_background_client_shares_session_and_throttle(db):
    clock = FakeClock()
    th = process(db, clock)
    client = XeroClient("https://xero.test", session=requests.Session(), throttle=th)
    sync = client.background()
    assert sync.lane == BACKGROUND and client.lane != BACKGROUND
    assert sync.session is client.session and sync.throttle is client.throttle


# --------------------------------------------------------------------------- the bot's clock


def test_limits_follow_the_bots_clock_through_a_jump_of_days(db):
    """The demo's ``time +70d`` moves the bot's clock, not the wall's: the budget follows it."""
    moment = {"now": datetime(2026, 11, 28, 18, 45, tzinfo=UTC)}
    th = Throttle(
        DatabaseBudget(Database(db.url, db.cipher), Limits(daily=100)),
        clock=clock_of(lambda: moment["now"]),
        sleep=lambda s: None,
    )
    for _ in range(60):
        th.acquire(T1, max_wait=0).release()
    with pytest.raises(RateLimited):
        th.acquire(T1, max_wait=0)
    for _day in range(70):  # one digest's worth of calls on each day of the jump
        moment["now"] += timedelta(days=1)
        for _ in range(3):
            th.acquire(T1, max_wait=0).release()
    assert th.used_today(T1) == 3  # a new day, a new count


def test_a_pinned_clock_never_makes_a_caller_hang(db):
    """Time that does not move (a pinned demo) cannot free a slot: give up after max_wait."""
    pinned = datetime(2026, 11, 28, 18, 45, tzinfo=UTC)
    slept: list[float] = []
    th = Throttle(
        DatabaseBudget(Database(db.url, db.cipher)), clock=clock_of(lambda: pinned), sleep=slept.append
    )
    for _ in range(60):
        th.acquire(T1, max_wait=0).release()
    moment_before = list(slept)
    with pytest.raises(RateLimited):
        th.acquire(T1, max_wait=5)
    assert slept == moment_before  # the wait (60 s) is longer than 5 s: refused without sleeping
