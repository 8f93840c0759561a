"""The clock's test world: the Xero sandbox and the Slack stand-in over real HTTP, the bot's real
services on a real database, and helpers that read the expected numbers from the sandbox itself.

The sandbox clock is frozen (``ticking=False``) and the bot's services follow it, so access
tokens expire only when a test moves the clock; the digest jobs get their ``now`` explicitly.
It starts at the real current minute because the consent flow checks the ID token's expiry
against the wall clock.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.demo.stack import bot_environ
from bot.demo.xero_world import consent_after_sign_in
from bot.jobs import Clock, slack_client
from bot.sandbox.slack import SlackSandbox
from bot.sandbox.xero import SandboxClock, XeroSandbox
from bot.services.container import Services, build_services
from bot.services.digest import DigestService, digest_service
from bot.xero.throttle import Throttle
from storage.db import Database

TEAM = "T0RECON"
REDIRECT = "http://127.0.0.1:9/xero/callback"  # never contacted: the test follows the redirect itself


def settings_for(xero: XeroSandbox, slack: SlackSandbox, database_url: str, **extra: str) -> Settings:
    env = bot_environ(xero, slack=slack, database_url=database_url, redirect_uri=REDIRECT, **extra)
    return Settings.from_env(env, dotenv_path=None)


@dataclass
class Expected:
    """What a digest of one organisation must say, computed from the sandbox's stored data."""

    count: int
    by_account: dict[str, tuple[int, Decimal, date]]  # account name → (count, signed total, oldest)
    oldest_ids: list[str]
    editable_ids: list[str]  # of those shown, the ones Xero lets us edit (spend/receive money)
    kinds: dict[str, int]  # e.g. {"SPEND": 16, "RECEIVE-TRANSFER": 2}


@dataclass
class ClockWorld:
    xero: XeroSandbox
    slack: SlackSandbox
    services: Services
    db: Database
    database_url: str
    settings: Settings
    clock: Clock
    people: dict[str, str] = field(default_factory=dict)  # slack user id → xero user id

    @property
    def digests(self) -> DigestService:
        return digest_service(self.services)

    @property
    def tenants(self) -> list[dict[str, Any]]:
        return self.xero.tenants

    def tomorrow(self, zone: ZoneInfo) -> date:
        """The day after the sandbox's "today" in ``zone`` (subscriptions made now start then)."""
        return self.xero.clock.now().astimezone(zone).date() + timedelta(days=1)

    def tenant(self, name_prefix: str) -> dict[str, Any]:
        return next(t for t in self.tenants if t["name"].startswith(name_prefix))

    def connect(self, user: str, *, email: str | None = None, tenant_ids: list[str] | None = None):
        """``user`` consents in the browser as their own Xero login (created on first use)."""
        if user not in self.people:
            self.slack.add_user(user, user.lower())
            if not self.people and email is None and tenant_ids is None:
                self.people[user] = self.xero.user["xero_user_id"]
            else:
                info = self.xero.add_user(email or f"{user.lower()}@example.com", user, "Test", tenant_ids)
                self.people[user] = info["xero_user_id"]
        self.xero.login_as(self.people[user])
        return consent_after_sign_in(self.services, TEAM, user)

    def use(self, user: str, tenant_id: str) -> None:
        self.services.connect.set_default(TEAM, user, tenant_id)

    def add_channel(self, channel_id: str, name: str, *, bot_member: bool = True) -> None:
        self.slack.add_channel(channel_id, name, members=list(self.people), bot_member=bot_member)

    def refresh_tokens_used(self) -> list[str]:
        return [
            r["form"]["refresh_token"]
            for r in self.xero.requests
            if r.get("path", "").endswith("/connect/token")
            and (r.get("form") or {}).get("grant_type") == "refresh_token"
        ]

    def transaction_list_calls(self, tenant_id: str) -> int:
        return sum(
            1
            for r in self.xero.requests
            if r.get("tenant_id") == tenant_id and r.get("path", "").endswith("/BankTransactions")
        )

    def expected(self, tenant_id: str, *, items: int = 10) -> Expected:
        """Recount what is unreconciled straight from the sandbox's records."""
        rows = []
        for txn_id in self.xero.transaction_ids(tenant_id):
            t = self.xero.get_transaction(tenant_id, txn_id)
            if t["Status"] == "AUTHORISED" and not t["IsReconciled"]:  # every type counts
                rows.append(t)
        rows.sort(key=lambda t: (t["DateString"][:10], t["BankTransactionID"]))
        acc: dict[str, list[Any]] = defaultdict(lambda: [0, Decimal(0), None])
        for t in rows:
            entry = acc[t["BankAccount"]["Name"]]
            amount = Decimal(str(t["Total"]))
            entry[0] += 1
            entry[1] += -amount if t["Type"].startswith("SPEND") else amount
            day = date.fromisoformat(t["DateString"][:10])
            entry[2] = day if entry[2] is None else min(entry[2], day)
        return Expected(
            count=len(rows),
            by_account={name: (v[0], v[1], v[2]) for name, v in acc.items()},
            oldest_ids=[t["BankTransactionID"] for t in rows[:items]],
            editable_ids=[t["BankTransactionID"] for t in rows[:items] if t["Type"] in ("SPEND", "RECEIVE")],
            kinds=dict(Counter(t["Type"] for t in rows)),
        )

    def channel_posts(self, channel_id: str) -> list[Any]:
        return [m for m in self.slack.messages(channel_id) if m.bot_id]

    def close(self) -> None:
        self.services.close()
        self.xero.stop()
        self.slack.stop()


def make_world(
    db: Database,
    database_url: str,
    *,
    organisations: int = 3,
    transactions: int = 200,
    seed: int = 11,
    start: datetime | None = None,
    encryption_key: str = "",
) -> ClockWorld:
    start = start or datetime.now(UTC).replace(second=0, microsecond=0)
    xero = XeroSandbox(
        seed=seed,
        transactions=transactions,
        organisations=organisations,
        redirect_uris=[REDIRECT],
        clock=SandboxClock(start, ticking=False),
    ).start()
    slack = SlackSandbox().start()
    settings = settings_for(xero, slack, database_url, RECON_ENCRYPTION_KEY=encryption_key)
    # Own throttle: the process-wide one would carry other tests' calls to the same tenant ids.
    services = build_services(
        settings, db=db, now=xero.clock.now, xero_timeout=(2.0, 5.0), throttle=Throttle()
    )
    clock = Clock(services, slack_client(settings))
    return ClockWorld(xero, slack, services, db, database_url, settings, clock)
