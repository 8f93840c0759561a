from __future__ import annotations

import queue
import threading

import pytest

from bot.sandbox.xero.limits import busiest_window
from bot.xero.errors import RateLimited
from bot.xero.throttle import Throttle
from tests.xero.fakes import FakeClock

T1 = "tenant-1"
T2 = "tenant-2"


def make(clock: FakeClock, **kw) -> Throttle:
    return Throttle(clock=clock, sleep=clock.sleep, **kw)


def test_never_more_than_60_calls_in_a_rolling_minute():
    clock = FakeClock()
    th = make(clock)
    times = []
    for i in range(250):
        with th.acquire(T1, max_wait=120) as permit:
            times.append(permit.acquired_at)
        clock.advance(0.1 if i % 7 else 0.9)  # uneven request durations
    assert busiest_window(times, 60.0) == 60
    assert clock.sleeps, "the limiter had to wait at least once"


def test_threads_with_fake_clock_still_respect_the_minute():
    clock = FakeClock()
    th = make(clock)
    times: list[float] = []
    lock = threading.Lock()

    def worker():
        for _ in range(30):
            with th.acquire(T1, max_wait=600) as permit, lock:
                times.append(permit.acquired_at)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(times) == 180
    assert busiest_window(times, 60.0) <= 60


def test_over_max_wait_raises_locally_without_sleeping():
    clock = FakeClock()
    th = make(clock)
    for _ in range(60):
        th.acquire(T1, max_wait=0).release()
    with pytest.raises(RateLimited) as info:
        th.acquire(T1, max_wait=5)
    assert info.value.problem == "minute"
    assert 55 <= info.value.retry_after <= 60
    assert clock.sleeps == []
    assert "try again in" in str(info.value)
    # Another organisation has its own budget.
    th.acquire(T2, max_wait=0).release()


def test_waits_when_the_wait_fits_in_max_wait():
    clock = FakeClock()
    th = make(clock)
    for _ in range(60):
        th.acquire(T1, max_wait=0).release()
    clock.advance(58)
    th.acquire(T1, max_wait=5).release()
    assert clock.sleeps and sum(clock.sleeps) == pytest.approx(2.0)


def test_at_most_five_in_flight_per_tenant():
    th = Throttle()  # real clock; waiting here is on a condition, never a timer
    acquired: queue.Queue = queue.Queue()
    gates = [threading.Event() for _ in range(12)]
    state = {"now": 0, "max": 0}
    lock = threading.Lock()

    def worker(i: int):
        permit = th.acquire(T1, max_wait=30)
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        acquired.put(i)
        gates[i].wait(30)
        with lock:
            state["now"] -= 1
        permit.release()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    first = [acquired.get(timeout=10) for _ in range(5)]
    # Release one at a time: each release lets exactly one more through.
    holders = list(first)
    for _ in range(7):
        gates[holders.pop(0)].set()
        holders.append(acquired.get(timeout=10))
    for i in holders:
        gates[i].set()
    for t in threads:
        t.join(10)
    assert state["max"] == 5
    assert th.in_flight(T1) == 0


def test_concurrency_full_and_no_wait_allowed_is_rate_limited():
    clock = FakeClock()
    th = make(clock)
    permits = [th.acquire(T1, max_wait=0) for _ in range(5)]
    with pytest.raises(RateLimited) as info:
        th.acquire(T1, max_wait=0)
    assert info.value.problem == "concurrent"
    permits[0].release()
    permits[0].release()  # idempotent: must not free a second slot
    th.acquire(T1, max_wait=0)
    with pytest.raises(RateLimited):
        th.acquire(T1, max_wait=0)


def test_retry_after_blocks_only_that_tenant_until_then():
    clock = FakeClock()
    th = make(clock)
    th.block(T1, 30, "minute")
    with pytest.raises(RateLimited) as info:
        th.acquire(T1, max_wait=5)
    assert info.value.retry_after == 30
    th.acquire(T2, max_wait=0).release()
    clock.advance(30)
    th.acquire(T1, max_wait=0).release()


def test_app_wide_block_applies_to_every_tenant():
    clock = FakeClock()
    th = make(clock)
    th.block(T1, 20, "appminute")
    for tenant in (T1, T2):
        with pytest.raises(RateLimited) as info:
            th.acquire(tenant, max_wait=1)
        assert info.value.problem == "appminute"


def test_minute_remaining_header_lowers_the_budget():
    clock = FakeClock()
    th = make(clock)
    th.acquire(T1, max_wait=0).release()
    th.observe(T1, {"X-MinLimit-Remaining": "2", "X-DayLimit-Remaining": "4000"})
    th.acquire(T1, max_wait=0).release()
    th.acquire(T1, max_wait=0).release()
    with pytest.raises(RateLimited) as info:
        th.acquire(T1, max_wait=0)
    assert info.value.problem == "minute"


def test_day_remaining_header_and_daily_budget():
    clock = FakeClock()
    th = make(clock, daily=1000)
    th.observe(T1, {"X-DayLimit-Remaining": "1"})
    th.acquire(T1, max_wait=0).release()
    with pytest.raises(RateLimited) as info:
        th.acquire(T1, max_wait=60)
    assert info.value.problem == "day"
    assert info.value.retry_after > 3600
    assert "daily" in str(info.value)
    assert th.used_today(T1) == 1000
    clock.advance(86_400)
    th.acquire(T1, max_wait=0).release()


def test_daily_budget_counts_our_own_calls():
    clock = FakeClock()
    th = make(clock, daily=3, per_minute=100)
    for _ in range(3):
        th.acquire(T1, max_wait=0).release()
    with pytest.raises(RateLimited) as info:
        th.acquire(T1, max_wait=0)
    assert info.value.problem == "day"


def test_higher_remaining_than_ours_changes_nothing_and_junk_is_ignored():
    clock = FakeClock()
    th = make(clock, per_minute=3)
    th.observe(T1, {"X-MinLimit-Remaining": "59", "X-DayLimit-Remaining": "nonsense"})
    for _ in range(3):
        th.acquire(T1, max_wait=0).release()
    with pytest.raises(RateLimited):
        th.acquire(T1, max_wait=0)


def test_app_remaining_zero_pauses_everyone():
    clock = FakeClock()
    th = make(clock)
    th.observe(T1, {"X-AppMinLimit-Remaining": "0"})
    with pytest.raises(RateLimited) as info:
        th.acquire(T2, max_wait=0)
    assert info.value.problem == "appminute"


def test_calls_count_from_when_they_finish():
    clock = FakeClock()
    th = make(clock, per_minute=1)
    permit = th.acquire(T1, max_wait=0)
    clock.advance(50)  # a slow request
    permit.release()
    clock.advance(20)  # 70 s after it started but only 20 s after it finished
    with pytest.raises(RateLimited) as info:
        th.acquire(T1, max_wait=0)
    assert info.value.retry_after == 40
