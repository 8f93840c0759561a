"""Keeping each organisation's mirror in step with Xero: first sync, deltas, the reconciled sweep.

Xero has no webhooks for bank transactions, so the mirror polls. Every read is
``GET /BankTransactions`` ordered by UpdatedDateUTC, 1,000 a page, and walks forward by
*Xero's* timestamps: after a full page the next request asks ``If-Modified-Since`` the second
before the page's last row (that row and its second come again; upserts by BankTransactionID
make repeats harmless). Page numbers are only used inside one second's worth of rows. So a
transaction edited mid-sync moves to the end and is read again, instead of shifting the pages
under us and making a row nobody touched fall between two of them.

* **First sync** — that walk from the beginning, checkpointed after every page (the page's rows
  and the position in one transaction), so a killed process resumes where it stopped; it
  spends at most ``daily_share`` of the organisation's daily Xero budget and carries on the
  next day, saying so in the state's ``last_error``.
* **Delta** — from the bookmark (the newest UpdatedDateUTC Xero sent, never our clock) minus
  :data:`OVERLAP`, so a change made later in the bookmark's own second is not lost. The first
  page is read newest first: when it is not full, or its oldest row is no newer than the
  bookmark, it holds every change, so nothing changed costs one call even when thousands of
  transactions share the bookmark's second (Xero's If-Modified-Since is whole seconds, and a
  bulk import stamps many alike). More than a page of changes falls back to the forward walk.
  Rows re-read at the version the mirror holds are not written again. DELETED and VOIDED
  transactions leave the mirror.
* **Sweep** — ``where=IsReconciled==false``: Xero need not move UpdatedDateUTC when a
  transaction is reconciled, so a sweep corrects the flag: rows in it are upserted, unreconciled
  rows of the range absent from it become reconciled. The whole list is 180 calls at a million
  rows, more than the day's share, so the clock's hourly sweep reads only what is dated in the
  last 90 days and a full sweep runs at most daily, both stretched to fit what the deltas leave
  of the share (:mod:`bot.services.sweep_plan` says what they cost). The digest's sweep is full
  whenever the budget allows one that often, else the recent window; the outcome says which
  (``full_sweep``, ``swept_from``).

One sync per organisation at a time across processes: a lease in ``mirror_sync_state``
(:mod:`storage.mirror_state`). Calls go through ``xero.background()``, the lane for work no
user is waiting on.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from bot.services import sweep_plan
from bot.services.errors import NotConnected
from bot.services.freshness import Freshness
from bot.services.mirror_rows import is_live, row_from_transaction
from bot.services.sweep_plan import SweepPlan
from bot.services.tokens import GrantGone, TokenService
from bot.xero.client import MAX_PAGE_SIZE, XeroClient
from bot.xero.errors import RateLimited, XeroError, XeroForbidden
from bot.xero.filters import TransactionFilter
from bot.xero.models import BankTransaction
from storage import mirror_state as state_store
from storage.db import Database
from storage.mirror import forget_tenant
from storage.mirror_search import refresh_statistics
from storage.mirror_state import LeaseLost, SyncStateView
from storage.models import utcnow

log = logging.getLogger(__name__)

ORDER = "UpdatedDateUTC ASC"
NEWEST_FIRST = "UpdatedDateUTC DESC"  # a delta's first look: one call when nothing changed
OVERLAP = timedelta(seconds=5)  # deltas re-read the bookmark's last seconds: Xero is exact only to the second
LEASE = timedelta(seconds=120)  # longer than one page can take (a read with every retry)
SWEEP_CHUNK_ROWS = 80_000  # below Xero's 100,000-row limit for filters on unindexed fields
POLL_SECONDS = 0.1
SYNC_ALL_WORKERS = 4
EVERYTHING = TransactionFilter(status=None)  # deleted and voided too: they must leave the mirror


@dataclass(frozen=True)
class MirrorSettings:
    interval: timedelta = timedelta(minutes=5)
    max_age: float = 60.0
    wait: float = 2.0
    daily_limit: int = 5000
    daily_share: float = 0.5
    page_size: int = MAX_PAGE_SIZE

    @property
    def daily_calls(self) -> int:
        """The sync's share of each organisation's daily Xero budget, in calls."""
        return max(1, int(self.daily_limit * self.daily_share))

    @classmethod
    def from_settings(cls, settings) -> MirrorSettings:
        return cls(
            interval=timedelta(seconds=settings.mirror_interval),
            max_age=float(settings.mirror_max_age),
            daily_limit=settings.xero_daily_limit,
            daily_share=settings.mirror_daily_share,
        )


@dataclass(frozen=True)
class SyncOutcome:
    """What one sync of one organisation did."""

    tenant_id: str
    did: tuple[str, ...] = ()  # "first sync", "delta", "sweep" — in the order run
    calls: int = 0
    rows_written: int = 0
    rows_removed: int = 0
    reconciled: int = 0  # rows the sweep found reconciled in Xero
    full_sweep: bool = False  # the sweep read every unreconciled transaction
    swept_from: date | None = None  # else it read those dated from this day
    complete: bool = False  # the mirror now holds every transaction
    busy: bool = False  # another process was syncing it: nothing was done here
    paused: bool = False  # the day's share of Xero calls is spent: continues tomorrow
    error: str | None = None


@dataclass(frozen=True)
class MirrorStatus:
    """One organisation's line in ``recon-bot mirror status`` and the App Home."""

    tenant_id: str
    name: str
    rows: int
    complete: bool
    expected: int | None
    last_delta_at: datetime | None
    last_sweep_at: datetime | None
    last_full_at: datetime | None  # the last read of every flag (a full sweep, or a whole read)
    calls_today: int
    daily_calls: int
    last_error: str | None
    last_error_at: datetime | None
    syncing: bool
    held: bool  # an active grant still holds it

    def lag(self, now: datetime) -> timedelta | None:
        return now - self.last_delta_at if self.last_delta_at else None


