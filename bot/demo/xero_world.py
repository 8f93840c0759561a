"""A real Xero sandbox over HTTP plus the bot's real services on a real database (no Slack).

For integration tests and benchmarks: both build on it, so neither depends on the other's tree.

The bot's clock follows the sandbox's clock, so advancing the sandbox by 31 minutes expires
access tokens for both sides, as it would at Xero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import requests

from bot.config import Settings
from bot.demo.stack import bot_environ
from bot.sandbox.xero import SandboxClock, XeroSandbox
from bot.services.container import Services, build_services
from bot.signin import SlackIdentity
from bot.xero.throttle import Throttle
from storage.db import Database
from storage.states import new_secret

REDIRECT = "http://127.0.0.1:9/xero/callback"  # never contacted: the test follows the redirect itself
TEAM = "T0RECON"


def consent_after_sign_in(services: Services, team: str, user: str, *, name: str | None = None):
    """Xero's consent for a Slack user, starting where Sign in with Slack has proven who they are.

    For harnesses with no Slack stand-in (this World, the clock tests, benchmarks): they stand in
    for the identity step by handing ``xero_consent_url_after_sign_in`` the identity Slack's ID
    token would have named, with a browser binding of their own, then follow Xero's consent and
    bring the code back as the browser would. Everything after the identity step is the real one.
    """
    browser = new_secret()
    identity = SlackIdentity(user_id=user, team_id=team, name=name or user, team_name="Recon Sandbox")
    url = services.connect.xero_consent_url_after_sign_in(identity, browser=browser)
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code in (302, 303), response.text[:300]
    params = parse_qs(urlparse(response.headers["Location"]).query)
    return services.connect.complete_consent(
        code=params.get("code", [None])[0],
        state=params.get("state", [None])[0],
        error=params.get("error", [None])[0],
        browser=browser,
    )


def settings_for(sb: XeroSandbox, database_url: str, **extra: str) -> Settings:
    return Settings.from_env(
        bot_environ(sb, database_url=database_url, redirect_uri=REDIRECT, **extra), dotenv_path=None
    )


@dataclass
class World:
    sb: XeroSandbox
    services: Services
    db: Database
    lag: list[timedelta] = field(default_factory=lambda: [timedelta(0)])

    def bot_now(self) -> datetime:
        """The bot's clock: the sandbox's, minus a lag a test may set to make the two disagree."""
        return self.sb.clock.now() - self.lag[0]

    def consent(self, user: str = "U0ALICE", team: str = TEAM):
        """Consent through the Xero sandbox for ``user``, as if they had just signed in with Slack."""
        return consent_after_sign_in(self.services, team, user)

    def reqs(self) -> list[SimpleNamespace]:
        """Requests the sandbox received, as attribute objects (method, path, query, form, json…)."""
        return [SimpleNamespace(**{"tenant_id": None, "status": None, **r}) for r in self.sb.requests]

    def refresh_requests(self) -> list[SimpleNamespace]:
        return [
            r
            for r in self.reqs()
            if r.path.endswith("/connect/token") and (r.form or {}).get("grant_type") == "refresh_token"
        ]

    def transactions(self, tenant_id: str) -> list[dict]:
        return [self.sb.get_transaction(tenant_id, i) for i in self.sb.transaction_ids(tenant_id)]

    def bank_accounts(self, tenant_id: str) -> list[dict]:
        return next(t["bank_accounts"] for t in self.sb.tenants if t["tenant_id"] == tenant_id)


def make_world(
    db: Database,
    database_url: str,
    *,
    transactions: int = 300,
    seed: int = 7,
    clock: SandboxClock | None = None,
    **settings: str,
) -> World:
    """``clock``: a frozen one for tests that need two changes in one second; ``settings``:
    extra environment for the bot (``RECON_MIRROR_DAILY_SHARE`` and the like)."""
    sb = XeroSandbox(seed=seed, transactions=transactions, redirect_uris=[REDIRECT], clock=clock)
    sb.start()
    settings = settings_for(sb, database_url, **settings)
    lag = [timedelta(0)]
    services = build_services(
        settings,
        db=db,
        now=lambda: sb.clock.now() - lag[0],
        xero_timeout=(2.0, 5.0),
        throttle=Throttle(),  # each test's Xero limits start fresh, like a new process
    )
    return World(sb=sb, services=services, db=db, lag=lag)
