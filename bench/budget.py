"""One Xero budget across processes: 3 processes × 20 threads driving one organisation.

Each process is a separate interpreter with the bot's real ``XeroClient`` and ``Throttle`` over
the shared database budget (``storage.budget``), calling the Xero sandbox over a real socket as
fast as the budget lets it. The sandbox keeps Xero's real limits (60 a minute, 5 in flight,
429 past them) and, in front of it, a meter sees every call arrive and finish, with Xero-like
latency added inside the meter so "in flight" is what Xero would see. Printed per database:

* the busiest 60-second window and the most calls in flight seen at the sandbox (goals: ≤ 60,
  ≤ 5, and no 429);
* the share of the budget used: calls made / the most a rolling minute allows in the run
  (60 × ⌈seconds / 60⌉; goal ≥ 90 %);
* the limiter's own cost per call: its granting trip to the database plus the release,
  p50/p99 (goal ≤ 2 ms p99 on PostgreSQL), and all its trips (refusals included) per call.

Not a test: the timings depend on the machine; run it and read them.

    python bench/budget.py [--seconds 120] [--processes 3] [--threads 20] [--latency-ms 150]
                           [--sqlite-only | --postgres-only]
                           [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from cryptography.fernet import Fernet
from sqlalchemy import create_engine

from bot.sandbox.xero.limits import busiest_window
from storage.scratch import scratch_database

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIRECT = "http://127.0.0.1:9/xero/callback"
SCOPES = (
    "openid",
    "profile",
    "email",
    "offline_access",
    "accounting.banktransactions",
    "accounting.settings.read",
)
PER_MINUTE, CONCURRENT, WINDOW = 60, 5, 60.0


# =========================================================================== at the sandbox


class Meter:
    """WSGI middleware in front of the sandbox: when each accounting call arrived and left."""

    def __init__(self, app: Callable[..., Iterable[bytes]], latency: float) -> None:
        self.app = app
        self.latency = latency
        self.lock = threading.Lock()
        self.arrivals: list[float] = []
        self.statuses: dict[int, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("PATH_INFO", "").startswith("/api.xro/"):
            return self.app(environ, start_response)
        with self.lock:
            self.arrivals.append(time.time())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        status: list[int] = []

        def recording(code: str, headers: Any, *rest: Any) -> Any:
            status.append(int(code.split()[0]))
            return start_response(code, headers, *rest)

        try:
            time.sleep(self.latency)  # Xero's own time on the call, while it counts as in flight
            body = list(self.app(environ, recording))
        finally:
            with self.lock:
                self.in_flight -= 1
                if status:
                    self.statuses[status[0]] = self.statuses.get(status[0], 0) + 1
        return body


def connect(sandbox: Any) -> tuple[str, str]:
    """Consent in the sandbox as a browser would: an access token and the first tenant."""
    from bot.xero.oauth import XeroOAuth

    oauth = XeroOAuth(
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        redirect_uri=REDIRECT,
        scopes=SCOPES,
        authorize_url=sandbox.authorize_url,
        identity_url=sandbox.url,
        api_url=sandbox.url,
        session=requests.Session(),
    )
    consent = requests.get(oauth.authorize_url_for("bench"), allow_redirects=False, timeout=5)
    code = dict(parse_qsl(urlsplit(consent.headers["Location"]).query))["code"]
    tokens = oauth.exchange_code(code)
    return tokens.access_token, sandbox.tenants[0]["tenant_id"]


# =========================================================================== one process


def child(
    api_url: str, token: str, tenant: str, database_url: str, start_at: float, seconds: float, threads: int
) -> None:
    """Drive one organisation from ``threads`` threads until the time is up; print a summary."""
    from bot.xero.client import XeroClient
    from bot.xero.errors import RateLimited, XeroError
    from bot.xero.http import default_session
    from bot.xero.throttle import Throttle
    from storage.budget import DatabaseBudget, Limits
    from storage.crypto import TokenCipher
    from storage.db import Database

    db = Database(database_url, TokenCipher([Fernet.generate_key().decode()]))
    budget = DatabaseBudget(db, Limits(daily=1_000_000))
    throttle = Throttle(budget)
    warm_up(throttle, budget)
    lock = threading.Lock()
    costs: list[float] = []  # granting trip + release, per call
    trips = {"seconds": 0.0, "count": 0}
    local = threading.local()

    def stats(operation: str, spent: float, granted: bool) -> None:
        with lock:
            trips["seconds"] += spent
            trips["count"] += 1
        if operation == "acquire" and granted:
            local.acquired = spent
        elif operation == "release":
            with lock:
                costs.append(getattr(local, "acquired", 0.0) + spent)

    throttle.stats = stats

    class Auth:
        tenant_id = tenant

        def access_token(self, force_refresh: bool = False) -> str:
            return token

    counts = {"ok": 0, "refused": 0, "errors": 0}
    time.sleep(max(0.0, start_at - time.time()))  # every process starts the run together
    deadline = start_at + seconds

    def worker() -> None:
        client = XeroClient(api_url, session=default_session(), throttle=throttle, max_retries=0)
        auth = Auth()
        while (left := deadline - time.time()) > 0:
            client.max_wait = left  # wait for a slot, but never past the end of the run
            try:
                client.get_organisation(auth)
                outcome = "ok"
            except RateLimited as exc:
                outcome = "refused"
                if exc.retry_after >= deadline - time.time():
                    with lock:
                        counts[outcome] += 1
                    return  # the next slot frees after the end of the run
            except XeroError:
                outcome = "errors"
            with lock:
                counts[outcome] += 1

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    print(json.dumps({**counts, "costs": costs, "trip_seconds": trips["seconds"], "trips": trips["count"]}))


def warm_up(throttle: Any, budget: Any) -> None:
    """A bot that has been running has its connections open and its statements compiled: so
    should the bench before it measures (on an organisation of its own, not the one measured)."""
    held = [throttle.acquire(f"warm-up-{os.getpid()}", max_wait=0) for _ in range(5)]
    for permit in held:
        permit.release()
    budget.usage(f"warm-up-{os.getpid()}", time.time())


# =========================================================================== the run


def run(database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    from bot.sandbox.xero import XeroSandbox
    from storage import migrate

    engine = create_engine(database_url)
    migrate.upgrade(engine)
    engine.dispose()
    sandbox = XeroSandbox(
        seed=3, transactions=10, organisations=1, redirect_uris=[REDIRECT], daily_limit=10**6
    )
    meter = Meter(sandbox.wsgi, args.latency_ms / 1000)
    sandbox.wsgi = meter  # the server serves whatever the sandbox's WSGI app is at start
    with sandbox:
        token, tenant = connect(sandbox)
        start_at = time.time() + 5  # time for the processes to start and warm up
        procs = [
            subprocess.Popen(
                [sys.executable, __file__, "--child", sandbox.url, token, tenant, database_url,
                 str(start_at), str(args.seconds), str(args.threads)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            for _ in range(args.processes)
        ]  # fmt: skip
        results = []
        for p in procs:
            out, err = p.communicate(timeout=args.seconds + 300)
            if p.returncode != 0:
                raise RuntimeError(f"a bench process failed:\n{err[-3000:]}")
            results.append(json.loads(out.strip().splitlines()[-1]))
    costs = sorted(c for r in results for c in r["costs"])
    calls = len(meter.arrivals)
    allowed = PER_MINUTE * math.ceil(args.seconds / WINDOW)
    return {
        "database": "PostgreSQL" if database_url.startswith("postgresql") else "SQLite",
        "calls": calls,
        "ok": sum(r["ok"] for r in results),
        "refused": sum(r["refused"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "429": meter.statuses.get(429, 0),
        "busiest": busiest_window(meter.arrivals, WINDOW),
        "in_flight": meter.max_in_flight,
        "share": calls / allowed,
        "p50": _percentile(costs, 50) * 1000,
        "p99": _percentile(costs, 99) * 1000,
        "all_in": sum(r["trip_seconds"] for r in results) / max(1, calls) * 1000,
        "trips": sum(r["trips"] for r in results) / max(1, calls),
    }


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    index = min(len(values) - 1, max(0, math.ceil(pct / 100 * len(values)) - 1))
    return values[index]


def with_postgres(admin_url: str, body: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    with scratch_database(admin_url, "recon_budget") as url:
        return body(url)


def table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    head = (
        f"{args.processes} processes × {args.threads} threads, one organisation, {args.seconds:.0f} s, "
        f"{args.latency_ms} ms per call at the sandbox\n\n"
        "| database | calls | 429s | busiest 60 s | most in flight | budget used | "
        "limiter p50 | limiter p99 | all trips per call |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    lines = [
        f"| {r['database']} | {r['calls']} | {r['429']} | {r['busiest']} (≤ 60) | {r['in_flight']} (≤ 5) | "
        f"{r['share']:.0%} | {r['p50']:.2f} ms | {r['p99']:.2f} ms | "
        f"{r['all_in']:.2f} ms in {r['trips']:.1f} trips |"
        for r in rows
    ]
    notes = [
        f"{r['database']}: {r['ok']} calls answered; {r['refused']} refused by the limiter (threads whose "
        f"next slot would free after the end of the run stop there); {r['errors']} errors"
        for r in rows
    ]
    return "\n".join([head, *lines, "", *notes])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        url, token, tenant, database_url, start_at, seconds, threads = argv[1:8]
        child(url, token, tenant, database_url, float(start_at), float(seconds), int(threads))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=150)
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--sqlite-only", action="store_true")
    only.add_argument("--postgres-only", action="store_true")
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory(prefix="recon-budget-") as tmp:
        if not args.postgres_only:
            print(f"SQLite: {args.seconds:.0f} s…", file=sys.stderr, flush=True)
            rows.append(run(f"sqlite:///{Path(tmp) / 'recon.db'}", args))
        if not args.sqlite_only:
            print(f"PostgreSQL: {args.seconds:.0f} s…", file=sys.stderr, flush=True)
            rows.append(with_postgres(args.postgres_url, lambda url: run(url, args)))
    print(table(rows, args))
    ok = all(r["busiest"] <= PER_MINUTE and r["in_flight"] <= CONCURRENT and r["429"] == 0 for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
