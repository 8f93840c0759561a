"""A 09:00 rush: many digest subscriptions over many organisations due at the same minute.

Runs the bot's real digest delivery (ledger claims, one fetch per organisation, Block Kit, posting)
against the Xero sandbox and the Slack stand-in over HTTP, with added latency per Xero call, and
prints how many Xero calls each organisation cost and how long until the last digest was posted.
Not a test: the timings depend on the machine; run it and read them.

    python bench/digest.py [--subscriptions 100] [--orgs 20] [--latency-ms 250] [--workers 8]
                           [--database-url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta

from cryptography.fernet import Fernet

from bot.config import Settings
from bot.demo.stack import bot_environ
from bot.demo.xero_world import consent_after_sign_in
from bot.jobs import slack_client
from bot.sandbox.slack import SlackSandbox
from bot.sandbox.xero import XeroSandbox
from bot.services.container import build_services
from bot.services.digest import DigestService
from bot.slack.digest_commands import SlackPoster
from bot.xero.throttle import Throttle
from storage import digests as ledger
from storage import grants, migrate, open_database

TEAM = "T0RECON"
REDIRECT = "http://127.0.0.1:9/xero/callback"


def settings(xero: XeroSandbox, slack: SlackSandbox, url: str, key: str) -> Settings:
    env = bot_environ(xero, slack=slack, database_url=url, redirect_uri=REDIRECT, encryption_key=key)
    return Settings.from_env(env, dotenv_path=None)


def consent(services, xero: XeroSandbox, user: str) -> None:
    consent_after_sign_in(services, TEAM, user)


def run(args: argparse.Namespace, database_url: str) -> None:
    xero = XeroSandbox(
        seed=5, transactions=args.transactions, organisations=args.orgs, redirect_uris=[REDIRECT]
    ).start()
    slack = SlackSandbox().start()
    key = Fernet.generate_key().decode()
    db = open_database(database_url, key)
    migrate.upgrade(db.engine)
    services = build_services(
        settings(xero, slack, database_url, key), db=db, now=xero.clock.now, throttle=Throttle()
    )
    owners = [f"U0OWNER{i}" for i in range(max(1, -(-args.subscriptions // args.orgs)))]
    for user in owners:  # every owner's own Xero login reaches every organisation
        slack.add_user(user, user.lower())
        if user != owners[0]:
            info = xero.add_user(f"{user.lower()}@example.com", user, "Bench")
            xero.login_as(info["xero_user_id"])
        consent(services, xero, user)

    due = (xero.clock.now() + timedelta(minutes=1)).replace(second=0, microsecond=0)
    tenants = xero.tenants
    per_org: Counter[str] = Counter()
    for i in range(args.subscriptions):
        tenant = tenants[i % len(tenants)]
        owner = owners[i // len(tenants) % len(owners)]
        channel = f"C{i:08d}"
        slack.add_channel(channel, f"books-{i}", members=owners)
        view = grants.find_user_tenant(db, TEAM, owner, tenant["tenant_id"])
        assert view is not None
        ledger.upsert_subscription(
            db,
            slack_team_id=TEAM,
            channel_id=channel,
            owner_user_id=owner,
            tenant_id=tenant["tenant_id"],
            tenant_name=view.tenant_name,
            local_time=f"{due:%H:%M}",
            timezone="UTC",
            skip_when_clear=False,
            now=lambda: due - timedelta(minutes=5),
        )
        per_org[tenant["tenant_id"]] += 1

    xero.clear_requests()
    xero.faults.latency(args.latency_ms)
    digest = DigestService(services, workers=args.workers)
    poster = SlackPoster(slack_client(services.settings))
    started = time.time()
    report = digest.run_due(due, poster)
    finished = time.time()
    xero.faults.latency(0)

    posts = [c for c in slack.calls_to("chat.postMessage") if c.ok]
    last_post = max((c.time for c in posts), default=finished)
    calls = Counter(
        r.get("tenant_id") for r in xero.requests if str(r.get("path", "")).startswith("/api.xro/")
    )
    print(
        f"\n{args.subscriptions} subscriptions over {len(tenants)} organisations, all due at "
        f"{due:%H:%M} UTC; {args.latency_ms} ms added per Xero call; {args.workers} workers; "
        f"{'PostgreSQL' if database_url.startswith('postgresql') else 'SQLite'}\n"
    )
    print(f"{'organisation':<34} {'subs':>5} {'Xero calls':>10} {'items':>6}")
    items = {t["tenant_id"]: 0 for t in tenants}
    for tenant_id in items:
        items[tenant_id] = sum(
            1
            for txn_id in xero.transaction_ids(tenant_id)
            if (t := xero.get_transaction(tenant_id, txn_id))["Type"] in ("SPEND", "RECEIVE")
            and t["Status"] == "AUTHORISED"
            and not t["IsReconciled"]
        )
    for tenant in tenants:
        tid = tenant["tenant_id"]
        print(f"{tenant['name'][:34]:<34} {per_org[tid]:>5} {calls[tid]:>10} {items[tid]:>6}")
    total_calls = sum(calls.values())
    print(
        f"\nXero calls: {total_calls} in all, at most {max(calls.values(), default=0)} per organisation "
        f"(limit 60/min); digests posted: {len(posts)} of {args.subscriptions} "
        f"(sent {report.sent}, failed {report.failed}, retrying {report.retrying})"
    )
    print(
        f"time until the last digest was posted: {last_post - started:.2f} s "
        f"(tick took {finished - started:.2f} s)"
    )
    services.close()
    xero.stop()
    slack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--orgs", type=int, default=20)
    parser.add_argument("--transactions", type=int, default=400, help="per organisation")
    parser.add_argument("--latency-ms", type=int, default=250)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--database-url", default=None, help="default: a throw-away SQLite file")
    args = parser.parse_args()
    if args.database_url:
        run(args, args.database_url)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        run(args, f"sqlite:///{tmp}/bench.db")
    return 0


if __name__ == "__main__":
    sys.exit(main())
