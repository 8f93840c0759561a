"""Grants (one Xero authorisation of one Slack user) and their organisations.

Reads return plain dataclasses without tokens, so nothing outside this module can log, render or
leak a token by accident; the only ways to get token text out are :func:`valid_access_token`
and :func:`refresh_token_for_revocation`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from storage.crashpoints import crash_point
from storage.crypto import TokenDecryptError
from storage.db import Database
from storage.models import (
    GRANT_ACTIVE,
    GRANT_NEEDS_RECONNECT,
    GRANT_REVOKED,
    TENANT_CONNECTED,
    TENANT_GONE,
    Grant,
    Tenant,
    utcnow,
)

REFRESH_MARGIN = timedelta(minutes=2)
# How long a refresh may hold its lease: longer than the slowest refresh the OAuth client makes
# (three attempts at a 15 s read timeout plus back-off, ~56 s). A holder that dies keeps others
# waiting this long at most; then its lease is taken over.
REFRESH_LEASE = timedelta(seconds=90)
LEASE_POLL_SECONDS = (0.05, 0.15)  # waiters look again after a random pause in this range
_MAX_LOST_RACES = 3

log = logging.getLogger(__name__)


class TokenSetLike(Protocol):
    access_token: str
    refresh_token: str
    expires_at: datetime
    scope: tuple[str, ...]


class ConnectionLike(Protocol):
    id: str
    tenant_id: str
    tenant_name: str
    auth_event_id: str | None


class RefreshBusy(Exception):
    """Another worker has held this grant's refresh lease longer than the caller would wait."""

    def __init__(self, grant_id: int) -> None:
        super().__init__(f"grant {grant_id}: another worker's refresh is still in progress")
        self.grant_id = grant_id


class GrantNotUsable(Exception):
    """The grant is gone, revoked or waiting for the user to reconnect."""

    def __init__(self, grant_id: int, status: str) -> None:
        super().__init__(f"grant {grant_id} is {status}")
        self.grant_id = grant_id
        self.status = status


@dataclass(frozen=True)
class GrantView:
    id: int
    slack_team_id: str
    slack_user_id: str
    xero_user_id: str
    status: str
    generation: int
    access_expires_at: datetime
    last_refreshed_at: datetime
    last_refresh_outcome: str | None
    scopes: tuple[str, ...]
    reconnect_notified_at: datetime | None
    refreshing_until: datetime | None = None  # a refresh lease, while someone is calling Xero
    refresh_pending_generation: int | None = None  # a refresh of this generation did not finish
    refresh_pending_since: datetime | None = None


@dataclass(frozen=True)
class TenantView:
    grant_id: int
    tenant_id: str
    tenant_name: str
    connection_id: str
    auth_event_id: str | None
    is_default: bool
    status: str
    grant_status: str
    timezone: str | None


@dataclass(frozen=True)
class AccessToken:
    """A usable access token; ``refreshed`` says whether this call performed the refresh."""

    grant_id: int
    token: str
    expires_at: datetime
    generation: int
    refreshed: bool

    def __repr__(self) -> str:
        return f"AccessToken(grant_id={self.grant_id}, generation={self.generation}, token='***')"


@dataclass(frozen=True)
class ConsentResult:
    grant: GrantView
    tenants: tuple[TenantView, ...]
    added: tuple[TenantView, ...]  # organisations this consent connected for the first time
    created: bool  # a new grant rather than a reconnect of an existing one


def _grant_view(grant: Grant) -> GrantView:
    return GrantView(
        id=grant.id,
        slack_team_id=grant.slack_team_id,
        slack_user_id=grant.slack_user_id,
        xero_user_id=grant.xero_user_id,
        status=grant.status,
        generation=grant.generation,
        access_expires_at=grant.access_expires_at,
        last_refreshed_at=grant.last_refreshed_at,
        last_refresh_outcome=grant.last_refresh_outcome,
        scopes=tuple(grant.scopes.split()),
        reconnect_notified_at=grant.reconnect_notified_at,
        refreshing_until=grant.refreshing_until,
        refresh_pending_generation=grant.refresh_pending_generation,
        refresh_pending_since=grant.refresh_pending_since,
    )


