"""How fast does Slack get its ack while Xero is slow?

After a warm-up burst that costs Xero nothing, fires N simultaneous ``/recon search``
commands at the bot while the Xero sandbox answers every call after a fixed latency, then a few
more commands while those searches are still waiting on Xero. Prints ack latency percentiles
and when the searches' answers arrived.
Target: p99 ack ≤ 100 ms (Slack's hard limit is 3 s).

Three processes, so that each number measures what it says:

* this one: the Xero sandbox and the Slack stand-in (they issue trigger ids and response URLs,
  record what the bot posts, and check every Block Kit payload);
* the bot: ``recon-bot serve`` (werkzeug, threaded) or gunicorn as in the Procfile;
* a lean load generator that only sends the signed requests, all released at once, and times
  the HTTP round trip — what Slack would measure. (Sending them from this busy process would
  time our own interpreter, not the bot.)

    python bench/ack.py                               # 50 searches, Xero 2,000 ms per call
    python bench/ack.py --server gunicorn --searches 100 --latency-ms 3000 --users 5
"""

from __future__ import annotations

import argparse
import http.client
import logging
import multiprocessing
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

from bot.demo.stack import Stack
from bot.sandbox.slack import payloads
from bot.sandbox.slack.delivery import sign

TARGET_P99_MS = 100.0
PROBES = 10
Request = tuple[str, dict[str, str], bytes]  # (url, headers, body)
Answer = tuple[float, int, str, str]  # (elapsed ms, status, Server-Timing, body)


# ---------------------------------------------------------------------- the load generator process
def _post(request: Request) -> Answer:
    url, headers, body = request
    parsed = urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    started = time.perf_counter()
    connection.request("POST", parsed.path, body=body, headers=headers)
    response = connection.getresponse()
    text = response.read().decode("utf-8", "replace")
    elapsed = (time.perf_counter() - started) * 1000
    timing = response.getheader("Server-Timing", "")
    connection.close()
    return elapsed, response.status, timing, text


def _fire_all(requests: list[Request]) -> list[Answer]:
    """Every request on its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(requests))

    def go(request: Request) -> Answer:
        barrier.wait()
        return _post(request)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(go, requests))


def _generator(inbox: Any, outbox: Any) -> None:
    for batch, together in iter(inbox.get, None):
        outbox.put(_fire_all(batch) if together else [_post(r) for r in batch])


# ---------------------------------------------------------------------- helpers
def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(v for v in values if v == v)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


def server_timing(header: str) -> float:
    """The bot's own measure: request in → ack ready (``Server-Timing: ack;dur=…``)."""
    for part in header.split(","):
        name, _, rest = part.strip().partition(";")
        if name == "ack" and rest.startswith("dur="):
            return float(rest[4:])
    return float("nan")


def command_request(stack: Stack, person: Any, text: str) -> tuple[Request, Any]:
    """A signed ``/recon`` POST as Slack builds it, with a response URL the stand-in tracks."""
    slack, ws = stack.slack, stack.slack.workspace
    where = ws.dm_channel(person.id)
    entry = ws.issue_response_url(person.id, where.id, "command", None)
    form = payloads.slash_command_form(
        slack.team,
        person.user,
        where,
        "/recon",
        text,
        slack.response_url(entry.token),
        ws.issue_trigger(person.id),
    )
    body = payloads.form_body(form)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": sign(slack.signing_secret, timestamp, body),
    }
    return (stack.events_url, headers, body.encode()), entry


def row(label: str, values: list[float], note: str = "") -> str:
    cells = "".join(f"{percentile(values, p):9.1f}" for p in (50, 99)) + f"{max(values):9.1f}"
    return f"{label:30}{cells}   {note}".rstrip()


