"""Xero's API rate limits, on the sandbox clock.

Per tenant: 60 calls in any rolling minute, 5 in flight, a daily allowance (5,000 by default,
1,000 on Xero's smallest plan) in a fixed 24-hour window whose reset time differs per tenant;
app-wide: 10,000 calls per rolling minute. A call turned away with 429 does not count against
any limit (guess: Xero says extra calls while limited *may* extend the block; the sandbox
keeps the simpler, predictable rule).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import deque
from dataclasses import dataclass, field

from .clock import SandboxClock

DAY = 86_400.0
MINUTE = 60.0


def busiest_window(times: list[float], window: float = MINUTE) -> int:
    """The most calls any rolling ``window`` held: what Xero's minute limit sees of a run, for
    the tests and benchmarks that check a client kept to it."""
    times = sorted(times)
    best = lo = 0
    for hi, t in enumerate(times):
        while times[lo] + window <= t:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


@dataclass(frozen=True)
class Rejection:
    problem: str  # minute | day | concurrent | appminute
    retry_after: int  # seconds


@dataclass
class _TenantState:
    minute: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    day_window_start: float | None = None
    day_count: int = 0


class RateLimiter:
    """Admits or refuses calls; ``acquire`` and ``release`` must pair for admitted calls."""

    def __init__(
        self,
        clock: SandboxClock,
        *,
        per_minute: int = 60,
        concurrent: int = 5,
        daily: int = 5000,
        app_per_minute: int = 10_000,
    ) -> None:
        self.clock = clock
        self.per_minute = per_minute
        self.concurrent = concurrent
        self.daily = daily
        self.app_per_minute = app_per_minute
        self._tenants: dict[str, _TenantState] = {}
        self._app_minute: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self, tenant_id: str) -> Rejection | None:
        """Count a call for ``tenant_id``, or say which limit it hits and when to come back."""
        now = self.clock.timestamp()
        with self._lock:
            state = self._tenants.setdefault(tenant_id, _TenantState())
            self._roll(state, tenant_id, now)
            if state.day_count >= self.daily:
                assert state.day_window_start is not None
                return Rejection("day", _ceil(state.day_window_start + DAY - now))
            if state.in_flight >= self.concurrent:
                return Rejection("concurrent", 1)
            if len(state.minute) >= self.per_minute:
                return Rejection("minute", _ceil(state.minute[0] + MINUTE - now))
            if len(self._app_minute) >= self.app_per_minute:
                return Rejection("appminute", _ceil(self._app_minute[0] + MINUTE - now))
            state.minute.append(now)
            self._app_minute.append(now)
            state.day_count += 1
            state.in_flight += 1
            return None

    def release(self, tenant_id: str) -> None:
        with self._lock:
            state = self._tenants.get(tenant_id)
            if state is not None and state.in_flight > 0:
                state.in_flight -= 1

    def remaining(self, tenant_id: str) -> dict[str, str]:
        """The ``X-…-Remaining`` headers Xero puts on every accounting response."""
        now = self.clock.timestamp()
        with self._lock:
            state = self._tenants.setdefault(tenant_id, _TenantState())
            self._roll(state, tenant_id, now)
            return {
                "X-DayLimit-Remaining": str(max(self.daily - state.day_count, 0)),
                "X-MinLimit-Remaining": str(max(self.per_minute - len(state.minute), 0)),
                "X-AppMinLimit-Remaining": str(max(self.app_per_minute - len(self._app_minute), 0)),
            }

    def _roll(self, state: _TenantState, tenant_id: str, now: float) -> None:
        while state.minute and state.minute[0] <= now - MINUTE:
            state.minute.popleft()
        while self._app_minute and self._app_minute[0] <= now - MINUTE:
            self._app_minute.popleft()
        start = _window_start(tenant_id, now)
        if state.day_window_start != start:
            state.day_window_start = start
            state.day_count = 0


def _window_start(tenant_id: str, now: float) -> float:
    """Start of the tenant's current daily window; each tenant resets at its own time of day."""
    offset = int(hashlib.sha256(tenant_id.encode()).hexdigest()[:8], 16) % int(DAY)
    return math.floor((now - offset) / DAY) * DAY + offset


def _ceil(seconds: float) -> int:
    return max(1, math.ceil(seconds))