def _tenant_view(tenant: Tenant, grant: Grant, is_default: bool | None = None) -> TenantView:
    return TenantView(
        grant_id=grant.id,
        tenant_id=tenant.tenant_id,
        tenant_name=tenant.tenant_name,
        connection_id=tenant.connection_id,
        auth_event_id=tenant.auth_event_id,
        is_default=tenant.is_default if is_default is None else is_default,
        status=tenant.status,
        grant_status=grant.status,
        timezone=tenant.timezone,
    )


def save_consent(
    db: Database,
    *,
    slack_team_id: str,
    slack_user_id: str,
    xero_user_id: str,
    tokens: TokenSetLike,
    connections: Sequence[ConnectionLike],
    auth_event_id: str | None = None,
    now: Callable[[], datetime] = utcnow,
) -> ConsentResult:
    """Store a completed consent: a new grant, or the same Xero login reconnecting.

    Reconnecting updates the existing grant (fresh tokens, status active, generation bumped) and
    reconciles its organisations with ``/connections``: new ones are added, ones Xero no longer
    lists are marked gone. If the user has no default organisation yet, the first one becomes it.

    A consent with a different Xero login makes a new grant; the user's dead grants (waiting for
    a reconnect, or revoked) lose the organisations it holds, and go once they hold none — the
    user's default organisation carries over.
    """
    moment = now()
    cipher = db.cipher
    with db.locked_session() as session:
        grant = session.scalar(
            select(Grant)
            .where(
                Grant.slack_team_id == slack_team_id,
                Grant.slack_user_id == slack_user_id,
                Grant.xero_user_id == xero_user_id,
            )
            .with_for_update()
        )
        created = grant is None
        if grant is None:
            grant = Grant(
                slack_team_id=slack_team_id,
                slack_user_id=slack_user_id,
                xero_user_id=xero_user_id,
                generation=0,
            )
            session.add(grant)
        grant.access_token_enc = cipher.encrypt(tokens.access_token)
        grant.refresh_token_enc = cipher.encrypt(tokens.refresh_token)
        grant.access_expires_at = tokens.expires_at
        grant.last_refreshed_at = moment
        grant.last_refresh_attempt_at = moment
        grant.last_refresh_outcome = "connected"
        grant.scopes = " ".join(tokens.scope)
        grant.status = GRANT_ACTIVE
        grant.generation = (grant.generation or 0) + 1
        grant.reconnect_notified_at = None
        grant.refreshing_until = None
        grant.refresh_pending_generation = None
        grant.refresh_pending_since = None
        session.flush()

        by_tenant = {t.tenant_id: t for t in grant.tenants}
        listed = {c.tenant_id for c in connections}
        added: list[Tenant] = []
        for conn in connections:
            tenant = by_tenant.get(conn.tenant_id)
            if tenant is None:
                tenant = Tenant(grant=grant, tenant_id=conn.tenant_id, is_default=False)
                session.add(tenant)
                added.append(tenant)
            elif tenant.status == TENANT_GONE:
                added.append(tenant)
            tenant.tenant_name = conn.tenant_name
            tenant.connection_id = conn.id
            tenant.auth_event_id = conn.auth_event_id
            tenant.status = TENANT_CONNECTED
        for tenant in grant.tenants:
            if tenant.tenant_id not in listed:
                tenant.status = TENANT_GONE
                tenant.is_default = False
        session.flush()
        if auth_event_id is not None:
            # Xero marks the organisations this consent touched; prefer that over our own diff.
            touched = [t for t in grant.tenants if t.auth_event_id == auth_event_id]
            added = [t for t in touched if t in added or created] or added
        carried = _drop_dead_duplicates(session, grant, listed)
        session.flush()
        if carried and not any(d for *_, d in _held(session, slack_team_id, slack_user_id)):
            for tenant in grant.tenants:
                tenant.is_default = tenant.tenant_id == carried and tenant.status == TENANT_CONNECTED
        _ensure_default(session, slack_team_id, slack_user_id)
        session.flush()
        return ConsentResult(
            grant=_grant_view(grant),
            tenants=tuple(_tenant_view(t, grant) for t in grant.tenants if t.status == TENANT_CONNECTED),
            added=tuple(_tenant_view(t, grant) for t in added),
            created=created,
        )


