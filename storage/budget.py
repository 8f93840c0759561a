"""Xero's call budget, shared by every process through the database they already share.

Xero counts per organisation across every process of the app: 60 calls in any rolling minute,
5 in flight, a daily budget, plus 10,000 calls a minute app-wide. A limit kept in each process
would let two processes make 120 calls a minute between them, so the state lives here:

* one row per organisation (``xero_budget_tenants``) with the minute's slots, the calls in
  flight and the day's count. Taking a slot is one short transaction that locks that row
  (``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), decides in Python and
  writes the row back: three statements, whatever the load, and organisations never wait on
  each other;
* a call in flight holds a *lease*. A process that dies mid-call never releases, so its slot
  frees itself when the lease runs out (and its minute slot a window later, as Xero saw a call);
* a minute slot is taken at acquire and freed a window after the call *finished*: Xero saw the
  call somewhere between those two moments, so our window is never shorter than Xero's;
* the app-wide limit counts calls in short buckets (``xero_budget_app``) and sums the buckets
  that any minute ending now can touch, so it never under-counts a rolling minute.

Lanes: background work (the mirror's sync) may not take the last ``minute_reserve`` slots of a
minute nor the last ``concurrent_reserve`` calls in flight, and stops at ``day_share`` of the
day, so a person asking something always finds room.

Times are POSIX seconds from the caller's clock (the bot's injected clock), never the
database's: the demo moves time by days and the limits must move with it. Processes on several
hosts therefore need synchronised clocks (NTP), as token expiry already does.

:class:`LocalBudget` applies the same rules in memory, for a process with no database to share.
"""

from __future__ import annotations

import json
import math
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError

from storage.db import Database

T = TypeVar("T")

FOREGROUND = "foreground"
BACKGROUND = "background"
LANES = (FOREGROUND, BACKGROUND)
APP_ROW = "*"  # the app-wide block lives in the tenants table under this id
DAY_SECONDS = 86_400.0
APP_BUCKET_SECONDS = 2.0
_MIN_WAIT = 0.001  # a full window always means "wait", however the floats round


@dataclass(frozen=True)
class Limits:
    """Xero's limits per organisation (``per_minute``, ``concurrent``, ``daily``) and per app."""

    per_minute: int = 60
    concurrent: int = 5
    daily: int = 5000
    app_per_minute: int = 10_000
    window: float = 60.0
    lease: float = 60.0  # longer than any one request may take (connect + read timeouts)

    def __post_init__(self) -> None:
        if min(self.per_minute, self.concurrent, self.daily, self.app_per_minute) < 1:
            raise ValueError("limits must be positive")


@dataclass(frozen=True)
class BackgroundShare:
    """What the background lane may never take from an organisation's budget."""

    minute_reserve: int = 20  # of each minute's slots, kept for people
    concurrent_reserve: int = 1  # of the calls in flight
    day_share: float = 0.5  # the most of the day's budget background work may use

    def minute_cap(self, limits: Limits) -> int:
        return max(1, limits.per_minute - max(0, self.minute_reserve))

    def concurrent_cap(self, limits: Limits) -> int:
        return max(1, limits.concurrent - max(0, self.concurrent_reserve))

    def day_cap(self, limits: Limits) -> int:
        return max(1, math.floor(limits.daily * min(1.0, max(0.0, self.day_share))))


@dataclass(frozen=True)
class Granted:
    """A slot: ``token`` identifies the lease when the call is released."""

    tenant_id: str
    token: str
    lane: str
    at: float
    minute_used: int = 0  # the counts just after this grant: what Xero's headers are compared
    day_used: int = 0  # with at release, so agreeing headers cost no read of the row


@dataclass(frozen=True)
class Refused:
    """No slot now. ``wait`` is how long until one frees for a time limit; for ``concurrent``
    it is only an upper bound (the lease), as another call may finish any moment."""

    problem: str
    wait: float


