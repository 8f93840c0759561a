"""What the mirror's sync costs: first sync time and Xero calls, and a delta when nothing changed.

Runs the bot's real sync service against the Xero sandbox over HTTP (optional latency per call)
into a real database — SQLite in a temporary file, and PostgreSQL when one is reachable
(``RECON_TEST_POSTGRES_URL`` or 127.0.0.1:5432 user postgres) — and prints a table. Xero's own
limit of 60 calls a minute is lifted here so the time is the sync's own; the last column says
how long Xero's limit alone would make the first sync take. Not a test: read the numbers.

    python bench/sync.py [--rows 50000,1000000] [--db sqlite,postgres] [--latency-ms 0]

The sandbox generates a million transactions in about 20 s of CPU before the clock starts.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from contextlib import contextmanager

from cryptography.fernet import Fernet

from bot.demo.xero_world import REDIRECT, World, settings_for
from bot.sandbox.xero import XeroSandbox
from bot.services.container import build_services
from bot.xero.throttle import Throttle
from storage import open_database
from storage.mirror import count_rows
from storage.scratch import scratch_database

USER = "U0BENCH"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
XERO_PER_MINUTE = 60


@contextmanager
def database(kind: str):
    """A fresh database URL of ``kind``, dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    with scratch_database(os.environ.get("RECON_TEST_POSTGRES_URL", DEFAULT_PG), "recon_bench") as url:
        yield url


def run(kind: str, rows: int, latency_ms: int) -> dict[str, object]:
    sb = XeroSandbox(
        seed=11,
        transactions=rows,
        organisations=1,
        redirect_uris=[REDIRECT],
        minute_limit=1_000_000,
        daily_limit=1_000_000,
        app_minute_limit=1_000_000,
    )
    sb.warm().start()
    try:
        with database(kind) as url:
            db = open_database(url, Fernet.generate_key().decode())
            services = build_services(
                settings_for(sb, url, XERO_DAILY_LIMIT="1000000"),
                db=db,
                now=sb.clock.now,
                xero_timeout=(5.0, 60.0),
                throttle=Throttle(per_minute=1_000_000, daily=10_000_000),
            )
            World(sb=sb, services=services, db=db).consent(USER)
            tenant = sb.tenants[0]["tenant_id"]
            sb.faults.latency(latency_ms)
            started = time.perf_counter()
            first = services.sync.sync(tenant)
            seconds = time.perf_counter() - started
            assert first.complete, first
            sb.clock.advance(600)
            started = time.perf_counter()
            delta = services.sync.delta(tenant)
            delta_ms = (time.perf_counter() - started) * 1000
            mirrored = count_rows(db, tenant)
            services.close()
            db.dispose()
    finally:
        sb.stop()
    return {
        "db": kind,
        "rows": rows,
        "mirrored": mirrored,
        "first_s": seconds,
        "first_calls": first.calls,
        "rate": mirrored / seconds if seconds else 0.0,
        "at_xero_min": first.calls / XERO_PER_MINUTE,
        "delta_calls": delta.calls,
        "delta_ms": delta_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="50000,1000000", help="organisation sizes, comma-separated")
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every Xero call")
    args = parser.parse_args()
    sizes = [int(s) for s in args.rows.split(",")]
    kinds = [k.strip() for k in args.db.split(",")]
    print(f"Mirror sync, sandbox latency {args.latency_ms} ms per Xero call, 1,000 transactions a page")
    head = (
        f"{'db':<9} | {'org size':>9} | {'first sync s':>12} | {'calls':>5} | {'rows/s':>7} | "
        f"{'at 60/min':>9} | {'delta calls (no change)':>23} | {'delta ms':>8}"
    )
    print(head)
    print("-" * len(head))
    for kind in kinds:
        for size in sizes:
            try:
                r = run(kind, size, args.latency_ms)
            except Exception as exc:  # noqa: BLE001 - e.g. no PostgreSQL here: say so, go on
                print(f"{kind:<9} | {size:>9,} | skipped: {type(exc).__name__}: {str(exc)[:60]}")
                continue
            print(
                f"{r['db']:<9} | {r['rows']:>9,} | {r['first_s']:>12.1f} | {r['first_calls']:>5} | "
                f"{r['rate']:>7,.0f} | {r['at_xero_min']:>7.1f} m | {r['delta_calls']:>23} | "
                f"{r['delta_ms']:>8.0f}"
            )


if __name__ == "__main__":
    main()
