"""How fast does Slack get its ack while Xero is slow?

Fires N concurrent ``/recon search`` commands at the bot's real WSGI app (signed, over HTTP, from
the Slack stand-in) while the Xero sandbox answers every call after a fixed latency, then one
more command in the middle of that load. Prints ack latency percentiles and when the searches'
results arrived. Target: p99 ack ≤ 100 ms (Slack's hard limit is 3 s).

    python bench/ack.py                     # 50 searches, Xero 2,000 ms per call
    python bench/ack.py --searches 100 --latency-ms 3000 --users 5
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bot.sandbox.stack import Stack

TARGET_P99_MS = 100.0
PROBES = 10


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


def server_timing(delivery: Any) -> float:
    """The bot's own measure: request in → ack ready (``Server-Timing: ack;dur=…``)."""
    header = {k.lower(): v for k, v in delivery.headers.items()}.get("server-timing", "")
    for part in header.split(","):
        name, _, rest = part.strip().partition(";")
        if name == "ack" and rest.startswith("dur="):
            return float(rest[4:])
    return float("nan")


def ack_ts(delivery: Any) -> str | None:
    for line in delivery.outcome:
        if line.startswith("ack shown as"):
            return line.rsplit(" ", 1)[-1]
    return None


def run(searches: int, latency_ms: int, users: int, query: str, in_process: bool, server: str) -> int:
    logging.basicConfig(level=logging.CRITICAL)
    with Stack(xero_options={"transactions": 500}, in_process=in_process, server=server) as stack:
        people = [stack.slack.add_user(f"U{n:04d}", f"user{n}") for n in range(users)]
        for person in people:
            stack.connect(person)
        stack.xero.faults.latency(latency_ms)

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=searches) as pool:
            futures = [
                pool.submit(people[i % users].command, "/recon", f"search {query}") for i in range(searches)
            ]
            deliveries = [f.result() for f in futures]
        acks_ms = [d.elapsed * 1000 for d in deliveries]
        server_ms = [server_timing(d) for d in deliveries]
        failed_acks = [d.failed for d in deliveries if not d.ok]
        # The searches are now waiting on Xero; how quickly are further commands acked?
        probes = [people[0].command("/recon", "help") for _ in range(PROBES)]
        probe_ms = [p.elapsed * 1000 for p in probes]
        failed_acks += [p.failed for p in probes if not p.ok]

        pending = {
            (people[i % users].id, ts): i for i, d in enumerate(deliveries) if (ts := ack_ts(d)) is not None
        }
        done_at: dict[int, float] = {}
        outcome: dict[int, str] = {}
        deadline = started + 120
        while pending and time.monotonic() < deadline:
            for (user_id, ts), index in list(pending.items()):
                message = next((m for m in stack.slack.ephemerals(user_id) if m.ts == ts), None)
                text = (message.text if message else "") or ""
                if "Searching" in text or "Checking" in text or not text:
                    continue
                done_at[index] = time.monotonic() - started
                outcome[index] = "results" if "transaction" in text else text[:60]
                del pending[(user_id, ts)]
            time.sleep(0.05)
        invalid = len(stack.slack.invalid_payloads)

    results = sum(1 for o in outcome.values() if o == "results")
    others = sorted({o for o in outcome.values() if o != "results"})
    p99 = percentile(acks_ms, 99)
    if in_process:
        where = "in the load generator's process (werkzeug, threaded)"
    elif server == "gunicorn":
        where = "under gunicorn, 2 gthread workers × 16 threads, in its own processes"
    else:
        where = "as `recon-bot serve` (werkzeug, threaded) in its own process"
    print(
        f"/recon search × {searches} from {users} user(s), Xero answering each call after {latency_ms:,} ms"
    )
    print(f"bot running {where}")
    print()
    print(f"{'':28}{'p50':>9}{'p99':>9}{'max':>9}")
    print(
        f"{'ack as Slack sees it (ms)':28}{percentile(acks_ms, 50):9.1f}{p99:9.1f}{max(acks_ms):9.1f}"
        f"   mean {statistics.fmean(acks_ms):.1f}"
    )
    print(
        f"{'ack inside the bot (ms)':28}{percentile(server_ms, 50):9.1f}{percentile(server_ms, 99):9.1f}"
        f"{max(server_ms):9.1f}   (Server-Timing)"
    )
    print(
        f"{'later acks, searches running':28}{percentile(probe_ms, 50):9.1f}{percentile(probe_ms, 99):9.1f}"
        f"{max(probe_ms):9.1f}   ({PROBES} × /recon help while Xero works)"
    )
    print()
    print(f"acks failed (Slack would show an error): {len(failed_acks)}")
    print(
        f"searches answered: {len(done_at)}/{searches} — {results} with results, "
        f"{len(done_at) - results} other"
    )
    for other in others:
        print(f"   other answer: {other}")
    if done_at:
        print(f"first result after {min(done_at.values()):.1f} s, last after {max(done_at.values()):.1f} s")
    print(f"Block Kit payloads Slack would reject: {invalid}")
    met = p99 <= TARGET_P99_MS and not failed_acks
    print(f"target p99 ≤ {TARGET_P99_MS:.0f} ms: {'met' if met else 'MISSED'}")
    return 0 if met else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--searches", type=int, default=50)
    parser.add_argument("--latency-ms", type=int, default=2000)
    parser.add_argument("--users", type=int, default=1)
    parser.add_argument("--query", default="from:30d")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the bot in this process too (shares the GIL with the load generator: pessimistic)",
    )
    parser.add_argument(
        "--server",
        choices=["serve", "gunicorn"],
        default="serve",
        help="`recon-bot serve` (werkzeug, threaded) or gunicorn as in the Procfile (2 workers × 16 threads)",
    )
    args = parser.parse_args(argv)
    return run(args.searches, args.latency_ms, max(1, args.users), args.query, args.in_process, args.server)


if __name__ == "__main__":
    sys.exit(main())