@dataclass(frozen=True)
class Observed:
    """What Xero's ``X-*-Remaining`` headers said (None: not sent or unreadable)."""

    minute_left: int | None = None
    day_left: int | None = None
    app_left: int | None = None

    def merge(self, newer: Observed) -> Observed:
        """Two answers before we wrote either down: the lower count left is the later one."""
        return Observed(
            _lowest(self.minute_left, newer.minute_left),
            _lowest(self.day_left, newer.day_left),
            _lowest(self.app_left, newer.app_left),
        )


def tells_more(seen: Observed | None, granted: Granted, limits: Limits) -> bool:
    """Could these headers change the budget, given what it held when the call was granted?

    Calls granted to others while this one was in flight are in the database too, so Xero may
    count up to ``concurrent`` more than we knew of without telling us anything new.
    """
    if seen is None:
        return False
    slack = limits.concurrent
    if seen.minute_left is not None and limits.per_minute - seen.minute_left > granted.minute_used + slack:
        return True
    if seen.day_left is not None and limits.daily - seen.day_left > granted.day_used + slack:
        return True
    return seen.app_left is not None and seen.app_left <= slack


@dataclass(frozen=True)
class Usage:
    in_flight: int
    minute_used: int
    day_used: int
    day_background: int


# --------------------------------------------------------------------------- the rules


@dataclass
class TenantState:
    """One organisation's row, as Python: the rules below are the same for both homes."""

    minute: list[float] = field(default_factory=list)  # when each finished call's slot frees
    in_flight: dict[str, list] = field(default_factory=dict)  # token -> [lease_until, lane]
    day_started: float = 0.0
    day_used: int = 0
    day_background: int = 0
    blocked_until: float = 0.0
    blocked_problem: str = "minute"

    def expire(self, now: float, limits: Limits) -> None:
        for token, (lease_until, _lane) in list(self.in_flight.items()):
            if lease_until <= now:  # its process died mid-call: Xero saw a call, count it
                del self.in_flight[token]
                self.minute.append(lease_until + limits.window)
        self.minute = [t for t in self.minute if t > now]
        if self.day_started and self.day_started + DAY_SECONDS <= now:
            self.day_started, self.day_used, self.day_background = 0.0, 0, 0

    def minute_used(self) -> int:
        return len(self.minute) + len(self.in_flight)

    def refusal(
        self, lane: str, now: float, limits: Limits, share: BackgroundShare, app_wait: float = 0.0
    ) -> Refused | None:
        """Why this lane may not call now (the longest of the time waits), or None."""
        background = lane == BACKGROUND
        waits: list[tuple[float, str]] = [(self.blocked_until - now, self.blocked_problem), app_wait]
        day_full = self.day_used >= limits.daily or (
            background and self.day_background >= share.day_cap(limits)
        )
        if day_full:
            waits.append((max(self.day_started + DAY_SECONDS - now, _MIN_WAIT), "day"))
        cap = share.minute_cap(limits) if background else limits.per_minute
        used = self.minute_used()
        if used >= cap:
            finished = sorted(self.minute)
            excess = used - cap
            # Slots held by calls still in flight free a window after they finish, at the earliest.
            free_at = finished[excess] if excess < len(finished) else now + limits.window
            waits.append((max(free_at - now, _MIN_WAIT), "minute"))
        wait, problem = max(waits, key=lambda w: w[0])
        if wait > 0:
            return Refused(problem, wait)
        if len(self.in_flight) >= (share.concurrent_cap(limits) if background else limits.concurrent):
            soonest = min(lease for lease, _ in self.in_flight.values())
            return Refused("concurrent", max(soonest - now, _MIN_WAIT))
        return None

    def grant(self, tenant_id: str, lane: str, now: float, limits: Limits) -> Granted:
        token = uuid.uuid4().hex[:16]
        self.in_flight[token] = [now + limits.lease, lane]
        if not self.day_started:
            self.day_started = now
        self.day_used += 1
        if lane == BACKGROUND:
            self.day_background += 1
        return Granted(tenant_id, token, lane, now, self.minute_used(), self.day_used)

    def release(self, token: str, now: float, limits: Limits) -> None:
        """Idempotent: a lease that already expired was counted when it did."""
        if self.in_flight.pop(token, None) is not None:
            self.minute.append(now + limits.window)

    def observe(self, seen: Observed, now: float, limits: Limits) -> None:
        """Xero's count sees every caller of this app; where it has used more, believe it."""
        if seen.minute_left is not None:
            extra = (limits.per_minute - max(0, seen.minute_left)) - self.minute_used()
            self.minute.extend([now + limits.window] * max(0, extra))
        if seen.day_left is not None:
            xero_used = limits.daily - max(0, seen.day_left)
            if xero_used > self.day_used:
                self.day_used = xero_used
                self.day_started = self.day_started or now

    def block(self, until: float, problem: str) -> None:
        if until > self.blocked_until:
            self.blocked_until, self.blocked_problem = until, problem

    def usage(self) -> Usage:
        return Usage(len(self.in_flight), self.minute_used(), self.day_used, self.day_background)


