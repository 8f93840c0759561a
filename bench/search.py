"""What a search costs on the mirror, and beside it today's live path through Xero.

For each database (SQLite, and PostgreSQL when one is reachable) and each organisation size, the
mirror is filled from the sandbox's own generated transactions, then a fixed mix of queries
(text, contact, amount, filters, no match) runs in a separate process — as the web process
would, holding nothing but its database connection — and its p50/p99 and RSS are printed. At
the smaller size the same mix goes through the bot's real search service against the sandbox
over HTTP: Xero calls per search on a fresh mirror, and the live path (until the first sync is
complete) with added latency per Xero call. Not a test: numbers depend on the machine.

    python bench/search.py [--sizes 50000,1000000] [--databases sqlite,postgres] [--repeat 15]
        [--latency-ms 100] [--live-queries 8] [--keep DIR]

``--keep DIR`` keeps each filled mirror (SQLite files in DIR, PostgreSQL databases named by size)
and reuses it on the next run, migrated to the current head: a million-row fill takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, delete, insert
from sqlalchemy.engine import make_url

from bot.sandbox.xero import XeroSandbox
from bot.services.mirror_rows import is_live, row_from_transaction, transaction_from_row
from bot.services.query import parse_query
from bot.services.search import mirror_filter
from bot.xero.models import BankTransaction
from storage import migrate
from storage.crypto import TokenCipher
from storage.db import Database
from storage.mirror import upsert_rows
from storage.mirror_search import ensure_statistics, refresh_statistics, search_mirror, text_index
from storage.models import MirrorSyncState, MirrorTransaction

PG_ADMIN = os.environ.get("RECON_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SEED = 11
CHUNK = 20_000


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------------- the query mix


def query_mix(txns: list[BankTransaction], today: date) -> list[tuple[str, str]]:
    """At least 20 (label, query) pairs drawn from the organisation's own data, the same each run."""
    contacts = Counter(t.contact.name for t in txns if t.contact and t.contact.name)
    common = contacts.most_common(1)[0][0]
    rare = contacts.most_common()[-1][0]
    word = common.split()[0].lower()
    lines = Counter(line.description for t in txns for line in t.line_items if line.description)
    line_word = lines.most_common(3)[-1][0].split()[0].lower()
    ref = next(t.reference for t in txns if t.reference and len(t.reference) >= 6)
    spend = next(t for t in txns if t.type == "SPEND" and t.date > today - timedelta(days=400))
    other = next(t for t in txns if t.type == "RECEIVE")
    account = next(t.bank_account.code for t in txns if t.bank_account.code)
    month = today - timedelta(days=60)
    first, last = month.replace(day=1), month.replace(day=28)
    wide = "from:540d"
    return [
        ("text, common word, 90 days", word),
        ("text, common word, 18 months", f"{word} {wide}"),
        ("text, line description", f"{line_word} {wide}"),
        ("text, two words", f"{word} {line_word} {wide}"),
        ("text, two letters", f"{word[:2]} {wide}"),
        ("text, quoted name", f'"{common}" {wide}'),
        ("text, reference fragment", f"{ref[:-1]} {wide}"),
        ("text + filters", f"{word} type:spend status:unreconciled {wide}"),
        ("contact, full name", f'contact:"{common}" {wide}'),
        ("contact, rare name", f'contact:"{rare}" {wide}'),
        ("contact + unreconciled", f'contact:"{common.split()[-1]}" status:unreconciled {wide}'),
        ("amount", f"{spend.total:,.2f} {wide}"),
        ("amount with sign", f"-{spend.total:,.2f} {wide}"),
        ("amount, money in", f"+${other.total:,.2f} {wide}"),
        ("min:1000", f"min:1000 {wide}"),
        ("min/max + type", "min:100 max:200 type:spend"),
        ("filters only, 90 days", ""),
        ("type:spend status:unreconciled", "type:spend status:unreconciled"),
        ("type:receive, 18 months", f"type:receive {wide}"),
        ("status:reconciled, 1 year", "status:reconciled from:365d"),
        ("account:", f"account:{account} {wide}"),
        ("a month, local dates", f"from:{first:%d/%m/%Y} to:{last:%d/%m/%Y}"),
        ("no match, 18 months", f"zzqx {wide}"),
        ("no match, 90 days", "zzqx"),
        ("no such contact", f"contact:nonesuch {wide}"),
    ]


