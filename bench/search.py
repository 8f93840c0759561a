"""How many Xero calls, and how long, a first page of search costs.

Runs the bot's real search service against the Xero sandbox over HTTP with added latency per
Xero call, for organisations of different sizes, and prints a table. Not a test: numbers depend on
the machine; run it and read them.

    python bench/search.py [--latency-ms 100] [--sizes 500,50000]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from cryptography.fernet import Fernet

from bot.demo.xero_world import REDIRECT, TEAM, World, settings_for
from bot.sandbox.xero import XeroSandbox
from bot.services.container import build_services
from storage import open_database

USER = "U0BENCH"


def run(size: int, latency_ms: int) -> list[tuple[str, int, float, int]]:
    sb = XeroSandbox(seed=11, transactions=size, organisations=1, redirect_uris=[REDIRECT]).start()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        db = open_database(url, Fernet.generate_key().decode())
        services = build_services(settings_for(sb, url), db=db, now=sb.clock.now)
        world = World(sb=sb, services=services, db=db)
        world.consent(USER)
        tenant_id = sb.tenants[0]["tenant_id"]
        first_id = sb.transaction_ids(tenant_id)[0]
        contact = sb.get_transaction(tenant_id, first_id)["Contact"]["Name"]
        word = contact.split()[0].lower()
        queries = [
            ("filtered: type:spend status:unreconciled", "type:spend status:unreconciled"),
            ("filtered, 18 months: type:receive from:540d", "type:receive from:540d"),
            (f"text: {word} (90 days)", word),
            (f"text: {word} from:540d", f"{word} from:540d"),
            ("text, no match: zzqx from:540d", "zzqx from:540d"),
        ]
        sb.faults.latency(latency_ms)
        rows = []
        for label, query in queries:
            started = time.perf_counter()
            result = services.search.search(TEAM, USER, query)
            rows.append((label, result.xero_calls, time.perf_counter() - started, len(result.rows)))
        sb.faults.latency(0)
        services.close()
    sb.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--sizes", default="500,50000")
    args = parser.parse_args()
    print(f"Search, first page, sandbox latency {args.latency_ms} ms per Xero call")
    print(f"{'org size':>9} | {'query':<45} | {'Xero calls':>10} | {'wall s':>7} | {'rows':>4}")
    print("-" * 88)
    for size in (int(s) for s in args.sizes.split(",")):
        for label, calls, seconds, count in run(size, args.latency_ms):
            print(f"{size:>9} | {label:<45} | {calls:>10} | {seconds:>7.2f} | {count:>4}")


if __name__ == "__main__":
    main()
