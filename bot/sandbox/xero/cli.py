"""``recon-bot sandbox``: run the Xero sandbox in the foreground until Ctrl-C.

Prints the URLs and the ``NAME=value`` settings to give the bot, one per line, so a script can
read them (the ``XERO_*`` lines are stable; other lines are for people).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import TextIO

from .sandbox import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URI, XeroSandbox


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recon-bot sandbox", description="Run an offline Xero for the bot.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one; default 8765)")
    parser.add_argument("--transactions", type=int, default=500, help="bank transactions per organisation")
    parser.add_argument("--organisations", type=int, default=2, help="number of organisations (default 2)")
    parser.add_argument("--seed", type=int, default=7, help="seed for the generated data (default 7)")
    parser.add_argument(
        "--redirect-uri",
        action="append",
        dest="redirect_uris",
        metavar="URI",
        help=f"registered redirect URI (repeatable; default {DEFAULT_REDIRECT_URI})",
    )
    parser.add_argument(
        "--consent", choices=("auto", "prompt"), default="auto", help="consent page behaviour"
    )
    parser.add_argument("--latency-ms", type=int, default=0, help="latency added to every API call")
    parser.add_argument(
        "--daily-limit", type=int, default=5000, help="calls per tenant per day (default 5000)"
    )
    parser.add_argument(
        "--minute-limit",
        type=int,
        default=60,
        help="calls per tenant per rolling minute (default 60; raise it to read a big organisation fast)",
    )
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    return parser


def describe(sb: XeroSandbox, out: TextIO) -> None:
    """The lines a person (or a script) needs to point the bot at ``sb``."""
    print(f"Xero sandbox running at {sb.url}", file=out)
    print(f"  consent page: {sb.authorize_url}", file=out)
    print(f"  control:      {sb.url}/_sandbox", file=out)
    print(f"  redirect URIs: {', '.join(sb.redirect_uris)}", file=out)
    for tenant in sb.tenants:
        print(f"  organisation: {tenant['name']} ({tenant['currency']}, {tenant['tenant_id']})", file=out)
    print(f"  user: {sb.user['name']} <{sb.user['email']}>", file=out)
    print("Configure the bot with:", file=out)
    for name, value in sb.bot_settings().items():
        print(f"{name}={value}", file=out)
    print("Press Ctrl-C to stop.", file=out)
    out.flush()


def main(
    argv: list[str] | None = None, *, stop: threading.Event | None = None, out: TextIO | None = None
) -> int:
    """Run until Ctrl-C / SIGTERM (or until ``stop`` is set, for callers running it in a thread)."""
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    if args.transactions < 0 or args.organisations < 1:
        print("--transactions must be >= 0 and --organisations >= 1", file=sys.stderr)
        return 2
    sb = XeroSandbox(
        seed=args.seed,
        transactions=args.transactions,
        organisations=args.organisations,
        consent=args.consent,
        client_id=args.client_id,
        client_secret=args.client_secret,
        redirect_uris=args.redirect_uris or [DEFAULT_REDIRECT_URI],
        daily_limit=args.daily_limit,
        minute_limit=args.minute_limit,
    )
    if args.latency_ms:
        sb.faults.latency(args.latency_ms)
    try:
        sb.start(host=args.host, port=args.port)
    except OSError as exc:
        print(f"Cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = stop or threading.Event()
    restore = _stop_on_signals(stop)
    try:
        sb.warm()  # so the settings lines mean "ready", even for a million transactions
        describe(sb, out)
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        stop.set()
    finally:
        restore()
        sb.stop()
        print("Xero sandbox stopped.", file=out)
    return 0


def _stop_on_signals(stop: threading.Event):  # noqa: ANN202 - returns a restore callback
    """SIGINT/SIGTERM set ``stop`` (main thread only; elsewhere signals are not ours to take)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


if __name__ == "__main__":
    raise SystemExit(main())
