"""``recon-bot clock``: the one scheduler process — token keep-alive and daily digests.

APScheduler only decides *when* to look; the database decides *what happens*. Every job is a
plain function of ``(services, now, client)`` that is safe to run twice at the same moment, in
two processes: refreshes are single-flight under a row lock, reconnect DMs and dead-channel
notes are claimed with a compare-and-set, and each day's digest is claimed by inserting its
ledger row. So a second clock started by mistake, a restart or an overlapping run costs a few
queries, never a doubled message or a burnt refresh token.

Jobs:

* every minute — due digests (:meth:`DigestService.run_due`) and reconnect DMs for grants the
  web process marked ``needs_reconnect``;
* every 5 minutes — retry every refresh that never finished (Xero may have rotated the token
  while the answer was lost; the old one works again only within 30 minutes), and refresh each
  grant idle for :data:`KEEPALIVE_AFTER` (Xero's refresh tokens die after 60 days unused),
  recording the outcome on the grant;
* every ``RECON_MIRROR_INTERVAL`` (5 minutes) — keep every organisation an active grant holds
  in step with Xero (:meth:`SyncService.sync_all`: the first sync, or a delta, and the hourly
  reconciled sweep; one sync per organisation across processes, under its lease), after
  forgetting the mirror of any organisation nobody holds any more;
* hourly — delete expired OAuth states.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.config import Settings
from bot.services.digest import RunReport, digest_service
from bot.services.errors import NotConnected
from bot.services.tokens import GrantGone
from bot.slack.digest_commands import SlackPoster
from bot.xero.errors import XeroError
from storage import grants
from storage.states import purge_expired_states

log = logging.getLogger(__name__)

KEEPALIVE_AFTER = timedelta(days=7)
KEEPALIVE_EVERY = timedelta(minutes=5)
DIGEST_EVERY = timedelta(minutes=1)
PURGE_EVERY = timedelta(hours=1)


# =========================================================================== the jobs


@dataclass
class KeepAliveReport:
    refreshed: list[int] = field(default_factory=list)  # grant ids refreshed by this run
    already_fresh: list[int] = field(default_factory=list)  # someone else refreshed meanwhile
    needs_reconnect: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # Xero unreachable: tried again next run
    notified: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)  # of these, unfinished refreshes taken up again


def keep_tokens_alive(
    services: Any, now: datetime, client: WebClient, *, older_than: timedelta = KEEPALIVE_AFTER
) -> KeepAliveReport:
    """Refresh every active grant with an unfinished refresh or idle for ``older_than``.

    Goes through the same single-flight path as the web process, forcing one rotation: if
    another process refreshed in the meantime the generation has moved on and nothing more
    happens. An unfinished refresh is retried with the refresh token it was sent with (the
    stored one: nothing replaced it), inside Xero's grace period since this runs every few
    minutes. Outcomes land on the grant (``last_refresh_outcome``): ``refreshed``,
    ``invalid_grant`` or ``undecryptable`` (the grant becomes ``needs_reconnect`` and its user
    gets one DM), or the name of the failure when Xero could not be reached (tried again next
    run). Each grant is on its own: whatever goes wrong with one, the run goes on to the next.
    """
    report = KeepAliveReport()
    for grant_id in grants.grants_due_for_keepalive(services.db, older_than=older_than, now=lambda: now):
        try:
            _keep_alive(services, grant_id, now, older_than, report)
        except Exception:
            # Isolation boundary: a surprise in one grant (a database error, a bug) must not
            # leave every other grant to expire. Logged with its traceback; retried next run.
            log.exception("keep-alive: grant %s failed unexpectedly; will retry next run", grant_id)
            report.failed.append(grant_id)
    report.notified = send_reconnect_notices(services, now, client)
    if report.refreshed or report.needs_reconnect or report.failed:
        log.info(
            "keep-alive: %d refreshed, %d need reconnecting, %d failed%s",
            len(report.refreshed),
            len(report.needs_reconnect),
            len(report.failed),
            f" ({len(report.retried)} retried after an unfinished attempt)" if report.retried else "",
        )
    return report


def _keep_alive(
    services: Any, grant_id: int, now: datetime, older_than: timedelta, report: KeepAliveReport
) -> None:
    grant = grants.get_grant(services.db, grant_id)
    if grant is None:
        return  # disconnected since the list was read
    if grant.refresh_pending_generation is None and grant.last_refreshed_at > now - older_than:
        # Another keep-alive (a second clock, an overlapping run) refreshed it since the list was
        # read; forcing a refresh of the generation seen now would rotate it twice.
        report.already_fresh.append(grant_id)
        return
    try:
        token = services.tokens.access_token(grant_id, stale_generation=grant.generation)
    except NotConnected:
        report.needs_reconnect.append(grant_id)
        return
    except GrantGone:
        return
    except XeroError as exc:
        grants.record_refresh_failure(services.db, grant_id, type(exc).__name__, now=lambda: now)
        log.warning("keep-alive: grant %s not refreshed (%s); will retry", grant_id, type(exc).__name__)
        report.failed.append(grant_id)
        return
    (report.refreshed if token.refreshed else report.already_fresh).append(grant_id)
    if token.refreshed and grant.refresh_pending_generation is not None:
        report.retried.append(grant_id)


def send_reconnect_notices(services: Any, now: datetime, client: WebClient) -> list[int]:
    """One DM per ``needs_reconnect`` incident, wherever it was noticed (web or clock)."""
    poster = SlackPoster(client)
    svc = digest_service(services)
    return [
        grant.id
        for grant in grants.grants_awaiting_reconnect_notice(services.db)
        if svc.notify_reconnect(grant, poster, now=now)
    ]


def run_digests(services: Any, now: datetime, client: WebClient) -> RunReport:
    report = digest_service(services).run_due(now, SlackPoster(client))
    if report.claimed:
        log.info(
            "digests: %d claimed, %d sent, %d skipped, %d retrying, %d failed",
            report.claimed,
            report.sent,
            report.skipped,
            report.retrying,
            report.failed,
        )
    return report


def purge_states(services: Any, now: datetime) -> int:
    return purge_expired_states(services.db, now=lambda: now)


def sync_mirrors(services: Any) -> list:
    """Every held organisation's mirror brought up to date (what is due of it)."""
    outcomes = services.sync.sync_all()
    worked = [o for o in outcomes if o.calls]
    if worked:
        log.info(
            "mirror: %d organisation(s) synced with %d Xero call(s)%s",
            len(worked),
            sum(o.calls for o in worked),
            "; ".join(f" {o.tenant_id}: {o.error}" for o in outcomes if o.error),
        )
    return outcomes


