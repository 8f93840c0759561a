"""Per-organisation rate limiting so Xero never has to say 429.

Xero's limits are per tenant (organisation) across every process of the app: 60 calls per
minute, 5 in flight, a daily budget (1,000 on the smallest tier, 5,000 on the standard one),
plus an app-wide minute limit. The count itself lives in a budget (``storage.budget``): in the
database every process shares, so web workers, the clock and other hosts spend from one
budget, or in memory for a process on its own. This module is the part each caller sees: how
long to wait, when to give up, and what Xero's headers say.

It never makes a caller hang: ``acquire`` waits at most ``max_wait`` seconds and otherwise raises
``RateLimited`` with how long the wait would be, so the user can be told to come back instead.
Time comes from the injected clock (the bot's ``now``), so limits move with the demo's jumps
and tests drive time by hand; ``max_wait`` is counted in the waiting actually done.

Within a process, threads asking for the same organisation take turns at the budget, and a
refusal ("full until 12:00:41") is remembered until then, so a crowd of waiting threads costs
the database one question per freed slot, not one per thread.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.xero.errors import RateLimited
from storage.budget import (
    BACKGROUND,
    FOREGROUND,
    LANES,
    BackgroundShare,
    Budget,
    Granted,
    Limits,
    LocalBudget,
    Observed,
    Refused,
)

log = logging.getLogger(__name__)

DAY_SECONDS = 86_400.0
CONCURRENT_POLL = 0.05  # another process may finish a call at any moment: look again this often

__all__ = ["BACKGROUND", "FOREGROUND", "Permit", "RateLimited", "Throttle", "default_throttle"]


class Permit:
    """One granted call; release it when the response (or failure) is in. Idempotent."""

    def __init__(self, throttle: Throttle, granted: Granted) -> None:
        self._throttle = throttle
        self._granted = granted
        self.tenant_id = granted.tenant_id
        self.lane = granted.lane
        self.acquired_at = granted.at
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._throttle._release(self._granted)

    def __enter__(self) -> Permit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class _Hint:
    """What this process last learnt about a tenant's lane: no slot before ``until``."""

    until: float
    problem: str
    real_until: float | None = None  # concurrency: another process may free a slot; ask again soon

    def holds(self, now: float) -> bool:
        if self.real_until is not None and time.monotonic() >= self.real_until:
            return False
        return self.until > now


class _TenantGate:
    def __init__(self) -> None:
        self.lock = threading.Lock()  # one thread at a time asks the budget for this tenant
        self.hints: dict[str, _Hint] = {}


