"""How fast the Xero sandbox serves what a mirror sync asks of it, for big organisations.

Generates one organisation per size, then reads it over HTTP as a first sync, a delta and a
reconciled sweep would (1,000-row pages, If-Modified-Since, ``where``), and prints a table: time
to generate, time per page (the first call builds the orderings; later ones are slices), RSS.
Not a test: numbers depend on the machine; run it and read them. Each time is wall-clock, with
the process's CPU time beside it (client and sandbox share the process), which is the steadier
figure on a busy machine.

    python bench/sandbox_paging.py [--sizes 50000,1000000] [--pages 5]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import requests

from bot.sandbox.xero import SandboxClock, XeroSandbox

REDIRECT = "http://127.0.0.1:9/xero/callback"
START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SCOPES = "openid offline_access accounting.transactions"


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def token(sb: XeroSandbox) -> str:
    """Consent (auto) and exchange the code, as the bot would."""
    answer = requests.get(
        sb.authorize_url,
        params={
            "response_type": "code",
            "client_id": sb.client_id,
            "redirect_uri": REDIRECT,
            "scope": SCOPES,
            "state": "bench",
        },
        allow_redirects=False,
        timeout=30,
    )
    code = parse_qs(urlparse(answer.headers["Location"]).query)["code"][0]
    tokens = requests.post(
        f"{sb.url}/connect/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=(sb.client_id, sb.client_secret),
        timeout=30,
    )
    return tokens.json()["access_token"]


class Reader:
    def __init__(self, sb: XeroSandbox, access_token: str) -> None:
        self.url = f"{sb.url}/api.xro/2.0/BankTransactions"
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {access_token}",
                "xero-tenant-id": sb.tenants[0]["tenant_id"],
                "Accept": "application/json",
            }
        )

    def get(self, since: datetime | None = None, **params: object) -> tuple[Timing, dict]:
        headers = {"If-Modified-Since": since.strftime("%Y-%m-%dT%H:%M:%S")} if since else {}
        with Timer() as timer:
            response = self.session.get(self.url, params=params, headers=headers, timeout=600)
            body = response.json()
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {str(body)[:300]}")
        return timer.timing, body


Timing = tuple[float, float]  # (wall seconds, CPU seconds)
Row = tuple[str, str, str, str]


class Timer:
    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timing = (time.perf_counter() - self._wall, time.process_time() - self._cpu)


def timed_pages(read: Callable[[int], tuple[Timing, dict]], pages: int) -> tuple[Timing, list[Timing], dict]:
    first_time, first = read(1)
    count = first["pagination"]["pageCount"]
    later = [read(p)[0] for p in range(2, min(count, pages) + 1)]
    if count > pages:
        later.append(read(count)[0])  # and the last page
    return first_time, later, first


def ms(timing: Timing) -> str:
    wall, cpu = timing
    return f"{wall * 1000:,.0f} ms (CPU {cpu * 1000:,.0f})"


def later_text(times: list[Timing]) -> str:
    if not times:
        return "-"
    wall = statistics.median(t[0] for t in times)
    cpu = statistics.median(t[1] for t in times)
    worst = max(times)
    return f"median {ms((wall, cpu))}, max {ms(worst)}, {len(times)} pages"


def run(size: int, pages: int) -> list[Row]:
    rows: list[Row] = []
    clock = SandboxClock(START, ticking=False)
    before = rss_mb()
    sb = XeroSandbox(
        seed=11,
        transactions=size,
        organisations=1,
        clock=clock,
        redirect_uris=[REDIRECT],
        daily_limit=10**9,  # the bench measures paging, not Xero's call limits
        minute_limit=10**9,
    )
    sb.start()
    try:
        tenant = sb.tenants[0]["tenant_id"]
        with Timer() as timer:
            sb.transaction_ids(tenant)
        rows.append(("generate", ms(timer.timing), f"RSS +{rss_mb() - before:,.0f} MB", ""))
        reader = Reader(sb, token(sb))

        def first_sync(page: int) -> tuple[float, dict]:
            return reader.get(page=page, pageSize=1000, order="UpdatedDateUTC ASC")

        first, later, body = timed_pages(first_sync, pages)
        items = body["pagination"]["itemCount"]
        rows.append(("first sync, page 1 (builds the ordering)", ms(first), f"{items:,} rows", ""))
        rows.append(("first sync, later pages", later_text(later), "", "slice of the ordering"))

        since = START - timedelta(days=120)

        def first_sync_since(page: int) -> tuple[float, dict]:
            return reader.get(since, page=page, pageSize=1000, order="UpdatedDateUTC ASC")

        first, later, body = timed_pages(first_sync_since, pages)
        items = body["pagination"]["itemCount"]
        rows.append(("first sync with If-Modified-Since, page 1", ms(first), f"{items:,} rows", "bisect"))
        rows.append(("… later pages", later_text(later), "", ""))

        elapsed, body = reader.get(START, page=1, pageSize=1000)
        rows.append(("delta, nothing changed", ms(elapsed), f"{len(body['BankTransactions'])} rows", ""))

        sweep, note = _sweep_where(sb, size)

        def sweep_page(page: int) -> tuple[float, dict]:
            return reader.get(where=sweep, page=page, pageSize=1000)

        first, later, body = timed_pages(sweep_page, pages)
        items = body["pagination"]["itemCount"]
        rows.append((f"sweep {note}, page 1 (evaluates where)", ms(first), f"{items:,} rows", ""))
        rows.append(("… later pages (cached)", later_text(later), "", ""))

        editable = next(
            r
            for r in body["BankTransactions"]
            if r["Type"] in ("SPEND", "RECEIVE") and r["Status"] == "AUTHORISED" and not r["IsReconciled"]
        )
        clock.advance(1)
        with Timer() as timer:
            sb.edit_transaction(tenant, editable["BankTransactionID"], reference="bench edit")
            sb.reconcile_transaction(tenant, editable["BankTransactionID"])
        rows.append(("edit + reconcile (keeps the orderings)", ms(timer.timing), "", ""))
        elapsed, body = sweep_page(2)
        rows.append(("sweep page 2 after the write (re-evaluates)", ms(elapsed), "", ""))
        elapsed, body = reader.get(START, page=1, pageSize=1000)
        rows.append(("delta after the write", ms(elapsed), f"{len(body['BankTransactions'])} rows", ""))
        rows.append(("RSS at the end", f"{rss_mb():,.0f} MB", f"peak {peak_mb():,.0f} MB", "whole process"))
    finally:
        sb.stop()
    return rows


def _sweep_where(sb: XeroSandbox, size: int) -> tuple[str, str]:
    """``IsReconciled==false``; past Xero's 100,000-row threshold, within a Date window under it."""
    if size <= 100_000:
        return "IsReconciled==false", "IsReconciled==false"
    days = int(100_000 / size * 548 * 0.8)
    since = (START - timedelta(days=days)).date()
    where = f"Date>=DateTime({since.year},{since.month},{since.day}) AND IsReconciled==false"
    return where, f"last {days} days, IsReconciled==false"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50000,1000000")
    parser.add_argument("--pages", type=int, default=5, help="pages timed per query (plus the last one)")
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"\nOrganisation of {size:,} bank transactions (sandbox and client in one process)")
        table = run(size, args.pages)
        widths = [max(len(r[i]) for r in table) for i in range(4)]
        for row in table:
            print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
