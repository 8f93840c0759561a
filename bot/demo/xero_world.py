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
from bot.sandbox.xero import XeroSandbox
from bot.services.container import Services, build_services
from bot.xero.throttle import Throttle
from storage.db import Database

REDIRECT = "http://127.0.0.1:9/xero/callback"  # never contacted: the test follows the redirect itself
TEAM = "T0RECON"


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
        """Follow the consent link through the sandbox and complete it, as the browser would."""
        url = self.services.connect.consent_url(team, user)
        response = requests.get(url, allow_redirects=False, timeout=10)
        assert response.status_code in (302, 303), response.text[:300]
        params = parse_qs(urlparse(response.headers["Location"]).query)
        return self.services.connect.complete_consent(
            code=params.get("code", [None])[0], state=params.get("state", [None])[0], error=None
        )

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


def make_world(db: Database, database_url: str, *, transactions: int = 300, seed: int = 7) -> World:
    sb = XeroSandbox(seed=seed, transactions=transactions, redirect_uris=[REDIRECT])
    sb.start()
    settings = settings_for(sb, database_url)
    lag = [timedelta(0)]
    services = build_services(
        settings,
        db=db,
        now=lambda: sb.clock.now() - lag[0],
        xero_timeout=(2.0, 5.0),
        throttle=Throttle(),  # each test's Xero limits start fresh, like a new process
    )
    return World(sb=sb, services=services, db=db, lag=lag)
