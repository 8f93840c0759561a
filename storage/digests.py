"""Digest subscriptions and the run ledger that makes each day's digest go out once.

The ledger row ``UNIQUE(subscription_id, local_date)`` is the only thing that decides who sends
a day's digest: a clock *claims* the day with an ``INSERT`` and whoever gets the
``IntegrityError`` walks away. Two clocks, a restart or a late start therefore cannot double a
day, whatever the schedulers think.

A run moves through these states (``DigestRun.status``)::

    claimed ─► posting ─► sent                 the normal day
       │          └─────► failed               Slack refused: the message was certainly not posted
       ├─► retry N ─► claimed N+1 ─► …         Xero/Slack briefly unavailable: try again later
       │          └─────► unknown              the post timed out: it may be in Slack, never retried
       ├─► skipped                             nothing to post (all clear and quiet, grant dead)
       └─► failed                              gave up (attempts exhausted, or a permanent error)

Crash safety without double sends: the step into ``posting`` is a compare-and-set from the exact
claim the worker holds (``claimed`` for attempt 1, ``claimed N`` for attempt N). A claim left
behind by a crashed clock goes stale after :data:`CLAIM_LEASE` and may be taken over as the next
attempt — that also changes its status, so if the "crashed" clock was merely slow its own
compare-and-set fails and it does not post. A run stuck in ``posting`` is never retried: the
message may have reached Slack before the crash, and a missing digest is better than a doubled one.

A run that ends badly tells its owner once: :func:`claim_owner_notice` is a compare-and-set on
the run, so two clocks never both send the DM.

The worklist: each digest message posted in Slack is kept (:func:`record_post`: channel, ts,
what it showed, with the run it belongs to) with one row per transaction it shows, so a fix made
later anywhere can be drawn into every message that shows that transaction
(:func:`posts_showing`, :func:`mark_fixed`, :func:`post_state`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.models import DigestPost, DigestPostRow, DigestRun, DigestSubscription, utcnow

CLAIM_LEASE = timedelta(minutes=15)
RETRY_BACKOFF = timedelta(minutes=10)
MAX_ATTEMPTS = 3

STATUS_CLAIMED = "claimed"
STATUS_POSTING = "posting"
STATUS_SENT = "sent"
STATUS_SKIPPED = "skipped"
STATUS_FAILED = "failed"
STATUS_UNKNOWN = "unknown"  # Slack may or may not have the message (timeout): never retried
_RETRY_PREFIX = "retry "
FINAL_STATUSES = frozenset({STATUS_SENT, STATUS_SKIPPED, STATUS_FAILED, STATUS_POSTING, STATUS_UNKNOWN})


def claimed_status(attempt: int) -> str:
    """``claimed`` for the first attempt, ``claimed 2`` … for later ones."""
    return STATUS_CLAIMED if attempt <= 1 else f"{STATUS_CLAIMED} {attempt}"


def retry_status(attempt: int) -> str:
    """Attempt ``attempt`` failed in a way worth another try."""
    return f"{_RETRY_PREFIX}{attempt}"


def attempt_of(status: str) -> int:
    """Which attempt a ``claimed…``/``retry …`` status belongs to (0 for anything else)."""
    head, _, tail = status.partition(" ")
    if head not in (STATUS_CLAIMED, _RETRY_PREFIX.strip()):
        return 0
    return int(tail) if tail.isdigit() else 1


@dataclass(frozen=True)
class Subscription:
    id: int
    slack_team_id: str
    channel_id: str
    owner_user_id: str
    tenant_id: str
    tenant_name: str
    local_time: str
    timezone: str
    enabled: bool
    skip_when_clear: bool
    dead_grant_notified_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class Run:
    id: int
    subscription_id: int
    local_date: date
    status: str
    claimed_at: datetime
    finished_at: datetime | None
    detail: str | None
    owner_told_at: datetime | None = None

    @property
    def attempt(self) -> int:
        return attempt_of(self.status)


@dataclass(frozen=True)
class Claim:
    """A worker's right to send one day's digest; ``status`` is what its compare-and-set expects."""

    run_id: int
    subscription_id: int
    local_date: date
    attempt: int

    @property
    def status(self) -> str:
        return claimed_status(self.attempt)


def _sub(row: DigestSubscription) -> Subscription:
    return Subscription(
        id=row.id,
        slack_team_id=row.slack_team_id,
        channel_id=row.channel_id,
        owner_user_id=row.owner_user_id,
        tenant_id=row.tenant_id,
        tenant_name=row.tenant_name,
        local_time=row.local_time,
        timezone=row.timezone,
        enabled=row.enabled,
        skip_when_clear=row.skip_when_clear,
        dead_grant_notified_at=row.dead_grant_notified_at,
        created_at=row.created_at,
    )


def _run(row: DigestRun) -> Run:
    return Run(
        id=row.id,
        subscription_id=row.subscription_id,
        local_date=row.local_date,
        status=row.status,
        claimed_at=row.claimed_at,
        finished_at=row.finished_at,
        detail=row.detail,
        owner_told_at=row.owner_told_at,
    )


# --------------------------------------------------------------------------- subscriptions


@dataclass(frozen=True)
class Upserted:
    subscription: Subscription
    created: bool
    previous: Subscription | None  # what it replaced (another owner, another time…)


def upsert_subscription(
    db: Database,
    *,
    slack_team_id: str,
    channel_id: str,
    owner_user_id: str,
    tenant_id: str,
    tenant_name: str,
    local_time: str,
    timezone: str,
    skip_when_clear: bool,
    now: Callable[[], datetime] = utcnow,
) -> Upserted:
    """Subscribe a channel to an organisation's digest, or change the existing subscription.

    A channel has at most one digest per organisation (the table's unique key), so subscribing
    again changes its time, zone and owner rather than adding a second daily post. The new
    subscriber becomes the owner: their Xero connection is the one that will be used.
    """
    moment = now()
    for _ in range(2):  # a concurrent insert of the same key makes the first try lose
        try:
            with db.locked_session() as session:
                row = session.scalar(
                    select(DigestSubscription)
                    .where(
                        DigestSubscription.slack_team_id == slack_team_id,
                        DigestSubscription.channel_id == channel_id,
                        DigestSubscription.tenant_id == tenant_id,
                    )
                    .with_for_update()
                )
                previous = _sub(row) if row is not None else None
                if row is None:
                    row = DigestSubscription(
                        slack_team_id=slack_team_id,
                        channel_id=channel_id,
                        tenant_id=tenant_id,
                        created_at=moment,
                    )
                    session.add(row)
                row.owner_user_id = owner_user_id
                row.tenant_name = tenant_name
                row.local_time = local_time
                row.timezone = timezone
                row.skip_when_clear = skip_when_clear
                row.enabled = True
                row.dead_grant_notified_at = None
                row.updated_at = moment
                session.flush()
                return Upserted(_sub(row), previous is None, previous)
        except IntegrityError:
            continue
    raise RuntimeError("could not save the subscription: it kept changing underneath")


def get_subscription(db: Database, subscription_id: int) -> Subscription | None:
    with db.session() as session:
        row = session.get(DigestSubscription, subscription_id)
        return _sub(row) if row is not None else None


def subscriptions_of_user(db: Database, slack_team_id: str, owner_user_id: str) -> list[Subscription]:
    with db.session() as session:
        rows = session.scalars(
            select(DigestSubscription)
            .where(
                DigestSubscription.slack_team_id == slack_team_id,
                DigestSubscription.owner_user_id == owner_user_id,
            )
            .order_by(DigestSubscription.id)
        ).all()
        return [_sub(r) for r in rows]


def subscriptions_in_channel(db: Database, slack_team_id: str, channel_id: str) -> list[Subscription]:
    with db.session() as session:
        rows = session.scalars(
            select(DigestSubscription)
            .where(
                DigestSubscription.slack_team_id == slack_team_id,
                DigestSubscription.channel_id == channel_id,
            )
            .order_by(DigestSubscription.id)
        ).all()
        return [_sub(r) for r in rows]


def enabled_subscriptions(db: Database) -> list[Subscription]:
    with db.session() as session:
        rows = session.scalars(
            select(DigestSubscription)
            .where(DigestSubscription.enabled.is_(True))
            .order_by(DigestSubscription.id)
        ).all()
        return [_sub(r) for r in rows]


def delete_subscriptions(db: Database, ids: Iterable[int]) -> int:
    """Remove subscriptions (their ledger rows go with them, ``ON DELETE CASCADE``)."""
    wanted = list(ids)
    if not wanted:
        return 0
    with db.session() as session:
        runs = select(DigestRun.id).where(DigestRun.subscription_id.in_(wanted))
        posts = select(DigestPost.id).where(DigestPost.run_id.in_(runs))
        session.execute(delete(DigestPostRow).where(DigestPostRow.post_id.in_(posts)))
        session.execute(delete(DigestPost).where(DigestPost.run_id.in_(runs)))
        session.execute(delete(DigestRun).where(DigestRun.subscription_id.in_(wanted)))
        return session.execute(delete(DigestSubscription).where(DigestSubscription.id.in_(wanted))).rowcount


def claim_dead_grant_notice(
    db: Database, subscription_id: int, *, now: Callable[[], datetime] = utcnow
) -> bool:
    """True exactly once per dead-connection incident: the caller then tells the channel."""
    with db.session() as session:
        return (
            session.execute(
                update(DigestSubscription)
                .where(
                    DigestSubscription.id == subscription_id,
                    DigestSubscription.dead_grant_notified_at.is_(None),
                )
                .values(dead_grant_notified_at=now())
            ).rowcount
            == 1
        )


def clear_dead_grant_notice(db: Database, subscription_id: int) -> None:
    """The owner's connection works again: a future incident should be reported afresh."""
    with db.session() as session:
        session.execute(
            update(DigestSubscription)
            .where(
                DigestSubscription.id == subscription_id,
                DigestSubscription.dead_grant_notified_at.is_not(None),
            )
            .values(dead_grant_notified_at=None)
        )


# --------------------------------------------------------------------------- the ledger


def runs_for(db: Database, pairs: Iterable[tuple[int, date]]) -> dict[tuple[int, date], Run]:
    """Ledger rows for the given (subscription, local date) pairs, keyed the same way."""
    wanted = set(pairs)
    if not wanted:
        return {}
    ids = {sub_id for sub_id, _ in wanted}
    dates = {day for _, day in wanted}
    with db.session() as session:
        rows = session.scalars(
            select(DigestRun).where(DigestRun.subscription_id.in_(ids), DigestRun.local_date.in_(dates))
        ).all()
        found = {(r.subscription_id, r.local_date): _run(r) for r in rows}
    return {key: run for key, run in found.items() if key in wanted}


def last_run(db: Database, subscription_id: int, *, before: date | None = None) -> Run | None:
    """The most recent ledger row of a subscription (strictly before ``before`` if given)."""
    with db.session() as session:
        query = select(DigestRun).where(DigestRun.subscription_id == subscription_id)
        if before is not None:
            query = query.where(DigestRun.local_date < before)
        row = session.scalar(query.order_by(DigestRun.local_date.desc()).limit(1))
        return _run(row) if row is not None else None


def claim_run(
    db: Database, subscription_id: int, local_date: date, *, now: Callable[[], datetime] = utcnow
) -> Claim | None:
    """Claim a day's digest by inserting its ledger row; ``None`` if anybody already has it."""
    try:
        with db.locked_session() as session:
            row = DigestRun(
                subscription_id=subscription_id,
                local_date=local_date,
                status=claimed_status(1),
                claimed_at=now(),
            )
            session.add(row)
            session.flush()
            return Claim(row.id, subscription_id, local_date, 1)
    except IntegrityError:
        return None


def runs_in_trouble(db: Database) -> list[Run]:
    """Runs whose last attempt did not post: waiting for a retry, given up, or maybe posted."""
    with db.session() as session:
        rows = session.scalars(
            select(DigestRun).where(
                DigestRun.status.in_((STATUS_FAILED, STATUS_UNKNOWN))
                | DigestRun.status.startswith(_RETRY_PREFIX)
            )
        ).all()
        return [_run(r) for r in rows]


def retry_due(run: Run, now: datetime) -> bool:
    """Whether a run may be taken over as its next attempt (pure; the claim itself re-checks)."""
    attempt = run.attempt
    if attempt == 0 or attempt >= MAX_ATTEMPTS:
        return False
    if run.status.startswith(_RETRY_PREFIX):
        return (run.finished_at or run.claimed_at) + RETRY_BACKOFF <= now
    return run.claimed_at + CLAIM_LEASE <= now  # a claim whose clock died before posting


def reclaim_run(db: Database, run: Run, *, now: Callable[[], datetime] = utcnow) -> Claim | None:
    """Take over a failed or abandoned attempt as the next one; ``None`` if someone else did.

    Compare-and-set on the status (each attempt has its own), so exactly one clock wins, and
    the worker that held the old claim can no longer move it to ``posting``.
    """
    moment = now()
    if not retry_due(run, moment):
        return None
    attempt = run.attempt + 1
    with db.session() as session:
        won = session.execute(
            update(DigestRun)
            .where(DigestRun.id == run.id, DigestRun.status == run.status)
            .values(status=claimed_status(attempt), claimed_at=moment, finished_at=None)
        ).rowcount
    return Claim(run.id, run.subscription_id, run.local_date, attempt) if won == 1 else None


def exhausted(run: Run, now: datetime) -> bool:
    """A run on its last attempt that failed or whose clock died: it will not be retried."""
    if run.attempt < MAX_ATTEMPTS:
        return False
    return run.status.startswith(_RETRY_PREFIX) or run.claimed_at + CLAIM_LEASE <= now


def give_up(db: Database, run: Run, *, now: Callable[[], datetime] = utcnow) -> bool:
    """Close an exhausted run as ``failed`` so the ledger (and ``/recon digest status``) says so."""
    moment = now()
    if not exhausted(run, moment):
        return False
    with db.session() as session:
        return (
            session.execute(
                update(DigestRun)
                .where(DigestRun.id == run.id, DigestRun.status == run.status)
                .values(status=STATUS_FAILED, finished_at=moment, detail=(run.detail or "gave up")[:500])
            ).rowcount
            == 1
        )


def start_posting(db: Database, claim: Claim, *, now: Callable[[], datetime] = utcnow) -> bool:
    """The last step before ``chat.postMessage``: only the current claim holder gets True."""
    with db.session() as session:
        return (
            session.execute(
                update(DigestRun)
                .where(DigestRun.id == claim.run_id, DigestRun.status == claim.status)
                .values(status=STATUS_POSTING, detail=f"attempt {claim.attempt} posting at {now():%H:%M:%S}Z")
            ).rowcount
            == 1
        )


def finish_run(
    db: Database,
    claim: Claim,
    status: str,
    detail: str | None = None,
    *,
    expect: str | None = None,
    now: Callable[[], datetime] = utcnow,
) -> bool:
    """Record how a claimed run ended. ``expect`` is the status the run must still have
    (default: this claim's); False if the run moved on without us (another clock took it)."""
    with db.session() as session:
        return (
            session.execute(
                update(DigestRun)
                .where(DigestRun.id == claim.run_id, DigestRun.status == (expect or claim.status))
                .values(status=status, finished_at=now(), detail=(detail or "")[:500] or None)
            ).rowcount
            == 1
        )


def claim_owner_notice(db: Database, run_id: int, *, now: Callable[[], datetime] = utcnow) -> bool:
    """True exactly once per run that failed: the caller then DMs the owner about it."""
    with db.session() as session:
        return (
            session.execute(
                update(DigestRun)
                .where(DigestRun.id == run_id, DigestRun.owner_told_at.is_(None))
                .values(owner_told_at=now())
            ).rowcount
            == 1
        )


def release_owner_notice(db: Database, run_id: int) -> None:
    """The DM certainly did not go out: let the next run try again."""
    with db.session() as session:
        session.execute(update(DigestRun).where(DigestRun.id == run_id).values(owner_told_at=None))


# --------------------------------------------------------------------------- the worklist


@dataclass(frozen=True)
class Post:
    """A digest message in Slack and what it showed (``snapshot``, the services' JSON)."""

    id: int
    slack_team_id: str
    channel_id: str
    message_ts: str
    tenant_id: str
    run_id: int | None
    snapshot: str
    version: int
    posted_at: datetime


@dataclass(frozen=True)
class RowFix:
    bank_transaction_id: str
    fixed_by: str
    fixed_at: datetime
    reference: str | None


def _post(row: DigestPost) -> Post:
    return Post(
        id=row.id,
        slack_team_id=row.slack_team_id,
        channel_id=row.channel_id,
        message_ts=row.message_ts,
        tenant_id=row.tenant_id,
        run_id=row.run_id,
        snapshot=row.snapshot,
        version=row.version,
        posted_at=row.posted_at,
    )


def record_post(
    db: Database,
    *,
    slack_team_id: str,
    channel_id: str,
    message_ts: str,
    tenant_id: str,
    run_id: int | None,
    snapshot: str,
    transaction_ids: Iterable[str],
    now: Callable[[], datetime] = utcnow,
) -> int:
    """Keep a posted digest message and the transactions it shows; returns its id."""
    with db.session() as session:
        row = DigestPost(
            slack_team_id=slack_team_id,
            channel_id=channel_id,
            message_ts=message_ts,
            tenant_id=tenant_id,
            run_id=run_id,
            snapshot=snapshot,
            version=0,
            posted_at=now(),
        )
        session.add(row)
        session.flush()
        for txn_id in dict.fromkeys(transaction_ids):
            session.add(DigestPostRow(post_id=row.id, tenant_id=tenant_id, bank_transaction_id=txn_id))
        return row.id


def posts_showing(
    db: Database,
    slack_team_id: str,
    tenant_id: str,
    bank_transaction_id: str,
    *,
    since: datetime,
    limit: int = 20,
) -> list[Post]:
    """The digest messages (newest first, posted at or after ``since``) that show a transaction."""
    with db.session() as session:
        rows = session.scalars(
            select(DigestPost)
            .join(DigestPostRow, DigestPostRow.post_id == DigestPost.id)
            .where(
                DigestPostRow.tenant_id == tenant_id,
                DigestPostRow.bank_transaction_id == bank_transaction_id,
                DigestPost.slack_team_id == slack_team_id,
                DigestPost.posted_at >= since,
            )
            .order_by(DigestPost.posted_at.desc(), DigestPost.id.desc())
            .limit(limit)
        ).all()
        return [_post(r) for r in rows]


def mark_fixed(
    db: Database,
    post_ids: Iterable[int],
    tenant_id: str,
    bank_transaction_id: str,
    *,
    fixed_by: str,
    reference: str | None,
    now: Callable[[], datetime] = utcnow,
) -> None:
    """Record the fix on each message's row and move each message's version on."""
    ids = list(post_ids)
    if not ids:
        return
    with db.session() as session:
        session.execute(
            update(DigestPostRow)
            .where(
                DigestPostRow.post_id.in_(ids),
                DigestPostRow.tenant_id == tenant_id,
                DigestPostRow.bank_transaction_id == bank_transaction_id,
            )
            .values(fixed_by=fixed_by, fixed_at=now(), fixed_reference=reference)
        )
        session.execute(
            update(DigestPost).where(DigestPost.id.in_(ids)).values(version=DigestPost.version + 1)
        )


def post_state(db: Database, post_id: int) -> tuple[Post, list[RowFix]] | None:
    """A message and the fixes made to its rows so far (None once it is gone)."""
    with db.session() as session:
        row = session.get(DigestPost, post_id)
        if row is None:
            return None
        fixes = session.scalars(
            select(DigestPostRow).where(DigestPostRow.post_id == post_id, DigestPostRow.fixed_by.is_not(None))
        ).all()
        return _post(row), [
            RowFix(f.bank_transaction_id, f.fixed_by or "", f.fixed_at or row.posted_at, f.fixed_reference)
            for f in fixes
        ]


def post_version(db: Database, post_id: int) -> int | None:
    with db.session() as session:
        row = session.get(DigestPost, post_id)
        return row.version if row is not None else None


def forget_posts(db: Database, *, before: datetime) -> int:
    """Drop what was kept of digest messages posted before ``before`` (they are no longer redrawn)."""
    with db.session() as session:
        old = select(DigestPost.id).where(DigestPost.posted_at < before)
        session.execute(delete(DigestPostRow).where(DigestPostRow.post_id.in_(old)))
        return session.execute(delete(DigestPost).where(DigestPost.posted_at < before)).rowcount