# ---------------------------------------------------------------------- the run
def run(searches: int, latency_ms: int, users: int, query: str, server: str) -> int:
    logging.basicConfig(level=logging.CRITICAL)
    context = multiprocessing.get_context("spawn")
    inbox, outbox = context.Queue(), context.Queue()
    generator = context.Process(target=_generator, args=(inbox, outbox), daemon=True)
    generator.start()
    try:
        with Stack(xero_options={"transactions": 500}, in_process=False, server=server) as stack:
            people = [stack.slack.add_user(f"U{n:04d}", f"user{n}") for n in range(users)]
            for person in people:
                stack.connect(person)
            # Warm up every worker (imports, compiled SQL, thread pools) without spending Xero's
            # per-minute budget: /recon orgs reads the same tables a search's ack does, and a
            # search with a bad date goes through the whole ack path and stops before Xero.
            warm = [
                command_request(stack, people[i % users], "orgs" if i % 2 else "search from:2024-13-45")
                for i in range(searches)
            ]
            inbox.put(([r for r, _ in warm], True))
            outbox.get(timeout=60)
            for _, entry in warm:
                entry.acked.set()
            answered_by_post = {entry.token for i, (_, entry) in enumerate(warm) if i % 2}
            stack.slack.wait_for(
                lambda: answered_by_post <= {p.token for p in stack.slack.response_url_posts}, 60
            )
            stack.xero.faults.latency(latency_ms)

            built = [command_request(stack, people[i % users], f"search {query}") for i in range(searches)]
            started = time.monotonic()
            started_wall = time.time()
            inbox.put(([r for r, _ in built], True))
            answers: list[Answer] = outbox.get(timeout=60)
            for _, entry in built:
                entry.acked.set()  # the stand-in may now apply the bot's follow-ups in order
            # The searches are now waiting on Xero: how quickly are further commands acked?
            inbox.put(([command_request(stack, people[0], "help")[0] for _ in range(PROBES)], False))
            probes: list[Answer] = outbox.get(timeout=60)

            tokens = {entry.token: i for i, (_, entry) in enumerate(built)}
            done_at: dict[int, float] = {}
            outcome: dict[int, str] = {}
            deadline = started + 120
            while len(done_at) < searches and time.monotonic() < deadline:
                for post in stack.slack.response_url_posts:
                    index = tokens.get(post.token)
                    if index is None or index in done_at:
                        continue
                    done_at[index] = post.time - started_wall
                    text = str(post.body.get("text") or "")
                    outcome[index] = "results" if "transaction" in text else text[:110]
                time.sleep(0.05)
            rejected = len(stack.slack.invalid_payloads)
    finally:
        inbox.put(None)
        generator.join(timeout=5)

    acks = [a[0] for a in answers]
    inside = [server_timing(a[2]) for a in answers]
    failed = [a[1] for a in answers + probes if a[1] != 200 or a[0] > 3000]
    results = sum(1 for o in outcome.values() if o == "results")
    where = {
        "serve": "`recon-bot serve` (werkzeug, threaded), its own process",
        "gunicorn": "gunicorn as in the Procfile (2 gthread workers × 16 threads)",
    }[server]
    print(
        f"/recon search × {searches} at once from {users} user(s); "
        f"Xero answers each call after {latency_ms:,} ms"
    )
    print(f"bot: {where}")
    print()
    print(f"{'':30}{'p50':>9}{'p99':>9}{'max':>9}")
    print(row("ack round trip (ms)", acks, f"mean {statistics.fmean(acks):.1f}"))
    print(row("  of which inside the bot", inside, "(Server-Timing)"))
    print(row("later acks, searches at Xero", [p[0] for p in probes], f"({PROBES} × /recon help)"))
    print()
    print(f"acks late or failed (Slack would show an error): {len(failed)}")
    print(
        f"searches answered: {len(done_at)}/{searches} — {results} with results, "
        f"{len(done_at) - results} other"
    )
    for other in sorted({o for o in outcome.values() if o != "results"}):
        count = sum(1 for o in outcome.values() if o == other)
        print(f"   {count} × {other}")
    if done_at:
        print(f"first answer after {min(done_at.values()):.1f} s, last after {max(done_at.values()):.1f} s")
    print(f"Block Kit payloads the stand-in rejected: {rejected}")
    met = percentile(acks, 99) <= TARGET_P99_MS and not failed
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
        "--server",
        choices=["serve", "gunicorn"],
        default="serve",
        help="`recon-bot serve` (werkzeug, threaded) or gunicorn as in the Procfile",
    )
    args = parser.parse_args(argv)
    return run(args.searches, args.latency_ms, max(1, args.users), args.query, args.server)


if __name__ == "__main__":
    sys.exit(main())