class BudgetSpent(Exception):
    """The sync's share of the organisation's Xero calls for today is used up."""


class NoGrant(Exception):
    """No active grant holds the organisation any more."""


@dataclass
class _Run:
    """Counters of one sync under one lease."""

    tenant_id: str
    owner: str
    source: object
    for_digest: bool = False  # the digest's own read: a person's lane and the whole day's budget
    calls: int = 0
    written: int = 0
    removed: int = 0
    reconciled: int = 0
    did: list[str] = field(default_factory=list)
    swept_from: date | None = None
    full_sweep: bool = False


Progress = Callable[[Freshness], None]


class SyncService:
    """Implements :class:`bot.services.freshness.MirrorKeeper` for search, and the sync itself."""

    def __init__(
        self,
        db: Database,
        xero: XeroClient,
        tokens: TokenService,
        *,
        settings: MirrorSettings | None = None,
        now: Callable[[], datetime] = utcnow,
        executor: ThreadPoolExecutor | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = db
        self._xero = xero.background()
        self._xero_now = xero  # the foreground lane, for the read a digest waits on
        self._tokens = tokens
        self.settings = settings or MirrorSettings()
        self._now = now
        self._executor = executor or ThreadPoolExecutor(max_workers=4, thread_name_prefix="recon-sync")
        self._sleep = sleep
        self._who = f"{socket.gethostname()}:{os.getpid()}"
        self._lock = threading.Lock()
        self._inflight: dict[str, Future] = {}

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ what search asks

    def freshness(self, tenant_id: str) -> Freshness:
        state = state_store.get_sync_state(self.db, tenant_id)
        if state is None:
            return Freshness(tenant_id, complete=False, as_of=None)
        return Freshness(
            tenant_id,
            complete=state.complete,
            as_of=state.last_delta_at if state.complete else None,
            rows_read=state.row_count,
            rows_expected=state.first_sync_expected,
            error=state.last_error,
        )

    def ensure_fresh(
        self, tenant_id: str, *, max_age: float | None = None, wait: float | None = None
    ) -> Freshness:
        """A delta first if the mirror is older than ``max_age`` s — one per organisation however
        many ask at once, here or in other processes — waiting at most ``wait`` s for it."""
        max_age = self.settings.max_age if max_age is None else max_age
        wait = self.settings.wait if wait is None else wait
        state = state_store.get_sync_state(self.db, tenant_id)
        if state is None or not state.complete or self._fresh(state, max_age):
            return self.freshness(tenant_id)
        with self._lock:
            running = self._inflight.get(tenant_id)
            if running is None or running.done():
                deadline = time.monotonic() + max(wait, 0.0)
                running = self._executor.submit(self._delta_if_stale, tenant_id, max_age, deadline)
                self._inflight[tenant_id] = running
        try:
            running.result(timeout=max(wait, 0.0))
        except FutureTimeout:
            pass  # answer from the mirror as it is; the delta finishes in the background
        except Exception:  # noqa: BLE001 - recorded on the state as last_error; freshness says so
            log.exception("mirror delta for %s failed", tenant_id)
        return self.freshness(tenant_id)

    def _fresh(self, state: SyncStateView, max_age: float) -> bool:
        return state.last_delta_at is not None and self._now() - state.last_delta_at < timedelta(
            seconds=max_age
        )

    def _delta_if_stale(self, tenant_id: str, max_age: float, deadline: float) -> None:
        """Run the delta under the lease, or wait (until ``deadline``) for whoever holds it."""
        while True:
            owner = self._owner()
            if state_store.take_lease(self.db, tenant_id, owner, self._now() + LEASE, now=self._now):
                try:
                    now_state = state_store.get_sync_state(self.db, tenant_id)
                    if now_state is None or not now_state.complete or self._fresh(now_state, max_age):
                        return  # someone caught up while we queued for the lease
                    self._under_lease(tenant_id, owner, lambda run, at=now_state: self._delta(run, at))
                finally:
                    state_store.release_lease(self.db, tenant_id, owner)
                return
            if time.monotonic() >= deadline:
                return
            self._sleep(POLL_SECONDS)
            current = state_store.get_sync_state(self.db, tenant_id)
            if current is None or self._fresh(current, max_age):
                return

    # ------------------------------------------------------------------ the sync

    def sync(self, tenant_id: str, *, full: bool = False, progress: Progress | None = None) -> SyncOutcome:
        """Whatever the organisation needs now: the (rest of the) first sync, else a delta; then
        the sweep when one is due. ``full`` reads everything again from the start."""
        return self._leased(tenant_id, lambda run: self._sync(run, full=full, progress=progress))

    def first_sync(self, tenant_id: str, *, progress: Progress | None = None) -> SyncOutcome:
        """After consent: read the organisation (or carry on reading it), reporting each page."""
        return self.sync(tenant_id, progress=progress)

    def delta(self, tenant_id: str) -> SyncOutcome:
        """Changes since the bookmark; nothing for an organisation whose first sync is unfinished."""

        def run_delta(run: _Run) -> None:
            current = state_store.get_sync_state(self.db, tenant_id)
            if current is not None and current.complete:
                self._delta(run, current)

        return self._leased(tenant_id, run_delta)

    def sweep(self, tenant_id: str, *, wait: float = 30.0, for_digest: bool = False) -> SyncOutcome:
        """Correct reconciled flags now (the digest calls this just before it is built): the full
        sweep when the budget allows one (at most hourly), else the recent window — see
        :mod:`bot.services.sweep_plan`. ``did`` holds "sweep" either way.

        Waits up to ``wait`` s for another process's sync of the organisation to finish.
        ``for_digest``: this sweep *is* the digest's read of Xero (it used to page through the
        unreconciled list itself), so it goes in the foreground lane and may use the day's
        whole budget, not the background's share — a busy minute must not leave the digest
        built from Xero while its "Show all" lists an unswept copy.
        """

        def run_sweep(run: _Run) -> None:
            current = state_store.get_sync_state(self.db, tenant_id)
            if current is not None and current.complete:
                self._sweep(run, self._sweep_plan(current, force=True))

        state = state_store.get_sync_state(self.db, tenant_id)
        if state is None or not state.complete:
            return SyncOutcome(tenant_id)  # nothing is read from the mirror before it is whole
        return self._leased(tenant_id, run_sweep, wait=wait, for_digest=for_digest)

    sweep_unreconciled = sweep

    def sync_all(self) -> list[SyncOutcome]:
        """The clock's run: forget what nobody holds, then bring every held organisation up to date.

        One sync per organisation however many users hold it; one organisation's trouble never
        stops the others.
        """
        forgotten = state_store.forget_unheld(self.db)
        if forgotten:
            log.info("mirror: forgot %d organisation(s) no active grant holds", len(forgotten))
        held = state_store.held_tenants(self.db)
        due = [t for t in held if self._due(state_store.get_sync_state(self.db, t))]
        if not due:
            return []
        # A few at once: one organisation's long first sync must not hold the others back.
        with ThreadPoolExecutor(max_workers=min(SYNC_ALL_WORKERS, len(due))) as pool:
            results = list(pool.map(self._sync_isolated, due))
        return [r for r in results if r is not None]

    def _sync_isolated(self, tenant_id: str) -> SyncOutcome | None:
        try:
            return self.sync(tenant_id)
        except Exception:  # noqa: BLE001 - isolation: the other organisations still sync
            log.exception("mirror: sync of %s failed unexpectedly", tenant_id)
            return None

    def _due(self, state: SyncStateView | None) -> bool:
        if state is None or not state.complete:
            return True
        now = self._now()
        slack = self.settings.interval / 10  # a delta a search caused a moment ago counts
        delta_due = state.last_delta_at is None or now - state.last_delta_at >= self.settings.interval - slack
        return delta_due or self._sweep_due(state)

    def _sweep_due(self, state: SyncStateView) -> bool:
        return self._sweep_plan(state) is not None

    def _sweep_plan(self, state: SyncStateView, *, force: bool = False) -> SweepPlan | None:
        """The sweep due now (``force``: the digest's, always one), priced from the mirror."""
        now = self._now()
        last_sweep, last_full = state.last_sweep_at, state.last_full_at
        if not force and not sweep_plan.cheap_check(now, last_sweep=last_sweep, last_full=last_full):
            return None
        ranges = max(1, -(-state.row_count // SWEEP_CHUNK_ROWS))
        size = self.settings.page_size
        recent = state_store.unreconciled_count(
            self.db, state.tenant_id, date_from=sweep_plan.recent_from(now)
        )
        full = state_store.unreconciled_count(self.db, state.tenant_id)
        return sweep_plan.plan(
            now,
            last_sweep=last_sweep,
            last_full=last_full,
            recent_calls=sweep_plan.calls_for(recent, 1, size),
            full_calls=sweep_plan.calls_for(full, ranges, size),
            daily_calls=self.settings.daily_calls,
            interval=self.settings.interval,
            force=force,
        )

    def held(self) -> dict[str, str]:
        """Organisations some active grant holds (tenant id → name): what the clock keeps."""
        return state_store.held_tenants(self.db)

    def forget(self, tenant_id: str) -> int:
        """``recon-bot mirror forget``: every row and the state go; rows deleted."""
        return forget_tenant(self.db, tenant_id)

    def forget_unheld(self) -> list[str]:
        return state_store.forget_unheld(self.db)

    def write_through(self, tenant_id: str, txn: BankTransaction) -> bool:
        """After a successful edit: the mirror's row becomes Xero's answer at once."""
        if not is_live(txn):
            return False
        return state_store.write_through(self.db, tenant_id, row_from_transaction(txn), now=self._now)

    def status(self) -> list[MirrorStatus]:
        held = state_store.held_tenants(self.db)
        now = self._now()
        today = now.date()
        out = []
        for s in state_store.all_sync_states(self.db):
            out.append(
                MirrorStatus(
                    tenant_id=s.tenant_id,
                    name=held.get(s.tenant_id, ""),
                    rows=s.row_count,
                    complete=s.complete,
                    expected=s.first_sync_expected,
                    last_delta_at=s.last_delta_at,
                    last_sweep_at=s.last_sweep_at,
                    last_full_at=s.last_full_at,
                    calls_today=s.calls_on(today),
                    daily_calls=self.settings.daily_calls,
                    last_error=s.last_error,
                    last_error_at=s.last_error_at,
                    syncing=s.leased(now),
                    held=s.tenant_id in held,
                )
            )
        return out

    # ------------------------------------------------------------------ under the lease

    def _owner(self) -> str:
        return f"{self._who}:{uuid.uuid4().hex[:8]}"

    def _leased(
        self, tenant_id: str, work: Callable[[_Run], None], *, wait: float = 0.0, for_digest: bool = False
    ) -> SyncOutcome:
        owner = self._owner()
        give_up = time.monotonic() + wait
        while not state_store.take_lease(self.db, tenant_id, owner, self._now() + LEASE, now=self._now):
            if time.monotonic() >= give_up:
                state = state_store.get_sync_state(self.db, tenant_id)
                return SyncOutcome(tenant_id, complete=bool(state and state.complete), busy=True)
            self._sleep(POLL_SECONDS)
        try:
            return self._under_lease(tenant_id, owner, work, for_digest=for_digest)
        finally:
            state_store.release_lease(self.db, tenant_id, owner)

    def _under_lease(
        self, tenant_id: str, owner: str, work: Callable[[_Run], None], *, for_digest: bool = False
    ) -> SyncOutcome:
        """Run ``work`` with a token source; Xero's trouble becomes the state's ``last_error``."""
        try:
            source = self._source(tenant_id)
        except NoGrant:
            state_store.forget_unheld(self.db)  # nobody may see it any more: the rows go
            return SyncOutcome(tenant_id, error="no active grant holds this organisation")
        run = _Run(tenant_id, owner, source, for_digest=for_digest)
        error = None
        paused = False
        try:
            work(run)
        except BudgetSpent:
            paused, error = True, self._paused_note()
        except LeaseLost:
            # Our lease ran out and another process carries on (or the organisation was
            # forgotten): what we wrote is checkpointed, the rest is theirs.
            log.info("mirror: %s: lease lost; another process carries on", tenant_id)
        except (NotConnected, XeroForbidden):
            error = "Xero refused every connection that holds this organisation; it needs reconnecting"
        except (XeroError, GrantGone) as exc:
            error = _describe(exc)
        if error is not None:
            state_store.record_outcome(
                self.db, tenant_id, values={"last_error": error, "last_error_at": self._now()}, now=self._now
            )
            log.warning("mirror: %s: %s", tenant_id, error)
        state = state_store.get_sync_state(self.db, tenant_id)
        return SyncOutcome(
            tenant_id,
            did=tuple(run.did),
            calls=run.calls,
            rows_written=run.written,
            rows_removed=run.removed,
            reconciled=run.reconciled,
            full_sweep=run.full_sweep,
            swept_from=run.swept_from,
            complete=bool(state and state.complete),
            paused=paused,
            error=error,
        )

    def _paused_note(self) -> str:
        calls = self.settings.daily_calls
        return (
            f"Paused: the sync used its share of today's Xero calls ({calls:,} of "
            f"{self.settings.daily_limit:,}); it carries on tomorrow (UTC)."
        )

    def _source(self, tenant_id: str) -> _FallbackSource:
        holders = state_store.grants_holding(self.db, tenant_id)
        if not holders:
            raise NoGrant(tenant_id)
        return _FallbackSource(self._tokens, tenant_id, holders)

    def _sync(self, run: _Run, *, full: bool, progress: Progress | None) -> None:
        if full:
            state_store.restart_first_sync(self.db, run.tenant_id, run.owner)
        state = state_store.get_sync_state(self.db, run.tenant_id)
        if state is None:
            raise LeaseLost(run.tenant_id)
        if not state.complete:
            self._first(run, state, progress)
        else:
            self._delta(run, state)
        state = state_store.get_sync_state(self.db, run.tenant_id)
        due = self._sweep_plan(state) if state is not None and state.complete else None
        if due is not None:
            self._sweep(run, due)

    # ------------------------------------------------------------------ first sync and delta

    def _first(self, run: _Run, state: SyncStateView, progress: Progress | None) -> None:
        run.did.append("first sync")
        started = state.first_sync_started_at
        if started is None:
            started = self._now()
            state_store.apply_page(
                self.db,
                run.tenant_id,
                run.owner,
                rows=(),
                state={"first_sync_started_at": started, "first_sync_page": 1},
                now=self._now,
            )
            cut, page, expected = None, 1, None
        else:
            cut, page, expected = (
                state.first_sync_bookmark_utc,
                state.first_sync_page or 1,
                state.first_sync_expected,
            )
        bookmark = state.bookmark_utc

        def checkpoint(next_cut, next_page, newest, item_count, done, asked_at):
            nonlocal expected
            values = {"first_sync_bookmark_utc": next_cut, "first_sync_page": next_page}
            if expected is None and item_count is not None:
                expected = item_count
                values["first_sync_expected"] = item_count
            if newest is not None:
                values["bookmark_utc"] = newest
            if done:
                values.update(
                    first_sync_completed_at=self._now(),
                    last_delta_at=asked_at,
                    last_full_at=asked_at,
                    # Every flag was just read: the first sweep is due an interval from now.
                    last_sweep_at=asked_at,
                    last_error=None,
                )
            return values

        # Every row this read wrote is stamped after it started: what is older, Xero no longer
        # returns (a re-read with --full, a row removed at Xero without a DELETED trace).
        self._walk(run, cut, page, bookmark, checkpoint, progress, unread_before=started)
        done = state_store.get_sync_state(self.db, run.tenant_id)
        if done is not None and done.complete:
            self._refresh_statistics()

    def _refresh_statistics(self) -> None:
        """The planner's picture of the mirror, once it is whole: without it SQLite walks the date
        index for an exact amount or a rare word, hundreds of times slower on a big organisation.
        The copy is complete either way; a search asks again (SQLite) if this fails."""
        try:
            refresh_statistics(self.db)
        except SQLAlchemyError:
            log.warning("mirror: planner statistics not refreshed", exc_info=True)

    def _delta(self, run: _Run, state: SyncStateView) -> None:
        """Changes since the bookmark: newest first, so "nothing changed" is one call however many
        transactions share the bookmark's second (a bulk import stamps thousands alike).

        The first page, ``UpdatedDateUTC DESC`` from the bookmark's second minus :data:`OVERLAP`,
        holds every change if it is not full or if its oldest row is no newer than the bookmark:
        everything beyond it is older still, and the mirror already holds everything up to the
        bookmark. Otherwise (more than a page of changes) the forward walk reads them in order,
        from the same cut, and the bookmark moves only as that walk does.
        """
        run.did.append("delta")
        bookmark = state.bookmark_utc

        def checkpoint(next_cut, next_page, newest, item_count, done, asked_at):
            values = {}
            if newest is not None:
                values["bookmark_utc"] = newest
            if done:
                values.update(last_delta_at=asked_at, last_error=None)
            return values

        if bookmark is None:  # an organisation with no transactions yet: read from the start
            self._walk(run, None, 1, None, checkpoint, None)
            return
        cut = _second(bookmark) - OVERLAP
        asked_at = self._now()
        result = self._list(run, EVERYTHING, page=1, modified_since=cut, order=NEWEST_FIRST)
        txns = result.transactions
        oldest = min((t.updated_date_utc for t in txns), default=None)
        covered = not self._more(result) or (oldest is not None and oldest <= bookmark)
        values: dict = {}
        if covered:
            newest = max((t.updated_date_utc for t in txns), default=bookmark)
            values = checkpoint(None, 1, newest if newest > bookmark else None, None, True, asked_at)
        self._apply(run, txns, values, only_newer=True)
        if not covered:
            self._walk(run, cut, 1, bookmark, checkpoint, None, only_newer=True)

    def _walk(
        self,
        run: _Run,
        cut,
        page: int,
        bookmark,
        checkpoint,
        progress: Progress | None,
        *,
        only_newer: bool = False,
        unread_before: datetime | None = None,
    ) -> None:
        """Read forward by UpdatedDateUTC from ``cut`` (page ``page`` of it) to the end.

        Mid-walk the bookmark only claims what is certainly read: every row before the last
        row's second (rows sharing that second, even that millisecond, may run on to the next
        page). The last page claims its newest row, and with ``unread_before`` (a whole read)
        takes out, in the same transaction, every row not written since that moment.
        """
        while True:
            asked_at = self._now()
            result = self._list(run, EVERYTHING, page=page, modified_since=cut, order=ORDER)
            txns = result.transactions
            more = self._more(result)
            next_cut, next_page = cut, page
            if more:
                last_second = _second(txns[-1].updated_date_utc)
                newest = last_second - timedelta(milliseconds=1)
                if cut is None or last_second - timedelta(seconds=1) > cut:
                    next_cut, next_page = last_second - timedelta(seconds=1), 1
                else:
                    next_page = page + 1
            else:
                newest = max((t.updated_date_utc for t in txns), default=None)
            if newest is not None and bookmark is not None and newest <= bookmark:
                newest = None  # never move the bookmark back
            if newest is not None:
                bookmark = newest
            values = checkpoint(next_cut, next_page, newest, result.item_count, not more, asked_at)
            self._apply(
                run, txns, values, only_newer=only_newer, unread_before=None if more else unread_before
            )
            if progress is not None:
                _report(progress, self.freshness(run.tenant_id))
            if not more:
                return
            cut, page = next_cut, next_page

    def _more(self, result) -> bool:
        more = (
            result.has_more
            if result.has_more is not None
            else len(result.transactions) >= self.settings.page_size
        )
        return more and bool(result.transactions)

    def _apply(
        self, run: _Run, txns, values, *, only_newer: bool = False, unread_before: datetime | None = None
    ) -> None:
        """One page into the mirror with its checkpoint; deleted and voided ones leave it."""
        live = [row_from_transaction(t) for t in txns if is_live(t)]
        gone = [t.bank_transaction_id for t in txns if not is_live(t)]
        applied = state_store.apply_page(
            self.db,
            run.tenant_id,
            run.owner,
            rows=live,
            removed_ids=gone,
            state=values,
            only_newer=only_newer,
            unread_before=unread_before,
            now=self._now,
        )
        run.written += applied.written
        run.removed += applied.removed

    def _list(self, run: _Run, f: TransactionFilter, *, page: int, modified_since=None, order: str):
        """One sync call: the lease renewed and the call paid for first."""
        state_store.renew_lease(self.db, run.tenant_id, run.owner, self._now() + LEASE)
        cap = self.settings.daily_limit if run.for_digest else self.settings.daily_calls
        if not state_store.reserve_call(self.db, run.tenant_id, cap=cap, day=self._now().date()):
            raise BudgetSpent(run.tenant_id)
        run.calls += 1
        client = self._xero_now if run.for_digest else self._xero
        try:
            return client.list_bank_transactions(
                run.source,  # type: ignore[arg-type]
                f,
                page=page,
                page_size=self.settings.page_size,
                order=order,
                modified_since=modified_since,
            )
        except XeroForbidden:
            # This login lost the organisation at Xero (someone disconnected it there); another
            # user's grant may still hold it. The same page again with the next one.
            if not run.source.next_grant():  # type: ignore[attr-defined]
                raise
            log.info("mirror: %s: Xero refused one grant (403); trying the next", run.tenant_id)
        return self._list(run, f, page=page, modified_since=modified_since, order=order)

    # ------------------------------------------------------------------ the sweep

    def _sweep(self, run: _Run, due: SweepPlan) -> None:
        """Re-read Xero's unreconciled list (from ``due.date_from``): rows in it are upserted,
        rows the mirror has as unreconciled in that range and Xero no longer lists are reconciled."""
        run.did.append("sweep")
        run.swept_from = due.date_from
        run.full_sweep = due.full
        started = self._now()
        state = state_store.get_sync_state(self.db, run.tenant_id)
        if state is not None and state.row_count > SWEEP_CHUNK_ROWS:
            ranges = state_store.date_chunks(
                self.db, run.tenant_id, SWEEP_CHUNK_ROWS, date_from=due.date_from
            )
        else:
            ranges = [(due.date_from, None)]
        for date_from, date_to in ranges:
            seen: set[str] = set()
            f = TransactionFilter(
                status="AUTHORISED", is_reconciled=False, date_from=date_from, date_to=date_to
            )
            page = 1
            while True:
                result = self._list(run, f, page=page, order="Date ASC")
                txns = result.transactions
                rows = [row_from_transaction(t) for t in txns if is_live(t)]
                seen.update(r.bank_transaction_id for r in rows)
                applied = state_store.apply_page(self.db, run.tenant_id, run.owner, rows=rows, now=self._now)
                run.written += applied.written
                more = (
                    result.has_more if result.has_more is not None else len(txns) >= self.settings.page_size
                )
                if not more or not txns:
                    break
                page += 1
            stale = state_store.unreconciled_ids(self.db, run.tenant_id, date_from=date_from, date_to=date_to)
            run.reconciled += state_store.mark_reconciled(
                self.db, run.tenant_id, run.owner, stale - seen, mirrored_before=started
            )
        done = {"last_sweep_at": started, **({"last_full_at": started} if due.full else {})}
        state_store.record_outcome(self.db, run.tenant_id, values=done, now=self._now)


class _FallbackSource:
    """A token source over every active grant that holds the organisation: when one grant's
    connection dies mid-sync, the next one carries on (any holder may keep the mirror)."""

    def __init__(self, tokens: TokenService, tenant_id: str, grant_ids: Iterable[int]) -> None:
        self._tokens = tokens
        self.tenant_id = tenant_id
        self._grants = list(grant_ids)
        self._current = tokens.source_for_grant(self._grants[0], tenant_id)

    def access_token(self, force_refresh: bool = False) -> str:
        while True:
            try:
                return self._current.access_token(force_refresh)
            except (NotConnected, GrantGone):
                if not self.next_grant():
                    raise
                force_refresh = False

    def next_grant(self) -> bool:
        """Give up the current grant for the next holder; False when none is left."""
        if len(self._grants) <= 1:
            return False
        self._grants.pop(0)
        self._current = self._tokens.source_for_grant(self._grants[0], self.tenant_id)
        return True


def _second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def _describe(exc: Exception) -> str:
    if isinstance(exc, RateLimited):
        return f"Xero asked us to slow down (retry after {exc.retry_after} s)"
    return f"{type(exc).__name__}: {exc}"


def _report(progress: Progress, freshness: Freshness) -> None:
    try:
        progress(freshness)
    except Exception:  # noqa: BLE001 - a progress message that fails must not stop the sync
        log.exception("mirror progress report failed")


__all__ = ["MirrorSettings", "MirrorStatus", "SyncOutcome", "SyncService"]