class Throttle:
    """Thread-safe limiter; every ``XeroClient`` of a process shares one (and, through a
    database budget, every process shares the counts)."""

    def __init__(
        self,
        budget: Budget | None = None,
        *,
        per_minute: int = 60,
        concurrent: int = 5,
        daily: int = 5000,
        window: float = 60.0,
        app_per_minute: int = 10_000,
        background: BackgroundShare | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        poll: float = CONCURRENT_POLL,
    ) -> None:
        if budget is None:
            budget = LocalBudget(
                Limits(
                    per_minute=per_minute,
                    concurrent=concurrent,
                    daily=daily,
                    window=window,
                    app_per_minute=app_per_minute,
                ),
                background,
            )
        self.budget = budget
        self._clock = clock
        self._sleep = sleep
        self._poll = poll
        self._cond = threading.Condition()
        self._gates: dict[str, _TenantGate] = {}
        self._pending: dict[str, Observed] = {}
        # (operation, seconds, granted) for each trip to the budget: how bench/ measures the cost.
        self.stats: Callable[[str, float, bool], None] | None = None

    @property
    def limits(self) -> Limits:
        return self.budget.limits

    @property
    def per_minute(self) -> int:
        return self.limits.per_minute

    @property
    def concurrent(self) -> int:
        return self.limits.concurrent

    @property
    def daily(self) -> int:
        return self.limits.daily

    # ------------------------------------------------------------------ public

    def acquire(self, tenant_id: str, max_wait: float, lane: str = FOREGROUND) -> Permit:
        """Wait (at most ``max_wait`` s) for a slot, or raise ``RateLimited`` right away.

        Time-based waits (minute window, Retry-After, day budget) are known in advance, so a
        wait longer than what is left of ``max_wait`` fails fast instead of sleeping first.
        """
        if lane not in LANES:
            raise ValueError(f"lane must be one of {', '.join(LANES)}")
        budget_left = max(0.0, max_wait)
        gate = self._gate(tenant_id)
        while True:
            outcome = self._ask(gate, tenant_id, lane)
            if isinstance(outcome, Granted):
                return Permit(self, outcome)
            if outcome.problem == "concurrent":
                if budget_left <= 0:
                    raise RateLimited(1, "concurrent")
                budget_left -= self._wait_for_a_release(min(budget_left, self._poll, outcome.wait))
                continue
            if outcome.wait > budget_left:
                raise RateLimited(math.ceil(outcome.wait), outcome.problem)
            self._sleep(outcome.wait)
            budget_left -= outcome.wait

    def observe(self, tenant_id: str, headers: Mapping[str, str]) -> None:
        """Take Xero's own count into account: it sees every caller, we only see ours.

        Written down with the call's release (the client observes just before it releases), so
        listening costs no transaction of its own.
        """
        seen = Observed(
            _int_header(headers, "X-MinLimit-Remaining"),
            _int_header(headers, "X-DayLimit-Remaining"),
            _int_header(headers, "X-AppMinLimit-Remaining"),
        )
        if seen == Observed():
            return
        if seen.app_left is not None and seen.app_left <= 0:
            self.block(None, self.limits.window, "appminute")  # everyone waits: tell them now
        with self._cond:
            before = self._pending.get(tenant_id)
            self._pending[tenant_id] = before.merge(seen) if before else seen

    def block(self, tenant_id: str | None, retry_after: float, problem: str = "minute") -> None:
        """Honour a 429: nobody calls that tenant (or, app-wide, anyone) until then."""
        problem = (problem or "minute").lower()
        until = self._clock() + max(0.0, retry_after)
        self.budget.block(tenant_id, until, problem)
        with self._cond:
            everyone = tenant_id is None or problem.startswith("app")
            for tenant, gate in self._gates.items():
                if everyone or tenant == tenant_id:
                    gate.hints.clear()

    def in_flight(self, tenant_id: str) -> int:
        return self.budget.usage(tenant_id, self._clock()).in_flight

    def used_today(self, tenant_id: str) -> int:
        """Calls counted against the day's budget (ours, every process's, and what Xero reported)."""
        self._flush(tenant_id)
        return self.budget.usage(tenant_id, self._clock()).day_used

    # ------------------------------------------------------------------ internals

    def _gate(self, tenant_id: str) -> _TenantGate:
        with self._cond:
            gate = self._gates.get(tenant_id)
            if gate is None:
                gate = self._gates[tenant_id] = _TenantGate()
            return gate

    def _ask(self, gate: _TenantGate, tenant_id: str, lane: str) -> Granted | Refused:
        with gate.lock:
            now = self._clock()
            for known in (lane, FOREGROUND) if lane == BACKGROUND else (lane,):
                hint = gate.hints.get(known)
                if hint is not None and hint.holds(now):
                    return Refused(hint.problem, max(hint.until - now, 0.001))
            seen = self._take_pending(tenant_id)
            started = time.perf_counter()
            try:
                outcome = self.budget.try_acquire(tenant_id, lane, now, seen)
            except BaseException:
                self._put_back(tenant_id, seen)
                raise
            self._stat("acquire", time.perf_counter() - started, isinstance(outcome, Granted))
            if isinstance(outcome, Refused):
                if outcome.problem == "concurrent":
                    step = min(outcome.wait, self._poll)
                    gate.hints[lane] = _Hint(now + step, outcome.problem, time.monotonic() + step)
                else:
                    gate.hints[lane] = _Hint(now + outcome.wait, outcome.problem)
            else:
                gate.hints.pop(lane, None)
            return outcome

    def _wait_for_a_release(self, timeout: float) -> float:
        """Sleep until a call of this process finishes or ``timeout`` passes; real seconds waited."""
        started = time.monotonic()
        with self._cond:
            self._cond.wait(timeout=max(0.0, timeout))
        return time.monotonic() - started

    def _release(self, granted: Granted) -> None:
        seen = self._take_pending(granted.tenant_id)
        started = time.perf_counter()
        try:
            self.budget.release(granted, self._clock(), seen)
        except Exception:  # noqa: BLE001 - the call itself is done; its lease frees the slot
            # The user's call already succeeded or failed on its own: failing it now over
            # bookkeeping would be worse. The lease runs out and frees the slot by itself.
            log.warning(
                "xero budget: could not release a call to tenant=%s; its lease will expire", granted.tenant_id
            )
        self._stat("release", time.perf_counter() - started, True)
        with self._cond:
            gate = self._gates.get(granted.tenant_id)
            if gate is not None:
                for lane, hint in list(gate.hints.items()):
                    if hint.problem == "concurrent":
                        del gate.hints[lane]
            self._cond.notify_all()

    def _take_pending(self, tenant_id: str) -> Observed | None:
        with self._cond:
            return self._pending.pop(tenant_id, None)

    def _put_back(self, tenant_id: str, seen: Observed | None) -> None:
        if seen is not None:
            with self._cond:
                before = self._pending.get(tenant_id)
                self._pending[tenant_id] = before.merge(seen) if before else seen

    def _flush(self, tenant_id: str) -> None:
        seen = self._take_pending(tenant_id)
        if seen is not None:
            self.budget.observe(tenant_id, seen, self._clock())

    def _stat(self, operation: str, seconds: float, granted: bool) -> None:
        if self.stats is not None:
            self.stats(operation, seconds, granted)


def clock_of(now: Callable[[], object]) -> Callable[[], float]:
    """The throttle's clock from the bot's ``now`` (an aware datetime): POSIX seconds."""
    return lambda: now().timestamp()  # type: ignore[attr-defined]


_default: Throttle | None = None
_default_lock = threading.Lock()


def default_throttle() -> Throttle:
    """The process-wide limiter for clients built without one: every client in a process must
    share one, or each would think it has Xero's whole budget to itself."""
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
