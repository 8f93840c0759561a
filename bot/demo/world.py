"""The demo's world: Xero sandbox, Slack stand-in, the bot's web app and its clock, on 127.0.0.1.

Built on :class:`bot.demo.stack.Stack`, with three things the console needs on top:

* a services executor that counts work in flight, so the console knows when the bot has
  finished answering (rather than guessing with a fixed sleep);
* the clock (:class:`bot.jobs.Clock`) running in-process against the same database, and a way
  to move time forward that lets the clock look at every instant that matters on the way;
* a small cast — ``@alice`` and ``@bob`` in ``#books`` — each with their own Xero login.

Time ticks with the wall clock, unless ``DemoOptions.start_at`` pins it: then it starts there and
moves only when the console says so — ``STEP`` per console line and ``time +…`` — so the same
script prints the same transcript on every run (docs/demo.md is made that way).

Nothing here prints; :mod:`bot.demo.console` decides what the user sees.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.config import Settings
from bot.demo.stack import Stack
from bot.sandbox.slack import Message, SlackSandbox, View
from bot.sandbox.slack.actors import SandboxUser
from bot.sandbox.xero import XeroSandbox
from bot.sandbox.xero.clock import SandboxClock

log = logging.getLogger(__name__)

WORKSPACE_NAME = "Recon Demo"
CHANNEL_ID = "C0BOOKS"
CHANNEL_NAME = "books"
CLOCK_INTERVAL_S = 20.0  # how often the background clock looks at the (ticking) sandbox time
MAX_JUMP = timedelta(days=400)
MAX_CLOCK_STOPS = 2000
STOP_GRACE_S = 5.0
STEP = timedelta(seconds=5)  # how far a pinned clock moves per console line: a person's pace


@dataclass(frozen=True)
class Person:
    """Someone in the demo workspace, and the Xero login their browser is signed in with."""

    slack_id: str
    name: str
    real_name: str
    email: str


CAST = (
    Person("U0ALICE", "alice", "Alice Ng", "alice@recon-demo.example"),
    Person("U0BOB", "bob", "Bob Tane", "bob@recon-demo.example"),
)


@dataclass(frozen=True)
class DemoOptions:
    seed: int = 7
    transactions: int = 500
    organisations: int = 2
    xero_latency_ms: int = 0
    consent: str = "auto"
    workers: int = 32
    clock_interval: float = CLOCK_INTERVAL_S
    start_at: datetime | None = None  # pin the demo's time (see the module docstring)

    @property
    def pinned(self) -> bool:
        return self.start_at is not None


class TrackingExecutor(ThreadPoolExecutor):
    """A thread pool that knows how many jobs are queued or running (``busy``)."""

    def __init__(self, max_workers: int, thread_name_prefix: str = "recon-work") -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self._count_lock = threading.Lock()
        self._busy = 0

    @property
    def busy(self) -> int:
        with self._count_lock:
            return self._busy

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._count_lock:
            self._busy += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._finished(None)
            raise
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _future: Future[Any] | None) -> None:
        with self._count_lock:
            self._busy -= 1


class DemoClock:
    """The bot's clock jobs, run in-process: every ``interval`` seconds and whenever time jumps.

    :meth:`advance` moves the sandbox's time (which the bot's services follow) to the target in
    stops — each digest's due moment and at least one stop a day — and runs the clock at each,
    so a jump of ``+3d`` sends three days of digests and keeps tokens alive as waiting would.
    """

    def __init__(self, services: Any, sandbox: XeroSandbox, client: Any, interval: float) -> None:
        from bot.jobs import Clock

        self._services = services
        self._sandbox = sandbox
        self._clock = Clock(services, client)
        self._interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="recon-demo-clock", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a failing tick is logged and the next one tries again
                log.exception("clock: tick failed")

    def tick(self) -> None:
        with self._lock:
            self._clock.tick(self._services.now())

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward by ``delta``, running the clock at every stop on the way."""
        if delta <= timedelta(0):
            raise ValueError("time only moves forward")
        if delta > MAX_JUMP:
            raise ValueError(f"at most {MAX_JUMP.days} days at a time")
        with self._lock:
            start = self._services.now()
            target = start + delta
            for stop in self._stops(start, target):
                gap = (stop - self._services.now()).total_seconds()
                if gap > 0:
                    self._sandbox.clock.advance(gap)
                self._clock.tick(self._services.now())
            return self._services.now()

    def _stops(self, start: datetime, target: datetime) -> list[datetime]:
        from bot.services.digest import subscription_next_run
        from storage.digests import enabled_subscriptions

        stops = {target}
        day = start + timedelta(days=1)
        while day < target:
            stops.add(day)
            day += timedelta(days=1)
        for sub in enabled_subscriptions(self._services.db):
            moment = start
            while len(stops) < MAX_CLOCK_STOPS:
                due = subscription_next_run(sub, moment)
                if due is None or due > target:
                    break
                stops.add(due + timedelta(seconds=1))
                moment = due + timedelta(seconds=1)
        return sorted(s for s in stops if s <= target)