def _user_tenants(session, slack_team_id: str, slack_user_id: str) -> list[tuple[Tenant, Grant]]:
    rows = session.execute(
        select(Tenant, Grant)
        .join(Grant, Tenant.grant_id == Grant.id)
        .where(Grant.slack_team_id == slack_team_id, Grant.slack_user_id == slack_user_id)
        .order_by(Grant.id, Tenant.id)
    ).all()
    return [(tenant, grant) for tenant, grant in rows]


_PREFERENCE = {GRANT_ACTIVE: 0, GRANT_NEEDS_RECONNECT: 1}


def _held(session, slack_team_id: str, slack_user_id: str) -> list[tuple[Tenant, Grant, bool]]:
    """Each organisation the user can act on, once: through an active grant when one holds it.

    A user may hold an organisation through two grants (a reconnect with another Xero login
    left the dead one behind); the first by id must not win, or the user is stuck on
    "reconnect". The flag says whether any of the organisation's rows is the user's default.
    """
    pairs = [
        (t, g)
        for t, g in _user_tenants(session, slack_team_id, slack_user_id)
        if t.status == TENANT_CONNECTED and g.status != GRANT_REVOKED
    ]
    best: dict[str, tuple[Tenant, Grant]] = {}
    defaults = {t.tenant_id for t, _ in pairs if t.is_default}
    for tenant, grant in pairs:
        current = best.get(tenant.tenant_id)
        if current is None or _PREFERENCE.get(grant.status, 2) < _PREFERENCE.get(current[1].status, 2):
            best[tenant.tenant_id] = (tenant, grant)
    chosen = {id(t) for t, _ in best.values()}
    return [(t, g, t.tenant_id in defaults) for t, g in pairs if id(t) in chosen]


def _drop_dead_duplicates(session, grant: Grant, tenant_ids: set[str]) -> str | None:
    """Remove ``tenant_ids`` from the user's dead grants; delete those left holding nothing.

    Returns the user's default organisation if it was one of the rows removed.
    """
    dead = session.scalars(
        select(Grant).where(
            Grant.slack_team_id == grant.slack_team_id,
            Grant.slack_user_id == grant.slack_user_id,
            Grant.id != grant.id,
            Grant.status.in_((GRANT_NEEDS_RECONNECT, GRANT_REVOKED)),
        )
    ).all()
    carried = None
    for old in dead:
        for tenant in list(old.tenants):
            if tenant.tenant_id in tenant_ids:
                if tenant.is_default:
                    carried = tenant.tenant_id
                old.tenants.remove(tenant)
        if not any(t.status == TENANT_CONNECTED for t in old.tenants):
            session.delete(old)
    return carried


def _ensure_default(session, slack_team_id: str, slack_user_id: str) -> None:
    held = _held(session, slack_team_id, slack_user_id)
    if held and not any(d for *_, d in held):
        held[0][0].is_default = True


def user_tenants(db: Database, slack_team_id: str, slack_user_id: str) -> list[TenantView]:
    """The organisations this Slack user can act on (connected, grant not revoked), each once,
    through an active grant where one holds it."""
    with db.session() as session:
        return [_tenant_view(t, g, d) for t, g, d in _held(session, slack_team_id, slack_user_id)]


def user_grants(db: Database, slack_team_id: str, slack_user_id: str) -> list[GrantView]:
    with db.session() as session:
        grants = session.scalars(
            select(Grant)
            .where(Grant.slack_team_id == slack_team_id, Grant.slack_user_id == slack_user_id)
            .order_by(Grant.id)
        ).all()
        return [_grant_view(g) for g in grants]


def get_grant(db: Database, grant_id: int) -> GrantView | None:
    with db.session() as session:
        grant = session.get(Grant, grant_id)
        return _grant_view(grant) if grant else None


def find_user_tenant(
    db: Database, slack_team_id: str, slack_user_id: str, tenant_id: str
) -> TenantView | None:
    """The tenant if, and only if, this Slack user holds it — the authorisation check."""
    for tenant in user_tenants(db, slack_team_id, slack_user_id):
        if tenant.tenant_id == tenant_id:
            return tenant
    return None


