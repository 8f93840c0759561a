"""Per-organisation rate limiting so Xero never has to say 429.

Xero's limits are per tenant (organisation): 60 calls per minute, 5 in flight, a daily budget
(5,000, or 1,000 on the smallest plan), plus an app-wide minute limit. This limiter keeps each
process under them, listens to the ``X-*-Remaining`` headers when Xero knows better (other
processes share the same budget), and honours ``Retry-After`` after a 429.

It never makes a caller hang: ``acquire`` waits at most ``max_wait`` seconds and otherwise raises
``RateLimited`` with how long the wait would be, so the user can be told to come back instead.
Clock and sleep are injectable so tests drive time by hand.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot.xero.errors import RateLimited

DAY_SECONDS = 86_400.0
_MIN_WAIT = 0.001  # a full window always means "wait", however the floats round


@dataclass
class _Stamp:
    """When a call counted against the minute window; ``None`` while it is still in flight."""

    t: float | None = None


@dataclass
class _TenantState:
    minute: list[_Stamp] = field(default_factory=list)
    day: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    blocked_until: float = 0.0
    blocked_problem: str = "minute"


class Permit:
    """One granted call; release it when the response (or failure) is in. Idempotent."""

    def __init__(self, throttle: Throttle, tenant_id: str, stamp: _Stamp, acquired_at: float) -> None:
        self._throttle = throttle
        self.tenant_id = tenant_id
        self._stamp = stamp
        self.acquired_at = acquired_at
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._throttle._release(self.tenant_id, self._stamp)

    def __enter__(self) -> Permit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Throttle:
    """Thread-safe limiter shared by every ``XeroClient`` in the process."""

    def __init__(
        self,
        *,
        per_minute: int = 60,
        concurrent: int = 5,
        daily: int = 5000,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute < 1 or concurrent < 1 or daily < 1:
            raise ValueError("limits must be positive")
        self.per_minute = per_minute
        self.concurrent = concurrent
        self.daily = daily
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._tenants: dict[str, _TenantState] = {}
        self._app_blocked_until = 0.0
        self._app_problem = "appminute"

    # ------------------------------------------------------------------ public

    def acquire(self, tenant_id: str, max_wait: float) -> Permit:
        """Wait (at most ``max_wait`` s) for a slot, or raise ``RateLimited`` right away.

        Time-based waits (minute window, Retry-After, day budget) are known in advance, so a
        wait longer than ``max_wait`` fails fast instead of sleeping first.
        """
        deadline = self._clock() + max(0.0, max_wait)
        while True:
            with self._cond:
                now = self._clock()
                state = self._state(tenant_id)
                self._expire(state, now)
                wait, problem = self._time_wait(state, now)
                if wait <= 0:
                    if state.in_flight < self.concurrent:
                        return self._grant(tenant_id, state, now)
                    remaining = deadline - now
                    # Slots free up when another call finishes: wait for that signal, not a timer.
                    if remaining <= 0 or not self._cond.wait(timeout=remaining):
                        raise RateLimited(1, "concurrent")
                    continue
                if now + wait > deadline:
                    raise RateLimited(math.ceil(wait), problem)
            self._sleep(wait)

    def observe(self, tenant_id: str, headers: Mapping[str, str]) -> None:
        """Take Xero's own count into account: it sees every process, we only see ours."""
        minute_left = _int_header(headers, "X-MinLimit-Remaining")
        day_left = _int_header(headers, "X-DayLimit-Remaining")
        app_left = _int_header(headers, "X-AppMinLimit-Remaining")
        with self._cond:
            now = self._clock()
            state = self._state(tenant_id)
            self._expire(state, now)
            if minute_left is not None:
                ours = self.per_minute - len(state.minute)
                state.minute.extend(_Stamp(now) for _ in range(max(0, ours - max(0, minute_left))))
            if day_left is not None:
                ours = self.daily - len(state.day)
                state.day.extend(now for _ in range(max(0, ours - max(0, day_left))))
            if app_left is not None and app_left <= 0:
                self._app_blocked_until = max(self._app_blocked_until, now + self.window)
                self._app_problem = "appminute"

    def block(self, tenant_id: str | None, retry_after: float, problem: str = "minute") -> None:
        """Honour a 429: nobody in this process calls that tenant (or, app-wide, anyone) until then."""
        problem = (problem or "minute").lower()
        with self._cond:
            until = self._clock() + max(0.0, retry_after)
            if tenant_id is None or problem.startswith("app"):
                if until > self._app_blocked_until:
                    self._app_blocked_until, self._app_problem = until, problem
                return
            state = self._state(tenant_id)
            if until > state.blocked_until:
                state.blocked_until, state.blocked_problem = until, problem

    def in_flight(self, tenant_id: str) -> int:
        with self._cond:
            return self._state(tenant_id).in_flight

    def used_today(self, tenant_id: str) -> int:
        """Calls counted against the rolling day budget (ours plus what Xero reported)."""
        with self._cond:
            state = self._state(tenant_id)
            self._expire(state, self._clock())
            return len(state.day)

    # ------------------------------------------------------------------ internals

    def _state(self, tenant_id: str) -> _TenantState:
        state = self._tenants.get(tenant_id)
        if state is None:
            state = self._tenants[tenant_id] = _TenantState()
        return state

    def _expire(self, state: _TenantState, now: float) -> None:
        # Same arithmetic as the waits in _time_wait (t + window vs now), so float rounding can
        # never make a slot look both expired and not expired.
        state.minute = [s for s in state.minute if s.t is None or s.t + self.window > now]
        while state.day and state.day[0] + DAY_SECONDS <= now:
            state.day.popleft()

    def _time_wait(self, state: _TenantState, now: float) -> tuple[float, str]:
        waits: list[tuple[float, str]] = [
            (state.blocked_until - now, state.blocked_problem),
            (self._app_blocked_until - now, self._app_problem),
        ]
        if len(state.day) >= self.daily:
            free_at = state.day[len(state.day) - self.daily] + DAY_SECONDS
            waits.append((max(free_at - now, _MIN_WAIT), "day"))
        if len(state.minute) >= self.per_minute:
            done = sorted(s.t for s in state.minute if s.t is not None)
            excess = len(state.minute) - self.per_minute
            # All slots held by calls still in flight: the next one frees within a window.
            free_at = done[excess] + self.window if excess < len(done) else now + self.window
            waits.append((max(free_at - now, _MIN_WAIT), "minute"))
        return max(waits)

    def _grant(self, tenant_id: str, state: _TenantState, now: float) -> Permit:
        stamp = _Stamp()
        state.minute.append(stamp)
        state.day.append(now)
        state.in_flight += 1
        return Permit(self, tenant_id, stamp, now)

    def _release(self, tenant_id: str, stamp: _Stamp) -> None:
        with self._cond:
            # Count the call from when it finished: Xero saw it at some point before that, so
            # the window we keep is never shorter than Xero's.
            stamp.t = self._clock()
            state = self._state(tenant_id)
            state.in_flight = max(0, state.in_flight - 1)
            self._cond.notify_all()


_default: Throttle | None = None
_default_lock = threading.Lock()


XERO_PER_MINUTE = 60
XERO_CONCURRENT = 5


def shared_throttle(*, daily: int = 5000, processes: int = 1) -> Throttle:
    """This process's equal share of each organisation's limits, when ``processes`` call Xero.

    Xero counts calls per organisation across every process of the app; the throttle lives in
    one process. Giving each process ``1/processes`` of the minute, concurrency and daily budgets
    keeps the sum inside Xero's limits without cross-process coordination (at the cost of some
    idle headroom when one process is busy and the others are not). Never less than one.
    """
    n = max(1, processes)
    return Throttle(
        per_minute=max(1, XERO_PER_MINUTE // n),
        concurrent=max(1, XERO_CONCURRENT // n),
        daily=max(1, daily // n),
    )


def default_throttle() -> Throttle:
    """The process-wide limiter: every client in a process must share one, or each would think
    it has Xero's whole budget to itself."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Throttle()
        return _default


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None
