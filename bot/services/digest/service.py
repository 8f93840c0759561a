"""Delivering digests exactly once per subscription and local day, and managing subscriptions.

:class:`DigestService` claims each due day in the ledger (``storage.digests``), fetches each
organisation once for all its due subscriptions, and posts through a :class:`Poster` so no Slack
type appears here. Failures are sorted by what they mean for the channel: the owner's connection
is dead (skip the day, say so once), Xero is briefly unavailable (try again later the same day),
Slack refused the post (tell the owner), or nobody knows whether it was posted (never retry).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from bot.services.digest.content import (
    DEFAULT_ITEMS,
    MAX_PAGES,
    DigestContent,
    Fetched,
    Fix,
    fetch_unreconciled,
    from_snapshot,
    summarise,
    to_snapshot,
)
from bot.services.digest.failures import CANNOT_POST, RunProblem, run_problem, xero_cause
from bot.services.digest.schedule import (
    DEFAULT_TIME,
    canonical_zone,
    org_zone,
    subscription_due_day,
    subscription_next_run,
)
from bot.services.errors import NotConnected, ServiceError
from bot.services.mirror_rows import transaction_from_row
from bot.xero.errors import XeroError, XeroForbidden
from storage import digests as ledger
from storage import grants, organisations
from storage.digests import Claim, Run, Subscription
from storage.grants import GrantView, TenantView
from storage.mirror_search import unreconciled_rows
from storage.models import GRANT_NEEDS_RECONNECT

if TYPE_CHECKING:
    from bot.services.container import Services

log = logging.getLogger(__name__)

DIGEST_WORKERS = 8  # organisations fetched at once; each org is still one call at a time

FIX_REACH = timedelta(days=30)  # digests posted longer ago than this are not redrawn after a fix
REDRAW_ATTEMPTS = 3
FORGET_EVERY = timedelta(hours=1)  # how often the clock drops kept posts older than FIX_REACH
# Slack said it did nothing and asked us to come back (the post certainly did not happen).
RETRYABLE_POST = frozenset({"ratelimited", "service_unavailable", "request_timeout", "slack_unreachable"})


class PostFailed(Exception):
    """Slack did not take a message. ``delivered`` is False when it certainly was not posted
    (Slack answered with an error) and None when nobody knows (timeout, dropped connection)."""

    def __init__(self, code: str, *, delivered: bool | None = False) -> None:
        super().__init__(code)
        self.code = code
        self.delivered = delivered


class Poster(Protocol):
    """What the digest needs from Slack; the Slack layer implements it (``SlackPoster``).

    Every method raises :class:`PostFailed` when Slack does not take the message.
    """

    def digest(self, channel_id: str, content: DigestContent) -> str | None:
        """Post a digest; returns the message's ``ts`` (None if Slack did not say)."""

    def update(self, channel_id: str, ts: str, content: DigestContent) -> None:
        """Redraw a posted digest in place (``chat.update``), e.g. with a row fixed since."""

    def failed(self, sub: Subscription, problem: RunProblem, next_run: datetime | None) -> None:
        """DM the owner: a day's digest failed, why, and what happens next."""

    def dead_connection(self, sub: Subscription, *, reconnect: bool) -> None:
        """Tell the subscribed channel that today's digest could not be prepared."""

    def owner_disconnected(self, sub: Subscription, consent_url: str) -> None:
        """DM the owner: the organisation is no longer reachable through their login."""

    def reconnect(self, grant: GrantView, consent_url: str, org_names: Sequence[str]) -> None:
        """DM a grant's user: Xero stopped accepting the connection; here is a fresh link."""

    def cannot_post(self, sub: Subscription, code: str) -> None:
        """DM the owner: the digest could not be posted in the channel (invite the bot)."""