# ---------------------------------------------------------------------- filling


def generate(size: int) -> tuple[XeroSandbox, str]:
    sb = XeroSandbox(seed=SEED, transactions=size, organisations=1, daily_limit=10**9, minute_limit=10**9)
    return sb, sb.tenants[0]["tenant_id"]


def fill(db: Database, sb: XeroSandbox, tenant: str, how: str) -> tuple[int, float]:
    """``upsert``: the sync's own write (:func:`storage.mirror.upsert_rows`); ``insert``: one
    compiled INSERT run for many rows into the empty table (the same triggers fire), because
    upsert_rows compiles a fresh statement per 500 rows and a million would take a quarter hour."""
    started = time.perf_counter()
    every = sb.transactions(tenant)
    written = 0
    stamp = datetime.now(UTC)
    for start in range(0, len(every), CHUNK):
        txns = (BankTransaction.from_xero(d) for d in every[start : start + CHUNK])
        rows = [row_from_transaction(t) for t in txns if is_live(t)]
        if how == "upsert":
            written += upsert_rows(db, tenant, rows)
            continue
        values = [{**asdict(r), "tenant_id": tenant, "mirrored_at": stamp} for r in rows]
        with db.session() as session:
            session.execute(insert(MirrorTransaction.__table__), values)
        written += len(values)
    refresh_statistics(db)  # what the sync does when a first sync completes
    return written, time.perf_counter() - started


def mark_synced(db: Database, tenant: str, *, at: datetime | None, complete: bool = True) -> None:
    """The sync state a complete first sync leaves (or one still filling)."""
    with db.session() as session:
        session.execute(delete(MirrorSyncState).where(MirrorSyncState.tenant_id == tenant))
        session.add(
            MirrorSyncState(
                tenant_id=tenant,
                first_sync_started_at=at,
                first_sync_completed_at=at if complete else None,
                last_delta_at=at if complete else None,
                row_count=0,
                calls_today=0,
            )
        )


def database_url(kind: str, tmp: str, kept: int | None = None) -> str | None:
    """A fresh database, or with ``kept`` (the organisation's size) the one kept for that size."""
    if kind == "sqlite":
        return f"sqlite:///{tmp}/bench-{kept if kept else uuid.uuid4().hex[:6]}.db"
    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        name = f"recon_bench_kept_{kept}" if kept else f"recon_bench_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            found = conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).first()
            if not found:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
    except Exception as exc:  # noqa: BLE001 - the table says PostgreSQL was skipped, and why
        print(f"  (PostgreSQL skipped: {type(exc).__name__})")
        return None
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def drop(url: str) -> None:
    if url.startswith("sqlite"):
        return
    name = make_url(url).database
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    admin.dispose()


def mirrored(db: Database, tenant: str) -> int:
    """Rows already mirrored for the tenant (a kept database from an earlier run)."""
    with db.engine.connect() as conn:
        return int(
            conn.exec_driver_sql(
                "SELECT count(*) FROM mirror_transactions WHERE tenant_id = ?"
                if db.is_sqlite
                else "SELECT count(*) FROM mirror_transactions WHERE tenant_id = %s",
                (tenant,),
            ).scalar_one()
        )


def open_db(url: str) -> Database:
    return Database(url, TokenCipher([Fernet.generate_key().decode()]))


# ---------------------------------------------------------------------- the web process's side


