"""Wiring: one place that builds every use case from settings, for the web app, clock and tests."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from bot.config import Settings
from bot.services.connect import ConnectService
from bot.services.edit import EditService
from bot.services.search import SearchService
from bot.services.signin import SignInService
from bot.services.sync import MirrorSettings, SyncService
from bot.services.tokens import TokenService
from bot.signin import SlackSignIn
from bot.xero.client import XeroClient
from bot.xero.oauth import XeroOAuth
from bot.xero.throttle import Throttle, clock_of
from storage import migrate, open_database
from storage.budget import BackgroundShare, DatabaseBudget, Limits
from storage.db import Database
from storage.models import utcnow

log = logging.getLogger(__name__)

# Slow work (anything that calls Xero) runs here, never on Bolt's listener pool, so acks are never
# queued behind it. Xero allows 5 calls in flight per organisation; 32 threads serve several
# organisations at once while the throttle keeps each one within its limits.
DEFAULT_WORKERS = 32


@dataclass
class Services:
    settings: Settings
    db: Database
    xero: XeroClient
    oauth: XeroOAuth
    tokens: TokenService
    connect: ConnectService
    search: SearchService
    edit: EditService
    signin: SignInService
    executor: ThreadPoolExecutor
    now: Callable[[], datetime] = utcnow
    extras: dict[str, object] = field(default_factory=dict)
    sync: SyncService | None = None  # the mirror's keeper (search asks it how fresh a copy is)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self.sync is not None:
            self.sync.close()
        closing = getattr(self.xero.throttle.budget, "close", None)
        if closing is not None:
            closing()
        self.db.dispose()


def build_services(
    settings: Settings,
    *,
    db: Database | None = None,
    now: Callable[[], datetime] = utcnow,
    workers: int = DEFAULT_WORKERS,
    migrate_schema: bool = True,
    xero_timeout: tuple[float, float] = (3.05, 15.0),
    throttle: Throttle | None = None,
    executor: ThreadPoolExecutor | None = None,
    sync_executor: ThreadPoolExecutor | None = None,
) -> Services:
    """Every use case, wired. ``executor`` is the pool for Xero work and ``sync_executor`` the
    mirror's own (deltas a search waits for briefly); both default to fresh pools, and the demo
    passes pools that count work in flight so its console knows when the bot is done."""
    for line in settings.deprecations:
        log.warning("settings: %s", line)
    db = db or open_database(settings.database_url, settings.encryption_keys.reveal())
    if migrate_schema:
        migrate.upgrade(db.engine)
    oauth = XeroOAuth(
        client_id=settings.xero_client_id,
        client_secret=settings.xero_client_secret.reveal(),
        redirect_uri=settings.xero_redirect_uri,
        scopes=settings.xero_scopes,
        authorize_url=settings.xero_authorize_url,
        identity_url=settings.xero_identity_url,
        api_url=settings.xero_api_url,
        timeout=xero_timeout,
        now=now,
    )
    if throttle is None:
        # One budget in the database every process shares (web workers, the clock, other
        # hosts), on the bot's clock so the limits move with it.
        # Background work (the mirror's sync) keeps out of the last part of each minute and
        # stops at its share of the day, so a person's search or edit always finds room.
        budget = DatabaseBudget(
            db,
            Limits(daily=settings.xero_daily_limit),
            BackgroundShare(day_share=settings.mirror_daily_share),
        )
        throttle = Throttle(budget, clock=clock_of(now))
    xero = XeroClient(settings.xero_api_url, timeout=xero_timeout, throttle=throttle)
    holder: dict[str, ConnectService] = {}
    tokens = TokenService(db, oauth.refresh, lambda team, user: holder["c"].consent_url(team, user), now=now)
    connect = ConnectService(
        db,
        oauth,
        xero,
        tokens,
        client_id=settings.xero_client_id,
        start_url=settings.connect_start_url,
        now=now,
    )
    holder["c"] = connect
    sync = SyncService(
        db, xero, tokens, settings=MirrorSettings.from_settings(settings), now=now, executor=sync_executor
    )
    slack_signin = SlackSignIn(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.reveal(),
        redirect_uri=settings.slack_oidc_redirect_uri,
        authorize_url=settings.slack_oidc_authorize_url,
        api_url=settings.slack_api_url,
    )
    return Services(
        settings=settings,
        db=db,
        xero=xero,
        oauth=oauth,
        tokens=tokens,
        connect=connect,
        search=SearchService(
            xero,
            tokens,
            connect,
            db=db,
            mirror=sync,
            max_age=settings.mirror_max_age,
            now=now,
        ),
        edit=EditService(db, xero, tokens, connect, now=now, write_through=sync.write_through),
        signin=SignInService(db, slack_signin, connect, now=now),
        executor=executor or ThreadPoolExecutor(max_workers=workers, thread_name_prefix="recon-work"),
        now=now,
        sync=sync,
    )