class DemoWorld:
    """Everything the demo runs, started together and stopped together."""

    def __init__(self, options: DemoOptions | None = None) -> None:
        self.options = options or DemoOptions()
        o = self.options
        self.xero = XeroSandbox(
            seed=o.seed,
            transactions=o.transactions,
            organisations=o.organisations,
            consent=o.consent,
            clock=SandboxClock(o.start_at, ticking=False) if o.start_at else None,
        )
        if o.xero_latency_ms:
            self.xero.faults.latency(o.xero_latency_ms)
        self.slack = SlackSandbox(team_domain="recon-demo", team_name=WORKSPACE_NAME)
        self.people: dict[str, SandboxUser] = {}
        self.cast: dict[str, Person] = {p.name: p for p in CAST}
        self._xero_logins: dict[str, str] = {}
        self.stack: Stack | None = None
        self.settings: Settings | None = None
        self.services: Any = None
        self.executor: TrackingExecutor | None = None
        self.clock: DemoClock | None = None
        self.bot_url = ""
        self.database_path = ""

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> DemoWorld:
        from bot.jobs import slack_client

        try:
            for person in CAST:
                self.people[person.name] = self.slack.add_user(
                    person.slack_id, person.name, real_name=person.real_name, email=person.email
                )
            self.slack.add_channel(CHANNEL_ID, CHANNEL_NAME, members=[p.slack_id for p in CAST])
            self.executor = TrackingExecutor(self.options.workers)
            self.stack = Stack(xero=self.xero, slack=self.slack, executor=self.executor).start()
            self.bot_url = self.stack.bot_url
            self.settings = self.stack.settings
            self.services = self.stack.services
            self.database_path = self.stack.environ["DATABASE_URL"].removeprefix("sqlite:///")
            self.clock = DemoClock(
                self.services, self.xero, slack_client(self.settings), self.options.clock_interval
            )
            if not self.options.pinned:
                self.clock.start()  # pinned: the clock runs at each step instead (next_step)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Stop everything that started; safe to call twice or after a failed start.

        The bot stops taking requests first, then gets up to ``grace`` seconds to finish work
        in flight (a search still waiting on Xero) while Slack and Xero are still there to
        answer, so leaving mid-step does not end in a burst of connection errors.
        """
        if self.clock is not None:
            self.clock.stop()
            self.clock = None
        if self.stack is not None:
            self.stack.stop_bot()
            deadline = time.monotonic() + grace
            while self.busy and time.monotonic() < deadline:
                time.sleep(0.05)
            self.stack.stop()
            self.stack = None
            self.services = None
        else:
            self.slack.stop()
            self.xero.stop()

    def next_step(self) -> None:
        """A console line is about to run: on a pinned clock, a person's pause passes first."""
        if self.options.pinned and self.clock is not None:
            self.clock.advance(STEP)

    def __enter__(self) -> DemoWorld:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ people
    @property
    def team_id(self) -> str:
        return self.slack.team.team_id

    def person(self, name: str) -> SandboxUser:
        return self.people[name]

    def names(self) -> dict[str, str]:
        """Slack ids → names, for rendering mentions (`<@U0ALICE>` → `@alice`, `<#C0BOOKS>` → `#books`)."""
        found = {p.slack_id: p.name for p in CAST}
        found[self.slack.team.bot_user_id] = "recon"
        found[CHANNEL_ID] = CHANNEL_NAME
        return found

    def sign_in_to_xero(self, name: str) -> dict[str, Any]:
        """Make the sandbox's browser session belong to ``name`` (each person has their own login)."""
        login = self._xero_logins.get(name)
        if login is None:
            person = self.cast[name]
            given, _, family = person.real_name.partition(" ")
            info = self.xero.add_user(person.email, given, family or "Demo")
            login = self._xero_logins[name] = info["xero_user_id"]
        self.xero.login_as(login)
        return next(u for u in self.xero.users if u["xero_user_id"] == login)

    def sign_in_to_slack(self, name: str, browser: Any) -> None:
        """Sign ``name``'s browser (a ``requests.Session``) in to the Slack stand-in as them."""
        self.slack.sign_in(browser, self.cast[name].slack_id)

    def xero_login_of(self, name: str) -> dict[str, Any] | None:
        login = self._xero_logins.get(name)
        return next((u for u in self.xero.users if u["xero_user_id"] == login), None)

    # ------------------------------------------------------------------ what people see
    def visible_channels(self, name: str) -> set[str]:
        person = self.cast[name]
        return {CHANNEL_ID, "D" + person.slack_id[1:]}

    def find_message(self, channel: str, ts: str, ephemeral_to: str | None = None) -> Message | None:
        """The current version of a message (a snapshot), or None once it is gone."""
        pool = self.slack.ephemerals(ephemeral_to) if ephemeral_to else self.slack.messages(channel)
        return next((m for m in pool if m.ts == ts and m.channel == channel), None)

    def top_modal(self, name: str) -> View | None:
        views = self.slack.open_views(self.cast[name].slack_id)
        return views[-1] if views else None

    # ------------------------------------------------------------------ activity
    def activity(self) -> tuple[int, ...]:
        """Counters that change whenever the bot does something a user or Slack could notice."""
        return (
            len(self.slack.events),
            len(self.slack.calls),
            len(self.slack.response_url_posts),
            len(self.slack.deliveries),
        )

    @property
    def busy(self) -> int:
        """Jobs the bot has queued or is running on its work pool (Xero calls and their replies)."""
        return self.executor.busy if self.executor is not None else 0

    # ------------------------------------------------------------------ Xero side
    def tenant_names(self) -> list[str]:
        return [t["name"] for t in self.xero.tenants]

    def find_transaction(self, txn_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(tenant, stored transaction) for a BankTransactionID in any organisation."""
        for tenant in self.xero.tenants:
            try:
                return tenant, self.xero.get_transaction(tenant["tenant_id"], txn_id)
            except KeyError:
                continue
        raise KeyError(txn_id)

    def audit(self, limit: int = 20) -> list[Any]:
        from storage.audit import recent_audit

        return list(reversed(recent_audit(self.services.db, limit)))