@dataclass
class RunReport:
    """What one tick did, for logs and the benchmark."""

    due: int = 0
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retrying: int = 0
    xero_calls: dict[str, int] = field(default_factory=dict)
    outcomes: dict[int, str] = field(default_factory=dict)  # subscription id → status

    def merge(self, other: RunReport) -> None:
        for name in ("due", "claimed", "sent", "skipped", "failed", "retrying"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for tenant, calls in other.xero_calls.items():
            self.xero_calls[tenant] = self.xero_calls.get(tenant, 0) + calls
        self.outcomes.update(other.outcomes)


@dataclass(frozen=True)
class Due:
    sub: Subscription
    claim: Claim


@dataclass(frozen=True)
class SubscriptionStatus:
    sub: Subscription
    next_run: datetime | None
    last_run: Run | None
    problem: RunProblem | None = None  # the last run's, in the same words as the owner's DM


class DigestChoice(ServiceError):
    """``/recon digest off`` in a channel with several digests: say which (``org:"name"``)."""

    def __init__(self, options: Sequence[Subscription]) -> None:
        self.options = tuple(options)
        names = ", ".join(f"“{s.tenant_name}”" for s in options)
        super().__init__(f'This channel has {len(options)} digests ({names}); say which one with org:"name".')


@dataclass(frozen=True)
class FixShown:
    """What became of showing a fix in the digests that list the transaction."""

    updated: int = 0
    failed: tuple[str, ...] = ()  # channel ids whose message could not be redrawn


@dataclass(frozen=True)
class Subscribed:
    subscription: Subscription
    created: bool
    previous: Subscription | None
    next_run: datetime | None
    timezone_note: str | None  # why the zone is not the one asked for / the org's


class DigestService:
    """Subscriptions and delivery. One per process (see :func:`digest_service`)."""

    def __init__(
        self,
        services: Services,
        *,
        workers: int = DIGEST_WORKERS,
        max_items: int = DEFAULT_ITEMS,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self.services = services
        self.db = services.db
        self.workers = max(1, workers)
        self.max_items = max_items
        self.max_pages = max_pages
        self._forgot_at: datetime | None = None

    # ------------------------------------------------------------------ subscriptions

    def subscribe(
        self,
        team_id: str,
        user_id: str,
        channel_id: str,
        *,
        local_time: str | None,
        timezone: str | None,
        skip_when_clear: bool,
        org: str | None = None,
    ) -> Subscribed:
        """Subscribe ``channel_id`` to the user's default organisation, or to the one named by
        ``org`` (matched like ``/recon use``). Arguments are already validated
        (:func:`parse_local_time`, :func:`canonical_zone`); ``None`` means default."""
        tenant = self._tenant(team_id, user_id, org)
        note = None
        if timezone is None:
            timezone, note = self._org_timezone(team_id, user_id, tenant)
        moment = self.services.now()
        result = ledger.upsert_subscription(
            self.db,
            slack_team_id=team_id,
            channel_id=channel_id,
            owner_user_id=user_id,
            tenant_id=tenant.tenant_id,
            tenant_name=tenant.tenant_name,
            local_time=local_time or DEFAULT_TIME,
            timezone=timezone,
            skip_when_clear=skip_when_clear,
            now=lambda: moment,
        )
        sub = result.subscription
        return Subscribed(sub, result.created, result.previous, subscription_next_run(sub, moment), note)

    def _org_timezone(self, team_id: str, user_id: str, tenant: TenantView) -> tuple[str, str | None]:
        if tenant.timezone:
            return org_zone(tenant.timezone), None
        try:
            zone = self.services.connect.org_timezone(team_id, user_id, tenant.tenant_id)
        except XeroError as exc:
            log.warning("organisation time zone unavailable for %s: %s", tenant.tenant_id, exc)
            return "UTC", (
                "I couldn't read the organisation's time zone from Xero just now, so I used UTC — "
                "add a zone (e.g. `Pacific/Auckland`) to change it."
            )
        return (canonical_zone(zone) or org_zone(zone)), None

    def tenant_for(self, team_id: str, user_id: str, org: str | None) -> TenantView:
        """The organisation a digest command is about: the default, or the one named."""
        return self._tenant(team_id, user_id, org)

    def _tenant(self, team_id: str, user_id: str, org: str | None) -> TenantView:
        connect = self.services.connect
        if org is None:
            return connect.require_tenant(team_id, user_id, None)
        return connect.require_tenant(team_id, user_id, connect.resolve_org(team_id, user_id, org).tenant_id)

    def unsubscribe(
        self, team_id: str, user_id: str, channel_id: str, *, org: str | None = None
    ) -> list[Subscription]:
        """Turn off a digest in this channel: the one of ``org`` when named (whoever set it up —
        the user holds that organisation), else the only one the user may turn off here.

        A user may turn off a digest they set up, or one of an organisation they hold. With
        several such digests in the channel and no ``org``, nothing is removed and
        :class:`DigestChoice` lists them, so the wrong channel's worklist never disappears.
        """
        here = ledger.subscriptions_in_channel(self.db, team_id, channel_id)
        if org is not None:
            tenant = self.services.connect.resolve_org(team_id, user_id, org)
            chosen = [s for s in here if s.tenant_id == tenant.tenant_id]
        else:
            held = {t.tenant_id for t in self.services.connect.organisations(team_id, user_id)}
            chosen = [s for s in here if s.owner_user_id == user_id or s.tenant_id in held]
            if len(chosen) > 1:
                raise DigestChoice(chosen)
        ledger.delete_subscriptions(self.db, [s.id for s in chosen])
        return chosen

    def remove(self, team_id: str, user_id: str, subscription_id: int) -> Subscription:
        """The App Home's Remove button: only the owner's own subscriptions."""
        sub = ledger.get_subscription(self.db, subscription_id)
        if sub is None or sub.slack_team_id != team_id or sub.owner_user_id != user_id:
            raise ServiceError("That digest is already gone, or it isn't yours to remove.")
        ledger.delete_subscriptions(self.db, [sub.id])
        return sub

    def subscriptions(self, team_id: str, user_id: str) -> list[Subscription]:
        return ledger.subscriptions_of_user(self.db, team_id, user_id)

    def status(self, team_id: str, user_id: str) -> list[SubscriptionStatus]:
        now = self.services.now()
        out = []
        for s in self.subscriptions(team_id, user_id):
            last = ledger.last_run(self.db, s.id)
            out.append(SubscriptionStatus(s, subscription_next_run(s, now), last, run_problem(last, now)))
        return out

    # ------------------------------------------------------------------ on demand

    def build_now(self, team_id: str, user_id: str, *, org: str | None = None) -> DigestContent:
        """Today's digest of the user's default organisation (or ``org``), read with the user's
        own connection (``/recon digest now``: no ledger row, nothing scheduled changes)."""
        tenant = self._tenant(team_id, user_id, org)
        zone_name, _ = self._org_timezone(team_id, user_id, tenant)
        source = self.services.tokens.source(team_id, user_id, tenant.tenant_id)
        fetched = self._from_mirror(tenant.tenant_id, self.sweep_mirror(tenant.tenant_id))
        if fetched is None:
            fetched = fetch_unreconciled(self.services.xero, source, max_pages=self.max_pages)
        content = summarise(
            fetched.transactions,
            tenant_id=tenant.tenant_id,
            org_name=tenant.tenant_name,
            local_date=self.services.now().astimezone(ZoneInfo(zone_name)).date(),
            complete=fetched.complete,
            max_items=self.max_items,
        )
        return content.with_facts(short_code=self._short_code(source), zone=zone_name)

    def sweep_mirror(self, tenant_id: str) -> int | None:
        """Correct the mirror's reconciled flags just before a digest is built from it; the Xero
        calls that took when the mirror can now be trusted, ``None`` when it cannot.

        Xero need not date a reconciliation, so only a sweep sees it. Its trouble (Xero down,
        the day's share spent, another process's sync outlasting the wait) is recorded on the
        mirror's state and does not stop the digest: it is then read from Xero as before, and
        that read says what is wrong.
        """
        sync = getattr(self.services, "sync", None)
        if sync is None:
            return None
        outcome = sync.sweep(tenant_id, for_digest=True)
        if outcome.error:
            log.info("sweep before the digest of %s: %s", tenant_id, outcome.error)
        return outcome.calls if "sweep" in outcome.did and not outcome.error else None

    def _from_mirror(self, tenant_id: str, swept_calls: int | None) -> Fetched | None:
        """Every unreconciled item from the mirror, just swept: exact however many there are
        (no "at least"), in the digest's order, with no Xero call beyond the sweep's."""
        if swept_calls is None:
            return None
        rows = unreconciled_rows(self.db, tenant_id)
        return Fetched(tuple(transaction_from_row(row) for row in rows), True, swept_calls)

    def _short_code(self, source: object) -> str | None:
        """The organisation's ShortCode for deep links: stored once per organisation, read from
        Xero the first time (one call, ever); links go without it if Xero can't say."""
        tenant_id = getattr(source, "tenant_id", "")
        known = organisations.get_organisation(self.db, tenant_id)
        if known is not None:
            return known.short_code
        try:
            return self.services.connect.refresh_organisation(source).short_code
        except (XeroError, NotConnected) as exc:
            log.info("no ShortCode for %s yet (%s): digest links open Xero without it", tenant_id, exc)
            return None

    def posted(self, team_id: str, channel_id: str, ts: str | None, content: DigestContent) -> None:
        """Keep a digest just posted (``digest now``) so later fixes show in it."""
        self._keep_post(team_id, channel_id, ts, content, run_id=None, at=self.services.now())

    def _keep_post(
        self,
        team_id: str,
        channel_id: str,
        ts: str | None,
        content: DigestContent,
        *,
        run_id: int | None,
        at: datetime,
    ) -> None:
        if not ts or not content.oldest:
            return
        try:
            ledger.record_post(
                self.db,
                slack_team_id=team_id,
                channel_id=channel_id,
                message_ts=ts,
                tenant_id=content.tenant_id,
                run_id=run_id,
                snapshot=to_snapshot(content),
                transaction_ids=[t.bank_transaction_id for t in content.oldest],
                now=lambda: at,
            )
        except Exception:  # noqa: BLE001 - the digest is out; only its later redraws are lost
            log.exception("digest posted in %s (%s) but not kept: fixes won't show in it", channel_id, ts)

    # ------------------------------------------------------------------ the worklist

    def show_fix(
        self,
        team_id: str,
        tenant_id: str,
        txn_id: str,
        *,
        reference: str | None,
        fixed_by: str,
        poster: Poster,
    ) -> FixShown:
        """A transaction was fixed (anywhere: a digest's Edit, ``/recon edit``, a search): mark it
        in every digest message of the last :data:`FIX_REACH` that shows it, and redraw each in
        place. Redraws that race with another fix re-check the message's version and draw again,
        so the last redraw always shows every fix."""
        now = self.services.now()
        posts = ledger.posts_showing(self.db, team_id, tenant_id, txn_id, since=now - FIX_REACH)
        if not posts:
            return FixShown()
        ledger.mark_fixed(
            self.db,
            [p.id for p in posts],
            tenant_id,
            txn_id,
            fixed_by=fixed_by,
            reference=reference,
            now=lambda: now,
        )
        updated, failed = 0, []
        for post in posts:
            try:
                self._redraw(post.id, poster)
                updated += 1
            except PostFailed as exc:
                log.warning(
                    "could not redraw digest %s in %s: %s", post.message_ts, post.channel_id, exc.code
                )
                failed.append(post.channel_id)
        return FixShown(updated, tuple(failed))

    def _forget_old_posts(self, now: datetime) -> None:
        """Kept digest messages older than :data:`FIX_REACH` are not redrawn: drop them (hourly)."""
        if self._forgot_at is not None and now - self._forgot_at < FORGET_EVERY:
            return
        self._forgot_at = now
        try:
            ledger.forget_posts(self.db, before=now - FIX_REACH)
        except Exception:  # noqa: BLE001 - housekeeping; the next hour tries again
            log.exception("could not drop old kept digest messages")

    def _redraw(self, post_id: int, poster: Poster) -> None:
        for _ in range(REDRAW_ATTEMPTS):
            state = ledger.post_state(self.db, post_id)
            if state is None:
                return
            post, fixes = state
            content = from_snapshot(post.snapshot).with_fixes(
                {f.bank_transaction_id: Fix(f.reference, f.fixed_by, f.fixed_at) for f in fixes}
            )
            poster.update(post.channel_id, post.message_ts, content)
            if ledger.post_version(self.db, post_id) == post.version:
                return

    # ------------------------------------------------------------------ the clock

    def claim_due(self, now: datetime, poster: Poster | None = None) -> tuple[list[Due], RunReport]:
        """Find what is due and claim it in the ledger; only claimed work is returned.

        A run that has used its last attempt is closed as failed, and (given a ``poster``) its
        owner is told once."""
        report = RunReport()
        candidates = [
            (sub, day)
            for sub in ledger.enabled_subscriptions(self.db)
            if (day := subscription_due_day(sub, now))
        ]
        report.due = len(candidates)
        runs = ledger.runs_for(self.db, [(sub.id, day) for sub, day in candidates])
        claimed: list[Due] = []
        for sub, day in candidates:
            run = runs.get((sub.id, day))
            if run is None:
                claim = ledger.claim_run(self.db, sub.id, day, now=lambda: now)
            elif ledger.retry_due(run, now):
                claim = ledger.reclaim_run(self.db, run, now=lambda: now)
            else:
                if ledger.exhausted(run, now) and ledger.give_up(self.db, run, now=lambda: now):
                    log.warning("digest %s for %s: gave up after %s attempts", sub.id, day, run.attempt)
                    if poster is not None:
                        self._tell_owner(
                            Due(sub, ledger.Claim(run.id, sub.id, day, run.attempt)), now, poster
                        )
                claim = None
            if claim is not None:
                claimed.append(Due(sub, claim))
        report.claimed = len(claimed)
        return claimed, report

    def run_due(self, now: datetime, poster: Poster) -> RunReport:
        """One tick: claim, then deliver each organisation's due digests from one fetch.

        Organisations are worked on in parallel (bounded) so a 09:00 rush of many organisations
        finishes quickly, while each organisation costs one Xero call per 1,000 items however many
        channels subscribe to it — far inside Xero's 60 calls a minute.
        """
        self._forget_old_posts(now)
        claimed, report = self.claim_due(now, poster)
        by_tenant: dict[str, list[Due]] = defaultdict(list)
        for item in claimed:
            by_tenant[item.sub.tenant_id].append(item)
        if not by_tenant:
            return report
        workers = min(self.workers, len(by_tenant))
        if workers == 1:
            results = [self._deliver_org(items, now, poster) for items in by_tenant.values()]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="recon-digest") as pool:
                results = list(
                    pool.map(lambda items: self._deliver_org(items, now, poster), by_tenant.values())
                )
        for result in results:
            report.merge(result)
        return report

    def _deliver_org(self, items: list[Due], now: datetime, poster: Poster) -> RunReport:
        report = RunReport()
        try:
            self._deliver_org_inner(items, now, poster, report)
        except Exception:
            # Isolation boundary: one organisation's surprise must not stop the others. Claims it
            # left in "claimed" posted nothing, so they go stale and are retried after the lease.
            log.exception("digest delivery for organisation %s failed", items[0].sub.tenant_id)
            for item in items:
                report.outcomes.setdefault(item.sub.id, "error")
        return report

    def _deliver_org_inner(self, items: list[Due], now: datetime, poster: Poster, report: RunReport) -> None:
        tenant_id = items[0].sub.tenant_id
        live: list[tuple[Due, TenantView]] = []
        for item in items:
            access = grants.find_user_tenant(
                self.db, item.sub.slack_team_id, item.sub.owner_user_id, tenant_id
            )
            if access is None:
                self._dead(item, None, now, poster, report)
            elif access.grant_status == GRANT_NEEDS_RECONNECT:
                self._dead(item, access.grant_id, now, poster, report)
            else:
                live.append((item, access))
        mirrored = self._from_mirror(tenant_id, self.sweep_mirror(tenant_id)) if live else None
        while live:
            item, access = live[0]
            source = self.services.tokens.source_for_grant(access.grant_id, tenant_id)
            try:
                fetched = mirrored or fetch_unreconciled(self.services.xero, source, max_pages=self.max_pages)
            except NotConnected as exc:
                # This owner's connection died under us; the next owner may still read it.
                self._dead(item, access.grant_id if exc.reconnect else None, now, poster, report)
                live.pop(0)
                continue
            except XeroForbidden:
                self._dead(item, None, now, poster, report)
                live.pop(0)
                continue
            except XeroError as exc:  # rate limited, Xero down, token endpoint down: try later
                for other, _ in live:
                    self._retry_later(other, xero_cause(exc), now, poster, report)
                return
            report.xero_calls[tenant_id] = report.xero_calls.get(tenant_id, 0) + fetched.calls
            short_code = self._short_code(source)
            details = organisations.get_organisation(self.db, tenant_id)
            for other, other_access in live:
                content = summarise(
                    fetched.transactions,
                    tenant_id=tenant_id,
                    org_name=other_access.tenant_name or other.sub.tenant_name,
                    local_date=other.claim.local_date,
                    complete=fetched.complete,
                    max_items=self.max_items,
                ).with_facts(
                    short_code=short_code, zone=(details.timezone if details else None) or other.sub.timezone
                )
                self._post(other, content, now, poster, report)
            return

    # ------------------------------------------------------------------ outcomes

    def _post(
        self, item: Due, content: DigestContent, now: datetime, poster: Poster, report: RunReport
    ) -> None:
        sub, claim = item.sub, item.claim
        clock = lambda: now  # noqa: E731 - the tick's one instant
        if sub.dead_grant_notified_at is not None:
            ledger.clear_dead_grant_notice(self.db, sub.id)
        if content.is_clear and sub.skip_when_clear:
            ledger.finish_run(self.db, claim, ledger.STATUS_SKIPPED, "all clear", now=clock)
            self._count(report, sub, ledger.STATUS_SKIPPED)
            return
        if not ledger.start_posting(self.db, claim, now=clock):
            log.info("digest %s for %s was taken over by another clock", sub.id, claim.local_date)
            return
        try:
            ts = poster.digest(sub.channel_id, content)
        except PostFailed as exc:
            self._post_failed(item, exc, now, poster, report)
            return
        self._keep_post(sub.slack_team_id, sub.channel_id, ts, content, run_id=claim.run_id, at=now)
        ledger.finish_run(
            self.db,
            claim,
            ledger.STATUS_SENT,
            f"{content.count} items",
            expect=ledger.STATUS_POSTING,
            now=clock,
        )
        self._count(report, sub, ledger.STATUS_SENT)

    def _post_failed(
        self, item: Due, exc: PostFailed, now: datetime, poster: Poster, report: RunReport
    ) -> None:
        sub, claim = item.sub, item.claim
        clock = lambda: now  # noqa: E731
        if exc.delivered is None:
            # It may be in the channel already: never retry, say so in the ledger.
            ledger.finish_run(
                self.db, claim, ledger.STATUS_UNKNOWN, exc.code, expect=ledger.STATUS_POSTING, now=clock
            )
            log.warning("digest %s for %s: outcome unknown (%s)", sub.id, claim.local_date, exc.code)
            self._count(report, sub, ledger.STATUS_UNKNOWN)
            self._tell_owner(item, now, poster)
            return
        if exc.code in RETRYABLE_POST and claim.attempt < ledger.MAX_ATTEMPTS:
            ledger.finish_run(
                self.db,
                claim,
                ledger.retry_status(claim.attempt),
                exc.code,
                expect=ledger.STATUS_POSTING,
                now=clock,
            )
            self._count(report, sub, "retry")
            return
        told_before = exc.code in CANNOT_POST and self._told_before(sub, claim.local_date, exc.code)
        ledger.finish_run(
            self.db, claim, ledger.STATUS_FAILED, exc.code, expect=ledger.STATUS_POSTING, now=clock
        )
        self._count(report, sub, ledger.STATUS_FAILED)
        if not told_before:  # "not in channel" every day is one incident, told once
            self._tell_owner(item, now, poster)

    def _tell_owner(self, item: Due, now: datetime, poster: Poster) -> None:
        """One DM per failed run, with the cause and the next step — the words status shows too."""
        run = ledger.runs_for(self.db, [(item.sub.id, item.claim.local_date)]).get(
            (item.sub.id, item.claim.local_date)
        )
        problem = run_problem(run, now)
        if run is None or problem is None or not ledger.claim_owner_notice(self.db, run.id, now=lambda: now):
            return
        try:
            if problem.cannot_post and problem.code:
                poster.cannot_post(item.sub, problem.code)
            else:
                poster.failed(item.sub, problem, subscription_next_run(item.sub, now))
        except PostFailed as exc:
            log.warning("could not DM %s about digest %s: %s", item.sub.owner_user_id, item.sub.id, exc.code)
            if exc.delivered is False:
                ledger.release_owner_notice(self.db, run.id)

    def _told_before(self, sub: Subscription, day: date, code: str) -> bool:
        """Once per incident: the previous day already failed the same way (and said so)."""
        previous = ledger.last_run(self.db, sub.id, before=day)
        return previous is not None and previous.status == ledger.STATUS_FAILED and previous.detail == code

    def _retry_later(self, item: Due, detail: str, now: datetime, poster: Poster, report: RunReport) -> None:
        status = (
            ledger.retry_status(item.claim.attempt)
            if item.claim.attempt < ledger.MAX_ATTEMPTS
            else ledger.STATUS_FAILED
        )
        ledger.finish_run(self.db, item.claim, status, detail, now=lambda: now)
        log.warning("digest %s for %s: %s (%s)", item.sub.id, item.claim.local_date, detail, status)
        self._count(report, item.sub, "retry" if status != ledger.STATUS_FAILED else status)
        if status == ledger.STATUS_FAILED:
            self._tell_owner(item, now, poster)

    def _dead(
        self, item: Due, dead_grant_id: int | None, now: datetime, poster: Poster, report: RunReport
    ) -> None:
        """The owner can't read this organisation any more: skip the day, say so once.

        ``dead_grant_id`` is the owner's grant Xero stopped accepting (reconnect fixes it);
        ``None`` means the organisation is simply not connected through the owner's login.
        """
        sub, claim = item.sub, item.claim
        reconnect = dead_grant_id is not None
        detail = "connection needs reconnecting" if reconnect else "organisation not connected for the owner"
        ledger.finish_run(self.db, claim, ledger.STATUS_SKIPPED, detail, now=lambda: now)
        self._count(report, sub, ledger.STATUS_SKIPPED)
        if dead_grant_id is not None:
            grant = grants.get_grant(self.db, dead_grant_id)
            if grant is not None:
                self.notify_reconnect(grant, poster, now=now)
        if not ledger.claim_dead_grant_notice(self.db, sub.id, now=lambda: now):
            return
        try:
            poster.dead_connection(sub, reconnect=reconnect)
        except PostFailed as exc:
            log.warning("could not tell channel %s about digest %s: %s", sub.channel_id, sub.id, exc.code)
        if not reconnect:
            consent = self.services.connect.consent_url(sub.slack_team_id, sub.owner_user_id)
            try:
                poster.owner_disconnected(sub, consent)
            except PostFailed as exc:
                log.warning("could not DM %s about digest %s: %s", sub.owner_user_id, sub.id, exc.code)

    def notify_reconnect(self, grant: GrantView, poster: Poster, *, now: datetime) -> bool:
        """One DM per ``needs_reconnect`` incident, whoever notices first (clock or web)."""
        if not grants.claim_reconnect_notice(self.db, grant.id, now=lambda: now):
            return False
        names = [
            t.tenant_name
            for t in grants.user_tenants(self.db, grant.slack_team_id, grant.slack_user_id)
            if t.grant_id == grant.id
        ]
        try:
            poster.reconnect(
                grant, self.services.connect.consent_url(grant.slack_team_id, grant.slack_user_id), names
            )
        except PostFailed as exc:
            log.warning("could not DM %s to reconnect grant %s: %s", grant.slack_user_id, grant.id, exc.code)
            if exc.delivered is False:  # certainly not sent: let the next run try again
                grants.release_reconnect_notice(self.db, grant.id)
            return False
        return True

    @staticmethod
    def _count(report: RunReport, sub: Subscription, status: str) -> None:
        report.outcomes[sub.id] = status
        if status == ledger.STATUS_SENT:
            report.sent += 1
        elif status == ledger.STATUS_SKIPPED:
            report.skipped += 1
        elif status == "retry":
            report.retrying += 1
        else:
            report.failed += 1


def digest_service(services: Services) -> DigestService:
    """The process's :class:`DigestService`, created once.

    Also published as ``services.digest`` — the App Home reads subscriptions from there
    (``services.digest.subscriptions(team, user)``) — and kept in ``services.extras``.
    """
    existing = getattr(services, "digest", None) or services.extras.get("digest")
    if isinstance(existing, DigestService):
        return existing
    created = DigestService(services)
    services.extras["digest"] = created
    services.digest = created  # type: ignore[attr-defined]
    return created