def set_default_tenant(db: Database, slack_team_id: str, slack_user_id: str, tenant_id: str) -> TenantView:
    with db.locked_session() as session:
        held = _held(session, slack_team_id, slack_user_id)
        target = next(((t, g) for t, g, _ in held if t.tenant_id == tenant_id), None)
        if target is None:
            raise LookupError("that organisation is not connected for this user")
        for tenant, _ in _user_tenants(session, slack_team_id, slack_user_id):  # hidden rows too
            if tenant.is_default and tenant is not target[0]:
                tenant.is_default = False
        session.flush()
        target[0].is_default = True
        session.flush()
        return _tenant_view(*target)


def set_tenant_timezone(db: Database, grant_id: int, tenant_id: str, timezone: str) -> None:
    with db.session() as session:
        session.execute(
            update(Tenant)
            .where(Tenant.grant_id == grant_id, Tenant.tenant_id == tenant_id)
            .values(timezone=timezone)
        )


def valid_access_token(
    db: Database,
    grant_id: int,
    refresh: Callable[[str], TokenSetLike],
    *,
    margin: timedelta = REFRESH_MARGIN,
    stale_generation: int | None = None,
    invalid_grant: type[BaseException] | tuple[type[BaseException], ...] = (),
    now: Callable[[], datetime] = utcnow,
    lease: timedelta = REFRESH_LEASE,
    wait: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> AccessToken:
    """Return a usable access token, refreshing at most once across every process.

    The grant is due when its token expires within ``margin`` — or, when ``stale_generation`` is
    given (the caller saw a 401 with that generation's token), when nobody has refreshed since.
    A due refresh runs under a short *lease*, never inside a transaction, so a slow Xero holds no
    lock and no pooled connection:

    1. a short locked transaction (``BEGIN IMMEDIATE`` / ``SELECT … FOR UPDATE``) re-reads the
       grant, takes the lease (``refreshing_until``) and records the attempt
       (``refresh_pending_generation``/``_since``) — *before* Xero is called, so an answer lost
       to a timeout or a crash is known and the clock retries it inside Xero's grace period;
    2. ``refresh`` is called with the stored refresh token, outside any transaction;
    3. a second short transaction stores the rotated pair with a compare-and-set on the
       generation, which also clears the lease and the attempt.

    Others who find the lease held poll (briefly, without locking) until it is released and use
    the new token; a lease past ``refreshing_until`` belongs to a holder that died or stalled and
    is taken over — with the same refresh token, which Xero's 30-minute grace period accepts
    again. If the late holder answers after all, its compare-and-set fails and it uses the
    token that was committed. :class:`RefreshBusy` if the lease stays held longer than ``wait``
    seconds (default: the lease plus a little).

    If ``refresh`` raises, the lease is given back and the attempt stays recorded; the stored
    pair is untouched. An ``invalid_grant`` exception marks the grant ``needs_reconnect`` — by a
    compare-and-set on the generation, so only if nobody rotated it meanwhile — before it
    propagates.
    """
    deadline = time.monotonic() + (lease.total_seconds() + 5 if wait is None else wait)
    lost_races = 0
    while True:
        claimed = _claim(db, grant_id, margin, stale_generation, now, lease)
        if isinstance(claimed, AccessToken):
            return claimed
        if claimed is None:  # someone else is calling Xero for this grant
            while _lease_held(db, grant_id, now):
                if time.monotonic() >= deadline:
                    raise RefreshBusy(grant_id)
                sleep(random.uniform(*LEASE_POLL_SECONDS))
            continue
        done = _refresh_under_lease(db, grant_id, claimed, refresh, invalid_grant, now)
        if done is not None:
            return done
        lost_races += 1  # another worker moved the grant on meanwhile: use what it stored
        if lost_races >= _MAX_LOST_RACES:
            raise RefreshBusy(grant_id)


@dataclass(frozen=True)
class _Lease:
    generation: int
    refresh_token: str
    until: datetime

    def __repr__(self) -> str:
        return f"_Lease(generation={self.generation}, until={self.until.isoformat()}, token='***')"


def _claim(
    db: Database,
    grant_id: int,
    margin: timedelta,
    stale_generation: int | None,
    now: Callable[[], datetime],
    lease: timedelta,
) -> AccessToken | _Lease | None:
    """The current token if none is due; else the lease (taken), or None if someone holds it."""
    cipher = db.cipher
    with db.locked_session() as session:
        grant = session.scalar(select(Grant).where(Grant.id == grant_id).with_for_update())
        if grant is None:
            raise GrantNotUsable(grant_id, "missing")
        if grant.status != GRANT_ACTIVE:
            raise GrantNotUsable(grant_id, grant.status)
        moment = now()
        if stale_generation is not None:
            due = grant.generation == stale_generation
        else:
            due = grant.access_expires_at - moment <= margin
        if not due:
            return AccessToken(
                grant.id,
                cipher.decrypt(grant.access_token_enc),
                grant.access_expires_at,
                grant.generation,
                refreshed=False,
            )
        if grant.refreshing_until is not None and grant.refreshing_until > moment:
            return None
        refresh_token = cipher.decrypt(grant.refresh_token_enc)  # before any write: a bad row stays as it is
        held = _Lease(grant.generation, refresh_token, moment + lease)
        grant.refreshing_until = held.until
        if grant.refresh_pending_generation != grant.generation:
            grant.refresh_pending_generation = grant.generation
            grant.refresh_pending_since = moment  # when Xero's grace period may have started
        grant.last_refresh_attempt_at = moment
        return held


def _lease_held(db: Database, grant_id: int, now: Callable[[], datetime]) -> bool:
    """A plain read (no lock): is someone still inside an unexpired lease on this grant?"""
    with db.session() as session:
        row = session.execute(
            select(Grant.refreshing_until, Grant.status).where(Grant.id == grant_id)
        ).one_or_none()
    return (
        row is not None
        and row.status == GRANT_ACTIVE
        and row.refreshing_until is not None
        and row.refreshing_until > now()
    )


def _refresh_under_lease(
    db: Database,
    grant_id: int,
    held: _Lease,
    refresh: Callable[[str], TokenSetLike],
    invalid_grant: type[BaseException] | tuple[type[BaseException], ...],
    now: Callable[[], datetime],
) -> AccessToken | None:
    """Call Xero holding the lease; None if another worker's result won the compare-and-set."""
    crash_point("before_xero")
    try:
        tokens = refresh(held.refresh_token)
    except invalid_grant:
        if _mark_dead(db, grant_id, held, now):
            raise
        return None
    except BaseException:
        _release(db, grant_id, held)
        raise
    crash_point("after_xero")
    cipher = db.cipher
    moment = now()
    values = {
        "access_token_enc": cipher.encrypt(tokens.access_token),
        "refresh_token_enc": cipher.encrypt(tokens.refresh_token),
        "access_expires_at": tokens.expires_at,
        "last_refreshed_at": moment,
        "last_refresh_attempt_at": moment,
        "last_refresh_outcome": "refreshed",
        "generation": held.generation + 1,
        "refreshing_until": None,
        "refresh_pending_generation": None,
        "refresh_pending_since": None,
    }
    if tokens.scope:
        values["scopes"] = " ".join(tokens.scope)
    with db.locked_session() as session:
        stored = (
            session.execute(
                update(Grant)
                .where(
                    Grant.id == grant_id,
                    Grant.generation == held.generation,
                    Grant.status == GRANT_ACTIVE,
                )
                .values(**values)
            ).rowcount
            == 1
        )
        crash_point("before_commit")
    if not stored:
        return None
    return AccessToken(grant_id, tokens.access_token, tokens.expires_at, held.generation + 1, refreshed=True)


def _mark_dead(db: Database, grant_id: int, held: _Lease, now: Callable[[], datetime]) -> bool:
    """``invalid_grant`` for the generation we hold: the grant needs its user (compare-and-set)."""
    with db.locked_session() as session:
        return (
            session.execute(
                update(Grant)
                .where(
                    Grant.id == grant_id,
                    Grant.generation == held.generation,
                    Grant.status == GRANT_ACTIVE,
                )
                .values(
                    status=GRANT_NEEDS_RECONNECT,
                    last_refresh_attempt_at=now(),
                    last_refresh_outcome="invalid_grant",
                    refreshing_until=None,
                    refresh_pending_generation=None,
                    refresh_pending_since=None,
                )
            ).rowcount
            == 1
        )


def _release(db: Database, grant_id: int, held: _Lease) -> None:
    """Give the lease back after a failed call; the attempt stays recorded for the clock.

    Only our own lease (same generation, same expiry) is cleared. If the database cannot be
    reached either, the lease simply expires — the caller's own exception is what matters.
    """
    try:
        with db.session() as session:
            session.execute(
                update(Grant)
                .where(
                    Grant.id == grant_id,
                    Grant.generation == held.generation,
                    Grant.refreshing_until == held.until,
                )
                .values(refreshing_until=None)
            )
    except SQLAlchemyError as exc:
        log.warning(
            "grant %s: could not give back the refresh lease (%s); it expires by itself",
            grant_id,
            type(exc).__name__,
        )


def record_refresh_failure(
    db: Database, grant_id: int, outcome: str, *, now: Callable[[], datetime] = utcnow
) -> None:
    """Note a failed attempt that did not change the grant (Xero down, timeout)."""
    with db.session() as session:
        session.execute(
            update(Grant)
            .where(Grant.id == grant_id)
            .values(last_refresh_attempt_at=now(), last_refresh_outcome=outcome[:64])
        )


def grants_due_for_keepalive(
    db: Database, *, older_than: timedelta, now: Callable[[], datetime] = utcnow
) -> list[int]:
    """Active grants the clock should refresh now.

    Those with a refresh that never finished come first: Xero may have rotated their token
    without our hearing the answer, and the old one is accepted again only within 30 minutes.
    Then every grant whose last successful refresh is at least ``older_than`` ago, the one
    nobody has tried for longest first — so a grant that keeps failing goes to the back instead
    of being looked at first on every run. A grant whose lease is held is someone else's now.
    """
    moment = now()
    with db.session() as session:
        return list(
            session.scalars(
                select(Grant.id)
                .where(
                    Grant.status == GRANT_ACTIVE,
                    or_(
                        Grant.refresh_pending_generation.is_not(None),
                        Grant.last_refreshed_at <= moment - older_than,
                    ),
                    or_(Grant.refreshing_until.is_(None), Grant.refreshing_until <= moment),
                )
                .order_by(
                    Grant.refresh_pending_since.is_(None),
                    Grant.refresh_pending_since,
                    func.coalesce(Grant.last_refresh_attempt_at, Grant.last_refreshed_at),
                    Grant.id,
                )
            )
        )


def mark_needs_reconnect(db: Database, grant_id: int, *, expected_generation: int) -> bool:
    """Compare-and-set: only if nobody rotated the grant since ``expected_generation``."""
    with db.session() as session:
        return (
            session.execute(
                update(Grant)
                .where(
                    Grant.id == grant_id,
                    Grant.generation == expected_generation,
                    Grant.status == GRANT_ACTIVE,
                )
                .values(status=GRANT_NEEDS_RECONNECT, last_refresh_outcome="invalid_grant")
            ).rowcount
            == 1
        )


def mark_undecryptable(db: Database, grant_id: int, *, now: Callable[[], datetime] = utcnow) -> bool:
    """The grant's tokens cannot be decrypted with any configured key: only its user can mend it
    (by reconnecting) — unless the operator restores the key. True if this call marked it."""
    with db.session() as session:
        return (
            session.execute(
                update(Grant)
                .where(Grant.id == grant_id, Grant.status == GRANT_ACTIVE)
                .values(
                    status=GRANT_NEEDS_RECONNECT,
                    last_refresh_attempt_at=now(),
                    last_refresh_outcome="undecryptable",
                    refreshing_until=None,
                    refresh_pending_generation=None,
                    refresh_pending_since=None,
                )
            ).rowcount
            == 1
        )


def claim_reconnect_notice(db: Database, grant_id: int, *, now: Callable[[], datetime] = utcnow) -> bool:
    """True exactly once per ``needs_reconnect`` incident: the caller then sends the DM."""
    with db.session() as session:
        return (
            session.execute(
                update(Grant)
                .where(
                    Grant.id == grant_id,
                    Grant.status == GRANT_NEEDS_RECONNECT,
                    Grant.reconnect_notified_at.is_(None),
                )
                .values(reconnect_notified_at=now())
            ).rowcount
            == 1
        )


def release_reconnect_notice(db: Database, grant_id: int) -> None:
    """Undo a claim whose DM certainly did not reach the user, so the next run tries again."""
    with db.session() as session:
        session.execute(
            update(Grant)
            .where(Grant.id == grant_id, Grant.status == GRANT_NEEDS_RECONNECT)
            .values(reconnect_notified_at=None)
        )


def grants_awaiting_reconnect_notice(db: Database) -> list[GrantView]:
    with db.session() as session:
        grants = session.scalars(
            select(Grant).where(Grant.status == GRANT_NEEDS_RECONNECT, Grant.reconnect_notified_at.is_(None))
        ).all()
        return [_grant_view(g) for g in grants]


def refresh_token_for_revocation(db: Database, grant_id: int) -> str | None:
    """The refresh token, for ``/connect/revocation`` only."""
    with db.session() as session:
        grant = session.get(Grant, grant_id)
        return db.cipher.decrypt(grant.refresh_token_enc) if grant else None


def delete_grant(db: Database, grant_id: int) -> None:
    with db.session() as session:
        grant = session.get(Grant, grant_id)
        if grant is not None:
            team, user = grant.slack_team_id, grant.slack_user_id
            session.delete(grant)
            session.flush()
            _ensure_default(session, team, user)


def remove_tenant(db: Database, grant_id: int, tenant_id: str) -> None:
    """Forget one organisation of a grant (after ``DELETE /connections/{id}``)."""
    with db.session() as session:
        grant = session.get(Grant, grant_id)
        if grant is None:
            return
        for tenant in list(grant.tenants):
            if tenant.tenant_id == tenant_id:
                grant.tenants.remove(tenant)
        session.flush()
        _ensure_default(session, grant.slack_team_id, grant.slack_user_id)


def all_grant_ids(db: Database, statuses: Iterable[str] = (GRANT_ACTIVE,)) -> list[int]:
    with db.session() as session:
        return list(session.scalars(select(Grant.id).where(Grant.status.in_(tuple(statuses)))))


@dataclass(frozen=True)
class RotationResult:
    rotated: int  # grants whose tokens are now under the newest key
    unreadable: int  # grants no configured key decrypts (left as they are)
    unreadable_ids: tuple[int, ...]


def rotate_encryption(db: Database) -> RotationResult:
    """Re-encrypt every stored token under the newest key, one grant per short transaction.

    Safe while the bot runs: each row is locked (``SELECT … FOR UPDATE`` / ``BEGIN IMMEDIATE``)
    for its own re-encryption and written back with a compare-and-set on the generation, so a
    refresh that committed a rotated pair is never overwritten with the token it replaced. A row
    no key can decrypt is counted and skipped; the others are still rotated.
    """
    rotated, unreadable = 0, []
    with db.session() as session:
        ids = list(session.scalars(select(Grant.id).order_by(Grant.id)))
    for grant_id in ids:
        outcome = _rotate_one(db, grant_id)
        if outcome is True:
            rotated += 1
        elif outcome is False:
            unreadable.append(grant_id)
    return RotationResult(rotated, len(unreadable), tuple(unreadable))


def _rotate_one(db: Database, grant_id: int) -> bool | None:
    """True rotated, False undecryptable, None gone meanwhile."""
    for _ in range(_MAX_LOST_RACES):
        with db.locked_session() as session:
            row = session.execute(
                select(Grant.generation, Grant.access_token_enc, Grant.refresh_token_enc)
                .where(Grant.id == grant_id)
                .with_for_update()
            ).one_or_none()
            if row is None:
                return None
            try:
                access = db.cipher.rotate(row.access_token_enc)
                refresh = db.cipher.rotate(row.refresh_token_enc)
            except TokenDecryptError:
                return False
            written = session.execute(
                update(Grant)
                .where(Grant.id == grant_id, Grant.generation == row.generation)
                .values(access_token_enc=access, refresh_token_enc=refresh)
            ).rowcount
            if written == 1:
                return True
    raise RuntimeError(f"grant {grant_id} kept changing during key rotation")
