"""The digest as a worklist: what showing one fix costs when many digest messages list the row.

A year of daily digests is kept (``--history`` messages of ten rows each, spread over many
organisations), then one transaction that ``--showing`` recent messages list is fixed: the bench
times the lookup of those messages and their redraw through the Slack stand-in over HTTP
(``chat.update``, one per message), on SQLite and, with ``--database-url``, PostgreSQL.
Not a test: the timings depend on the machine; run it and read them.

    python bench/worklist.py [--history 20000] [--showing 1,10,20] [--database-url postgresql+psycopg://…/scratch]

A PostgreSQL database given with ``--database-url`` gets Recon's tables: point it at a scratch one.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from cryptography.fernet import Fernet
from slack_sdk import WebClient

from bot.sandbox.slack import SlackSandbox
from bot.services.digest import AccountSummary, DigestContent, DigestItem, DigestService, to_snapshot
from bot.services.digest.content import ItemAccount, ItemContact
from bot.slack.digest_commands import SlackPoster
from storage import digests as ledger
from storage import migrate, open_database

TEAM = "T0RECON"
NOW = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)


def item(n: int) -> DigestItem:
    return DigestItem(
        bank_transaction_id=str(uuid.UUID(int=n + 1)),
        type="SPEND",
        status="AUTHORISED",
        date=date(2026, 1, 1) + timedelta(days=n % 300),
        updated_date_utc=NOW,
        contact=ItemContact(f"Supplier {n % 50}"),
        bank_account=ItemAccount(str(uuid.UUID(int=10**9)), "090", "Business Bank Account"),
        reference=f"REF-{n}",
        url=None,
        currency_code="NZD",
        is_reconciled=False,
        total=Decimal("12.34"),
    )


def content(tenant: str, rows: list[DigestItem]) -> DigestContent:
    account = AccountSummary(
        rows[0].bank_account.account_id, "Business Bank Account", "090", "NZD", 40, (("spent", 40),),
        Decimal("-493.60"), rows[0].date,
    )  # fmt: skip
    return DigestContent(tenant, "Harbour Coffee Roasters", NOW.date(), (account,), tuple(rows), 40, True,
                         "!hcr01", "Pacific/Auckland")  # fmt: skip


def run(database_url: str, history: int, showing: list[int]) -> list[tuple]:
    db = open_database(database_url, Fernet.generate_key().decode())
    migrate.upgrade(db.engine)
    slack = SlackSandbox().start()
    results = []
    try:
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        for n in range(max(showing)):
            slack.add_channel(f"C{n:08d}", f"books-{n}")
        # History: many organisations' digests, ten rows each, none showing the fixed row.
        for n in range(history):
            tenant = f"ten-{n % 200}"
            rows = [item(100_000 + n * 10 + k) for k in range(10)]
            ledger.record_post(
                db, slack_team_id=TEAM, channel_id=f"CH{n % 500}", message_ts=f"{n}.0", tenant_id=tenant,
                run_id=None, snapshot=to_snapshot(content(tenant, rows)),
                transaction_ids=[r.bank_transaction_id for r in rows], now=lambda: NOW - timedelta(days=1),
            )  # fmt: skip
        services = SimpleNamespace(db=db, now=lambda: NOW, extras={})
        digests = DigestService(services)
        poster = SlackPoster(client)
        for count in showing:
            fixed = item(count)
            rows = [fixed, *[item(count * 100 + k) for k in range(9)]]
            tenant = f"fix-{count}"
            for n in range(count):
                ts = poster.digest(f"C{n:08d}", content(tenant, rows))
                digests.posted(TEAM, f"C{n:08d}", ts, content(tenant, rows))
            started = time.perf_counter()
            posts = ledger.posts_showing(
                db, TEAM, tenant, fixed.bank_transaction_id, since=NOW - timedelta(days=30)
            )
            lookup = time.perf_counter() - started
            started = time.perf_counter()
            shown = digests.show_fix(
                TEAM, tenant, fixed.bank_transaction_id, reference="FIXED", fixed_by="U1", poster=poster
            )
            total = time.perf_counter() - started
            results.append((db.engine.dialect.name, history, count, len(posts), shown.updated, lookup, total))
    finally:
        slack.stop()
        db.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=20_000, help="digest messages kept from before")
    parser.add_argument("--showing", default="1,10,20", help="messages that show the fixed row")
    parser.add_argument("--database-url", action="append", default=[])
    args = parser.parse_args()
    showing = [int(x) for x in args.showing.split(",")]
    urls = list(args.database_url)
    with tempfile.TemporaryDirectory() as tmp:
        urls.insert(0, f"sqlite:///{tmp}/bench.db")
        rows = [r for url in urls for r in run(url, args.history, showing)]
    head = ("database", "kept", "showing", "found", "redrawn", "lookup ms", "fix shown ms")
    print("\n{:<11}{:>8}{:>9}{:>7}{:>9}{:>11}{:>14}".format(*head))
    for dialect, history, count, found, updated, lookup, total in rows:
        cells = (
            dialect,
            f"{history:,}",
            count,
            found,
            updated,
            f"{lookup * 1000:.1f}",
            f"{total * 1000:.1f}",
        )
        print("{:<11}{:>8}{:>9}{:>7}{:>9}{:>11}{:>14}".format(*cells))


if __name__ == "__main__":
    main()