def app_bucket(now: float) -> int:
    return math.floor(now / APP_BUCKET_SECONDS)


def app_buckets_in_a_minute(limits: Limits) -> int:
    """How many buckets a rolling minute ending now can touch (the current one included)."""
    return math.ceil(limits.window / APP_BUCKET_SECONDS) + 1


def _lowest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _normal_problem(problem: str) -> str:
    return (problem or "minute").strip().lower()[:40] or "minute"


# --------------------------------------------------------------------------- in the database


_READ = (
    "SELECT t.minute, t.in_flight, t.day_started, t.day_used, t.day_background, "
    "t.blocked_until, t.blocked_problem FROM xero_budget_tenants t WHERE t.tenant_id = :tenant"
)
# The organisation's row, the app-wide block and the app's calls in the last minute, in one go.
_READ_FOR_ACQUIRE = (
    "SELECT t.minute, t.in_flight, t.day_started, t.day_used, t.day_background, "
    "t.blocked_until, t.blocked_problem, "
    "(SELECT a.blocked_until FROM xero_budget_tenants a WHERE a.tenant_id = :app), "
    "(SELECT a.blocked_problem FROM xero_budget_tenants a WHERE a.tenant_id = :app), "
    "(SELECT COALESCE(SUM(b.calls), 0) FROM xero_budget_app b WHERE b.bucket > :oldest) "
    "FROM xero_budget_tenants t WHERE t.tenant_id = :tenant"
)


