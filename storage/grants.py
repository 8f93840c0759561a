"""Grants (one Xero authorisation of one Slack user) and their organisations.

Reads return plain dataclasses without tokens, so nothing outside this module can log, render or
leak a token by accident; the only ways to get token text out are :func:`valid_access_token`
and :func:`refresh_token_for_revocation`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select, update

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
    )


def _tenant_view(tenant: Tenant, grant: Grant) -> TenantView:
    return TenantView(
        grant_id=grant.id,
        tenant_id=tenant.tenant_id,
        tenant_name=tenant.tenant_name,
        connection_id=tenant.connection_id,
        auth_event_id=tenant.auth_event_id,
        is_default=tenant.is_default,
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


def _ensure_default(session, slack_team_id: str, slack_user_id: str) -> None:
    pairs = [
        (t, g)
        for t, g in _user_tenants(session, slack_team_id, slack_user_id)
        if t.status == TENANT_CONNECTED and g.status != GRANT_REVOKED
    ]
    if pairs and not any(t.is_default for t, _ in pairs):
        pairs[0][0].is_default = True


def user_tenants(db: Database, slack_team_id: str, slack_user_id: str) -> list[TenantView]:
    """The organisations this Slack user can act on (connected, grant not revoked)."""
    with db.session() as session:
        return [
            _tenant_view(t, g)
            for t, g in _user_tenants(session, slack_team_id, slack_user_id)
            if t.status == TENANT_CONNECTED and g.status != GRANT_REVOKED
        ]


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
        pairs = [
            (t, g)
            for t, g in _user_tenants(session, slack_team_id, slack_user_id)
            if t.status == TENANT_CONNECTED and g.status != GRANT_REVOKED
        ]
        target = next(((t, g) for t, g in pairs if t.tenant_id == tenant_id), None)
        if target is None:
            raise LookupError("that organisation is not connected for this user")
        for tenant, _ in pairs:
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
) -> AccessToken:
    """Return a usable access token, refreshing at most once across every process.

    Under the row lock (``BEGIN IMMEDIATE`` on SQLite, ``SELECT … FOR UPDATE`` on PostgreSQL)
    the grant is re-read; ``refresh`` runs only if the token still expires within ``margin`` —
    or, when ``stale_generation`` is given (the caller saw a 401 with that generation's token),
    only if nobody has refreshed since. The rotated pair and ``generation + 1`` are stored in
    the same transaction, so a crash can never lose the new single-use refresh token after Xero
    issued it... except between Xero's answer and our commit, which Xero's 30-minute grace for
    the previous token covers.

    If ``refresh`` raises, nothing changes — except that an ``invalid_grant`` exception marks the
    grant ``needs_reconnect`` (we hold the lock and have just re-read it, so nobody else rotated
    it) before it propagates.
    """
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
        current_refresh_token = cipher.decrypt(grant.refresh_token_enc)
        try:
            tokens = refresh(current_refresh_token)
        except invalid_grant:
            grant.status = GRANT_NEEDS_RECONNECT
            grant.last_refresh_attempt_at = moment
            grant.last_refresh_outcome = "invalid_grant"
            session.commit()
            raise
        grant.access_token_enc = cipher.encrypt(tokens.access_token)
        grant.refresh_token_enc = cipher.encrypt(tokens.refresh_token)
        grant.access_expires_at = tokens.expires_at
        grant.last_refreshed_at = moment
        grant.last_refresh_attempt_at = moment
        grant.last_refresh_outcome = "refreshed"
        if tokens.scope:
            grant.scopes = " ".join(tokens.scope)
        grant.generation += 1
        return AccessToken(grant.id, tokens.access_token, tokens.expires_at, grant.generation, refreshed=True)


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
    """Active grants whose last successful refresh is at least ``older_than`` ago."""
    with db.session() as session:
        return list(
            session.scalars(
                select(Grant.id)
                .where(Grant.status == GRANT_ACTIVE, Grant.last_refreshed_at <= now() - older_than)
                .order_by(Grant.last_refreshed_at)
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


def rotate_encryption(db: Database) -> int:
    """Re-encrypt every stored token under the newest key; returns how many grants."""
    count = 0
    with db.locked_session() as session:
        for grant in session.scalars(select(Grant)).all():
            grant.access_token_enc = db.cipher.rotate(grant.access_token_enc)
            grant.refresh_token_enc = db.cipher.rotate(grant.refresh_token_enc)
            count += 1
    return count