# =========================================================================== the process


def slack_client(settings: Settings) -> WebClient:
    """A client for posting digests: retries Slack's rate limits, but never a request whose
    response was lost (the default connection-error retry could post a digest twice)."""
    return WebClient(
        token=settings.slack_bot_token.reveal(),
        base_url=settings.slack_api_url,
        timeout=15,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )


class Clock:
    """The jobs bound to one set of services; :meth:`tick` runs whatever is due at ``now``.

    The scheduler calls the ``*_job`` methods with the real time; tests drive :meth:`tick` with
    any sequence of instants (so DST days and late starts need no sleeping).
    """

    def __init__(self, services: Any, client: WebClient) -> None:
        self.services = services
        self.client = client
        self._last: dict[str, datetime] = {}

    def digests_job(self) -> None:
        run_digests(self.services, self.services.now(), self.client)

    def reconnect_job(self) -> None:
        send_reconnect_notices(self.services, self.services.now(), self.client)

    def keepalive_job(self) -> None:
        keep_tokens_alive(self.services, self.services.now(), self.client)

    def purge_job(self) -> None:
        purge_states(self.services, self.services.now())

    def mirror_job(self) -> None:
        sync_mirrors(self.services)

    def tick(self, now: datetime) -> RunReport:
        """Everything due at ``now`` (keep-alive and purge at their own, slower pace)."""
        if self._due("keepalive", now, KEEPALIVE_EVERY):
            keep_tokens_alive(self.services, now, self.client)
        else:
            send_reconnect_notices(self.services, now, self.client)
        if self._due("purge", now, PURGE_EVERY):
            purge_states(self.services, now)
        return run_digests(self.services, now, self.client)

    def _due(self, name: str, now: datetime, every: timedelta) -> bool:
        last = self._last.get(name)
        if last is not None and now - last < every:
            return False
        self._last[name] = now
        return True


def build_scheduler(clock: Clock) -> Any:
    """A BackgroundScheduler with the clock's jobs; one instance of each at a time.

    ``coalesce`` + a short ``misfire_grace_time``: a late or slow run is not repeated for every
    minute it missed — the next run finds everything that is due anyway.
    """
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(
        timezone="UTC",
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
    )
    scheduler.add_job(clock.digests_job, "cron", second=0, id="digests", name="due digests")
    scheduler.add_job(clock.reconnect_job, "cron", second=30, id="reconnect", name="reconnect DMs")
    start = datetime.now().astimezone()
    scheduler.add_job(
        clock.keepalive_job,
        "interval",
        seconds=int(KEEPALIVE_EVERY.total_seconds()),
        next_run_time=start + timedelta(seconds=5),
        id="keepalive",
        name="token keep-alive",
    )
    scheduler.add_job(
        clock.purge_job,
        "interval",
        seconds=int(PURGE_EVERY.total_seconds()),
        next_run_time=start + timedelta(seconds=15),
        id="purge",
        name="expired OAuth states",
    )
    settings = getattr(clock.services, "settings", None)
    scheduler.add_job(
        clock.mirror_job,
        "interval",
        seconds=int(getattr(settings, "mirror_interval", 300)),
        next_run_time=start + timedelta(seconds=10),
        id="mirror",
        name="mirror sync",
    )
    return scheduler


def run_clock(settings: Settings) -> int:
    """Migrate, build the services, schedule, and run until SIGTERM/SIGINT (exit code 0)."""
    from bot.services.container import build_services

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    services = build_services(settings, migrate_schema=True)
    clock = Clock(services, slack_client(settings))
    scheduler = build_scheduler(clock)
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("clock: %s received, finishing running jobs", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    scheduler.start()
    log.info(
        "clock: running (digests every minute, keep-alive every 5 minutes, mirror sync every %d s)",
        settings.mirror_interval,
    )
    try:
        while not stop.wait(1.0):
            pass
    finally:
        scheduler.shutdown(wait=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        services.close()
    log.info("clock: stopped")
    return 0