class DatabaseBudget:
    """The budget in the shared database: every process that opens it shares one set of limits."""

    def __init__(
        self, db: Database, limits: Limits | None = None, background: BackgroundShare | None = None
    ) -> None:
        self.db = db
        self.limits = limits or Limits()
        self.background = background or BackgroundShare()
        self._pg = not db.is_sqlite
        self._engine = _budget_engine(db) if self._pg else db.engine
        # The budget's own pool goes with it (or with ``close``), not with the process.
        self._closer = weakref.finalize(self, self._engine.dispose) if self._pg else None
        self._read_for_acquire = text(_READ_FOR_ACQUIRE + (" FOR UPDATE OF t" if self._pg else ""))
        self._read = text(_READ + (" FOR UPDATE OF t" if self._pg else ""))
        self._peek_for_acquire = text(_READ_FOR_ACQUIRE)
        self._peek = text(
            "SELECT minute, in_flight, day_started, day_used, day_background, blocked_until, "
            "blocked_problem FROM xero_budget_tenants WHERE tenant_id = :tenant"
        )
        self._write = text(
            "UPDATE xero_budget_tenants SET minute = :minute, in_flight = :in_flight, "
            "day_started = :day_started, day_used = :day_used, day_background = :day_background, "
            "blocked_until = :blocked_until, blocked_problem = :blocked_problem WHERE tenant_id = :tenant"
        )
        self._seed = text(
            "INSERT INTO xero_budget_tenants (tenant_id, minute, in_flight, day_started, day_used, "
            "day_background, blocked_until, blocked_problem) "
            "VALUES (:tenant, '[]', '{}', 0, 0, 0, 0, 'minute') ON CONFLICT (tenant_id) DO NOTHING"
        )
        self._count_app = text(
            "INSERT INTO xero_budget_app (bucket, calls) VALUES (:bucket, :n) "
            "ON CONFLICT (bucket) DO UPDATE SET calls = xero_budget_app.calls + :n"
        )
        self._lock_app = text(
            "SELECT (SELECT COALESCE(SUM(b.calls), 0) FROM xero_budget_app b WHERE b.bucket > :oldest) "
            "FROM xero_budget_tenants a WHERE a.tenant_id = :app FOR UPDATE"
        )
        self._prune_app = text("DELETE FROM xero_budget_app WHERE bucket <= :oldest")
        # PostgreSQL: the grant and the app's count in one statement (one round trip).
        self._write_and_count = text(
            "WITH t AS (UPDATE xero_budget_tenants SET minute = :minute, in_flight = :in_flight, "
            "day_started = :day_started, day_used = :day_used, day_background = :day_background, "
            "blocked_until = :blocked_until, blocked_problem = :blocked_problem "
            "WHERE tenant_id = :tenant RETURNING 1) "
            "INSERT INTO xero_budget_app (bucket, calls) VALUES (:bucket, :n) "
            "ON CONFLICT (bucket) DO UPDATE SET calls = xero_budget_app.calls + :n"
        )
        # The release when Xero's headers tell nothing new: one statement, no read.
        self._quick_release = text(
            "UPDATE xero_budget_tenants SET "
            "in_flight = (CAST(in_flight AS jsonb) - CAST(:token AS text))::text, "
            "minute = (CAST(minute AS jsonb) || to_jsonb(CAST(:free_at AS double precision)))::text "
            "WHERE tenant_id = :tenant AND jsonb_exists(CAST(in_flight AS jsonb), CAST(:token AS text))"
            if self._pg
            else "UPDATE xero_budget_tenants SET in_flight = json_remove(in_flight, :path), "
            "minute = json_insert(minute, '$[#]', :free_at) "
            "WHERE tenant_id = :tenant AND json_type(in_flight, :path) IS NOT NULL"
        )
        self._seeded: set[str] = set()
        self._busy: set[tuple[str, str]] = set()  # (tenant, lane) whose last answer was "not yet"
        self._seed_lock = threading.Lock()
        self._last_prune = 0

    def close(self) -> None:
        if self._closer is not None:
            self._closer()

    # ------------------------------------------------------------------ the four operations

    def try_acquire(
        self, tenant_id: str, lane: str, now: float, seen: Observed | None = None
    ) -> Granted | Refused:
        """One transaction: lock the organisation's row, decide, write it back."""
        return _once_more(lambda: self._try_acquire(tenant_id, lane, now, seen))

    def _try_acquire(self, tenant_id: str, lane: str, now: float, seen: Observed | None) -> Granted | Refused:
        self._ensure(tenant_id)
        limits = self.limits
        oldest = app_bucket(now) - app_buckets_in_a_minute(limits)
        if seen is None and (tenant_id, lane) in self._busy:
            # While an organisation is busy most trips end in "not yet": find that out with one
            # read that locks nothing, and lock the row only to take a slot that looks free.
            refused = self._peek_refusal(tenant_id, lane, now, oldest)
            if refused is not None:
                return refused
        outcome = self._locked_acquire(tenant_id, lane, now, seen, oldest)
        if isinstance(outcome, Refused):
            self._busy.add((tenant_id, lane))
        else:
            self._busy.discard((tenant_id, lane))
        return outcome

    def _locked_acquire(
        self, tenant_id: str, lane: str, now: float, seen: Observed | None, oldest: int
    ) -> Granted | Refused:
        limits = self.limits
        with self._transaction() as conn:
            row = conn.execute(
                self._read_for_acquire, {"tenant": tenant_id, "oldest": oldest, "app": APP_ROW}
            ).one()
            state = _state(row)
            app_until, app_problem, app_used = float(row[7] or 0.0), row[8] or "appminute", int(row[9])
            state.expire(now, limits)
            if seen is not None:
                state.observe(seen, now, limits)
                app_until, app_used = self._observe_app(conn, seen, now, app_until, app_used)
            app_wait = (app_until - now, app_problem)
            if app_until <= now and app_used + 1 > limits.app_per_minute - self._app_margin():
                app_wait = self._app_wait(conn, oldest, now)
            refused = state.refusal(lane, now, limits, self.background, app_wait)
            if refused is not None:
                if seen is not None:
                    conn.execute(self._write, _row(tenant_id, state))
                return refused
            granted = state.grant(tenant_id, lane, now, limits)
            if self._pg:
                conn.execute(
                    self._write_and_count, {**_row(tenant_id, state), "bucket": app_bucket(now), "n": 1}
                )
            else:
                conn.execute(self._write, _row(tenant_id, state))
                conn.execute(self._count_app, {"bucket": app_bucket(now), "n": 1})
            self._maybe_prune(conn, oldest)
            return granted

    def release(self, granted: Granted, now: float, seen: Observed | None = None) -> None:
        _once_more(lambda: self._release(granted, now, seen))

    def _peek_refusal(self, tenant_id: str, lane: str, now: float, oldest: int) -> Refused | None:
        with self._engine.connect() as conn:
            if self._pg:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            row = conn.execute(
                self._peek_for_acquire, {"tenant": tenant_id, "oldest": oldest, "app": APP_ROW}
            ).one()
            if not self._pg:
                conn.rollback()
        state = _state(row)
        state.expire(now, self.limits)
        app_until, app_problem, app_used = float(row[7] or 0.0), row[8] or "appminute", int(row[9])
        app_wait = (app_until - now, app_problem)
        if app_until <= now and app_used + 1 > self.limits.app_per_minute:
            app_wait = (_MIN_WAIT, "appminute")  # the locked read works out how long
        return state.refusal(lane, now, self.limits, self.background, app_wait)

    def _release(self, granted: Granted, now: float, seen: Observed | None) -> None:
        self._ensure(granted.tenant_id)
        if not tells_more(seen, granted, self.limits):
            self._release_quickly(granted, now)
            return
        with self._transaction() as conn:
            state = _state(conn.execute(self._read, {"tenant": granted.tenant_id}).one())
            state.expire(now, self.limits)
            state.release(granted.token, now, self.limits)
            if seen is not None:
                state.observe(seen, now, self.limits)
                if seen.app_left is not None and seen.app_left <= 0:
                    self._block(conn, APP_ROW, now + self.limits.window, "appminute")
            conn.execute(self._write, _row(granted.tenant_id, state))

    def observe(self, tenant_id: str, seen: Observed, now: float) -> None:
        """Headers that came without a release to ride on (the client sends them with it)."""
        self._ensure(tenant_id)
        with self._transaction() as conn:
            state = _state(conn.execute(self._read, {"tenant": tenant_id}).one())
            state.expire(now, self.limits)
            state.observe(seen, now, self.limits)
            conn.execute(self._write, _row(tenant_id, state))
            if seen.app_left is not None:
                oldest = app_bucket(now) - app_buckets_in_a_minute(self.limits)
                self._observe_app(conn, seen, now, 0.0, self._app_sum(conn, oldest))

    def block(self, tenant_id: str | None, until: float, problem: str) -> None:
        """A 429: nobody calls that organisation (or, app-wide, anyone) until ``until``."""
        problem = _normal_problem(problem)
        target = APP_ROW if tenant_id is None or problem.startswith("app") else tenant_id
        self._ensure(target)
        with self._transaction() as conn:
            self._block(conn, target, until, problem)

    def usage(self, tenant_id: str, now: float) -> Usage:
        self._ensure(tenant_id)
        with self._engine.connect() as conn:
            row = conn.execute(self._peek, {"tenant": tenant_id}).one()
            conn.rollback()
        state = _state(row)
        state.expire(now, self.limits)
        return state.usage()

    # ------------------------------------------------------------------ internals

    def _transaction(self):
        return _Transaction(self.db, self._engine, self._pg)

    def _release_quickly(self, granted: Granted, now: float) -> None:
        params = {
            "tenant": granted.tenant_id,
            "token": granted.token,
            "path": f'$."{granted.token}"',
            "free_at": round(now + self.limits.window, 3),
        }
        if self._pg:
            with self._engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.execute(self._quick_release, params)
            return
        with self._transaction() as conn:
            conn.execute(self._quick_release, params)

    def _ensure(self, tenant_id: str) -> None:
        if tenant_id in self._seeded:
            return
        with self._seed_lock, self._engine.begin() as conn:
            for tenant in {tenant_id, APP_ROW} - self._seeded:
                conn.execute(self._seed, {"tenant": tenant})
        self._seeded.update((tenant_id, APP_ROW))

    def _block(self, conn: Connection, target: str, until: float, problem: str) -> None:
        conn.execute(
            text(
                "UPDATE xero_budget_tenants SET blocked_until = :until, blocked_problem = :problem "
                "WHERE tenant_id = :tenant AND blocked_until < :until"
            ),
            {"tenant": target, "until": until, "problem": problem},
        )

    def _app_margin(self) -> int:
        """Below the limit by more than this, racing processes cannot overshoot it together;
        closer, the app row is locked so they count one at a time."""
        return 0 if not self._pg else min(200, self.limits.app_per_minute // 20)

    def _app_sum(self, conn: Connection, oldest: int) -> int:
        return int(
            conn.execute(
                text("SELECT COALESCE(SUM(calls), 0) FROM xero_budget_app WHERE bucket > :oldest"),
                {"oldest": oldest},
            ).scalar_one()
        )

    def _app_wait(self, conn: Connection, oldest: int, now: float) -> tuple[float, str]:
        used = self._app_sum(conn, oldest)
        if self._pg:
            used = int(conn.execute(self._lock_app, {"oldest": oldest, "app": APP_ROW}).scalar_one())
        if used + 1 <= self.limits.app_per_minute:
            return (0.0, "appminute")
        # The oldest bucket that still counts leaves the minute at the next bucket boundary.
        next_edge = (app_bucket(now) + 1) * APP_BUCKET_SECONDS
        return (max(next_edge - now, _MIN_WAIT), "appminute")

    def _observe_app(
        self, conn: Connection, seen: Observed, now: float, app_until: float, app_used: int
    ) -> tuple[float, int]:
        if seen.app_left is None:
            return app_until, app_used
        if seen.app_left <= 0:
            until = now + self.limits.window
            self._block(conn, APP_ROW, until, "appminute")
            return max(app_until, until), app_used
        extra = (self.limits.app_per_minute - seen.app_left) - app_used
        if extra > 0:
            conn.execute(self._count_app, {"bucket": app_bucket(now), "n": extra})
            app_used += extra
        return app_until, app_used

    def _maybe_prune(self, conn: Connection, oldest: int) -> None:
        if oldest - self._last_prune >= app_buckets_in_a_minute(self.limits):
            self._last_prune = oldest
            conn.execute(self._prune_app, {"oldest": oldest - 1})


def _once_more(operation: Callable[[], T]) -> T:
    """Run again once if the pooled connection had been dropped by the server (no pre-ping)."""
    try:
        return operation()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        return operation()


def _budget_engine(db: Database) -> Engine:
    """PostgreSQL: a small pool of the budget's own, whose commits do not wait for the disk.

    Losing the last few milliseconds of budget bookkeeping in a database crash costs at most a
    few calls' worth of headroom, never a token or a write: not worth a WAL flush per call. No
    pre-ping either (a round trip per call); a connection the server dropped is retried once.
    """
    engine = create_engine(db.engine.url, pool_size=8, max_overflow=16, pool_pre_ping=False, pool_recycle=300)

    @event.listens_for(engine, "connect")
    def _no_flush(dbapi_connection, _record) -> None:  # pragma: no cover - trivial
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO OFF")
        dbapi_connection.commit()

    return engine


class _Transaction:
    """One short transaction: ``FOR UPDATE`` locks on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite."""

    def __init__(self, db: Database, engine: Engine, pg: bool) -> None:
        self._cm = _pg_transaction(engine) if pg else db.locked_connection()

    def __enter__(self) -> Connection:
        return self._cm.__enter__()

    def __exit__(self, *exc) -> bool | None:
        return self._cm.__exit__(*exc)


@contextmanager
def _pg_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn


def _state(row) -> TenantState:
    return TenantState(
        minute=[float(t) for t in json.loads(row[0] or "[]")],
        in_flight={k: list(v) for k, v in json.loads(row[1] or "{}").items()},
        day_started=float(row[2] or 0.0),
        day_used=int(row[3] or 0),
        day_background=int(row[4] or 0),
        blocked_until=float(row[5] or 0.0),
        blocked_problem=row[6] or "minute",
    )


def _row(tenant_id: str, state: TenantState) -> dict[str, object]:
    return {
        "tenant": tenant_id,
        "minute": json.dumps([round(t, 3) for t in state.minute], separators=(",", ":")),
        "in_flight": json.dumps(state.in_flight, separators=(",", ":")),
        "day_started": state.day_started,
        "day_used": state.day_used,
        "day_background": state.day_background,
        "blocked_until": state.blocked_until,
        "blocked_problem": state.blocked_problem,
    }


# --------------------------------------------------------------------------- in memory


class LocalBudget:
    """The same rules for one process with nothing to share (tests, one-off tools)."""

    def __init__(
        self,
        limits: Limits | None = None,
        background: BackgroundShare | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.background = background or BackgroundShare()
        self._lock = threading.Lock()
        self._tenants: dict[str, TenantState] = {}
        self._app = TenantState()
        self._app_calls: dict[int, int] = {}

    def try_acquire(
        self, tenant_id: str, lane: str, now: float, seen: Observed | None = None
    ) -> Granted | Refused:
        with self._lock:
            state = self._state(tenant_id, now)
            oldest = app_bucket(now) - app_buckets_in_a_minute(self.limits)
            if seen is not None:
                self._observe(state, seen, now)
            used = sum(n for b, n in self._app_calls.items() if b > oldest)
            app_wait = (self._app.blocked_until - now, self._app.blocked_problem)
            if app_wait[0] <= 0 and used + 1 > self.limits.app_per_minute:
                app_wait = (max((app_bucket(now) + 1) * APP_BUCKET_SECONDS - now, _MIN_WAIT), "appminute")
            refused = state.refusal(lane, now, self.limits, self.background, app_wait)
            if refused is not None:
                return refused
            bucket = app_bucket(now)
            self._app_calls = {b: n for b, n in self._app_calls.items() if b > oldest}
            self._app_calls[bucket] = self._app_calls.get(bucket, 0) + 1
            return state.grant(tenant_id, lane, now, self.limits)

    def release(self, granted: Granted, now: float, seen: Observed | None = None) -> None:
        with self._lock:
            state = self._state(granted.tenant_id, now)
            state.release(granted.token, now, self.limits)
            if seen is not None:
                self._observe(state, seen, now)

    def observe(self, tenant_id: str, seen: Observed, now: float) -> None:
        with self._lock:
            self._observe(self._state(tenant_id, now), seen, now)

    def block(self, tenant_id: str | None, until: float, problem: str) -> None:
        problem = _normal_problem(problem)
        with self._lock:
            if tenant_id is None or problem.startswith("app"):
                self._app.block(until, problem)
            else:
                self._tenants.setdefault(tenant_id, TenantState()).block(until, problem)

    def usage(self, tenant_id: str, now: float) -> Usage:
        with self._lock:
            return self._state(tenant_id, now).usage()

    def _state(self, tenant_id: str, now: float) -> TenantState:
        state = self._tenants.setdefault(tenant_id, TenantState())
        state.expire(now, self.limits)
        return state

    def _observe(self, state: TenantState, seen: Observed, now: float) -> None:
        state.observe(seen, now, self.limits)
        if seen.app_left is not None and seen.app_left <= 0:
            self._app.block(now + self.limits.window, "appminute")


Budget = DatabaseBudget | LocalBudget
Clock = Callable[[], float]