def child(url: str, tenant: str, today: date, queries: list[tuple[str, str]], repeat: int) -> dict:
    """Runs in its own process: parse, search the mirror, shape the rows — what a search does."""
    db = open_db(url)
    ensure_statistics(db)  # as the search service does before its first search on the mirror
    with db.engine.connect() as conn:
        index = text_index(conn) or "none"
    per_query: dict[str, list[float]] = {label: [] for label, _ in queries}
    cpu: list[float] = []
    totals: dict[str, int] = {}
    for label, text in queries:  # one warm-up round: caches, prepared plans
        query = parse_query(text, today=today, date_order="DMY")
        totals[label] = search_mirror(db, tenant, mirror_filter(query)).total
    for _ in range(repeat):
        for label, text in queries:
            started, cpu_started = time.perf_counter(), time.process_time()
            query = parse_query(text, today=today, date_order="DMY")
            found = search_mirror(db, tenant, mirror_filter(query), offset=0, limit=10)
            [transaction_from_row(r) for r in found.rows]
            per_query[label].append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
    db.dispose()
    return {"per_query": per_query, "cpu": cpu, "totals": totals, "rss_mb": rss_mb(), "index": index}


def run_child(url: str, tenant: str, today: date, queries, repeat: int) -> dict:
    payload = json.dumps(
        {"url": url, "tenant": tenant, "today": today.isoformat(), "queries": queries, "repeat": repeat}
    )
    done = subprocess.run(
        [sys.executable, __file__, "--child"], input=payload, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------------- through the service


def through_service(url: str, sb: XeroSandbox, tenant: str, queries, latency_ms: int, live_n: int) -> dict:
    """The real search service over HTTP: Xero calls on a fresh mirror, then the live path."""
    from bot.demo.xero_world import REDIRECT, TEAM, settings_for
    from bot.services.container import build_services
    from bot.xero.throttle import Throttle

    sb.register_redirect_uri(REDIRECT)
    sb.start()
    db = open_db(url)
    services = build_services(settings_for(sb, url), db=db, now=sb.clock.now, throttle=Throttle())
    try:
        from bot.demo.xero_world import consent_after_sign_in

        consent_after_sign_in(services, TEAM, "U0BENCH")
        mark_synced(db, tenant, at=sb.clock.now())
        sb.clear_requests()
        mirror_times = []
        for _label, text in queries:
            started = time.perf_counter()
            services.search.search(TEAM, "U0BENCH", text)
            mirror_times.append(time.perf_counter() - started)
        calls = sum(1 for r in sb.requests if "/api.xro/" in r["path"])
        mark_synced(db, tenant, at=None, complete=False)  # back to "filling": the live path
        sb.faults.latency(latency_ms)
        live = []
        for label, text in queries[:live_n]:
            started = time.perf_counter()
            result = services.search.search(TEAM, "U0BENCH", text)
            live.append((label, result.xero_calls, time.perf_counter() - started))
        sb.faults.latency(0)
    finally:
        services.close()
        sb.stop()
    return {"mirror_calls": calls, "mirror_times": mirror_times, "searches": len(queries), "live": live}


# ---------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50000,1000000")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=15, help="rounds of the whole mix per measurement")
    parser.add_argument("--latency-ms", type=int, default=100, help="per Xero call, for the live path")
    parser.add_argument("--live-queries", type=int, default=8, help="how much of the mix the live path runs")
    parser.add_argument(
        "--fill",
        choices=["auto", "upsert", "insert"],
        default="auto",
        help="how to fill the mirror (auto: upsert up to 100,000 rows, insert above)",
    )
    parser.add_argument("--keep", metavar="DIR", help="keep the filled mirrors and reuse them next run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        job = json.loads(sys.stdin.read())
        queries = [tuple(q) for q in job["queries"]]
        out = child(job["url"], job["tenant"], date.fromisoformat(job["today"]), queries, job["repeat"])
        print(json.dumps(out))
        return

    kinds = [k.strip() for k in args.databases.split(",") if k.strip()]
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or scratch
        for size in (int(s) for s in args.sizes.split(",")):
            started = time.perf_counter()
            sb, tenant = generate(size)
            every = [BankTransaction.from_xero(d) for d in sb.transactions(tenant)[:20_000]]
            today = sb.clock.now().date()
            queries = query_mix([t for t in every if is_live(t)], today)
            del every
            took = time.perf_counter() - started
            print(f"\nOrganisation of {size:,} bank transactions (generated in {took:.0f} s)")
            for kind in kinds:
                url = database_url(kind, tmp, size if args.keep else None)
                if url is None:
                    continue
                try:
                    engine = create_engine(url)
                    migrate.upgrade(engine)
                    engine.dispose()
                    db = open_db(url)
                    kept = mirrored(db, tenant) if args.keep else 0
                    if kept:
                        filled = f"{kept:,} rows mirrored (kept from an earlier run)"
                        refresh_statistics(db)  # the migration may have rewritten every row
                    else:
                        how = (
                            args.fill if args.fill != "auto" else ("upsert" if size <= 100_000 else "insert")
                        )
                        written, fill_s = fill(db, sb, tenant, how)
                        filled = f"{written:,} rows mirrored ({how}) in {fill_s:.0f} s"
                    db.dispose()
                    out = run_child(url, tenant, today, queries, args.repeat)
                    report(kind, size, filled, out)
                    if size <= 100_000 and not args.keep:
                        service = through_service(
                            url, sb, tenant, queries, args.latency_ms, args.live_queries
                        )
                        report_service(kind, service, args.latency_ms)
                        sb, tenant = generate(size)  # the service run stopped that sandbox
                finally:
                    if not args.keep:
                        drop(url)


def report(kind: str, size: int, filled: str, out: dict) -> None:
    every = [t for times in out["per_query"].values() for t in times]
    p50, p99 = pct(every, 0.5) * 1000, pct(every, 0.99) * 1000
    cpu50, cpu99 = pct(out["cpu"], 0.5) * 1000, pct(out["cpu"], 0.99) * 1000
    goal = 10 if size <= 100_000 else 50
    print(f"\n  {kind}: {filled}; text index: {out['index']}")
    print(f"  {'query':<34} {'matches':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for label, times in out["per_query"].items():
        p50q, p99q = pct(times, 0.5) * 1000, pct(times, 0.99) * 1000
        print(f"  {label:<34} {out['totals'][label]:>9,} {p50q:>8.1f} {p99q:>8.1f}")
    print(f"  {'whole mix (' + str(len(every)) + ' searches)':<34} {'':>9} {p50:>8.1f} {p99:>8.1f}")
    print(f"  {'… CPU time of the search process':<34} {'':>9} {cpu50:>8.1f} {cpu99:>8.1f}")
    verdict = "met" if p50 <= goal and p99 <= 3 * p50 else "MISSED"
    print(f"  goal p50 <= {goal} ms, p99 <= 3 x p50: {verdict} (p99/p50 = {p99 / p50:.1f})")
    print(f"  search process RSS with this organisation mirrored: {out['rss_mb']:.0f} MB (goal <= 200 MB)")


def report_service(kind: str, out: dict, latency_ms: int) -> None:
    times = out["mirror_times"]
    print(
        f"  through the search service on a fresh mirror: {out['mirror_calls']} Xero calls for "
        f"{out['searches']} searches ({out['mirror_calls'] / out['searches']:.1f} per search, goal 0); "
        f"p50 {statistics.median(times) * 1000:.1f} ms"
    )
    print(f"  today's live path ({latency_ms} ms per Xero call), first page:")
    print(f"  {'query':<34} {'Xero calls':>10} {'wall s':>7}")
    for label, calls, seconds in out["live"]:
        print(f"  {label:<34} {calls:>10} {seconds:>7.2f}")


if __name__ == "__main__":
    main()
