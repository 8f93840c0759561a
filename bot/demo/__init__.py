"""``recon-bot demo``: the whole bot offline — Xero sandbox, Slack stand-in, Recon and its clock —
driven from the terminal, interactively or from a script.

Everything binds 127.0.0.1 on free ports and uses a temporary SQLite database that is deleted
on exit, so a newcomer needs no Slack workspace and no Xero account.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
SCRIPT_WIDTH = 100
_QUIET_LOGGERS = ("slack_bolt", "slack_sdk", "urllib3", "werkzeug", "apscheduler")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recon-bot demo",
        description=(
            "Run Recon offline — a Xero sandbox, a Slack stand-in, the bot and its clock — and use it "
            "from the terminal as you would from Slack."
        ),
        epilog="Start with `/recon connect`; type `help` at the prompt for the console's commands.",
    )
    parser.add_argument(
        "--script",
        metavar="FILE",
        help="run console lines from FILE ('-' for standard input), print the transcript, and exit "
        "non-zero at the first step that fails",
    )
    parser.add_argument(
        "--seed", type=int, default=7, help="seed for the sandbox's generated data (default 7)"
    )
    parser.add_argument(
        "--transactions", type=int, default=500, help="bank transactions per organisation (default 500)"
    )
    parser.add_argument(
        "--organisations", type=int, default=2, help="organisations in the sandbox (default 2)"
    )
    parser.add_argument(
        "--xero-latency", type=int, default=0, metavar="MS", help="milliseconds added to every Xero call"
    )
    parser.add_argument(
        "--consent",
        choices=("auto", "prompt"),
        default="auto",
        help="Xero's consent page: approve automatically (default), or show Allow/Cancel to choose from",
    )
    parser.add_argument(
        "--start-at",
        type=_instant,
        metavar="WHEN",
        help="pin the demo's time: start at WHEN (UTC, e.g. 2026-11-28T18:45) and move it only 5 s a "
        "step and with `time +…`, so a script prints the same transcript on every run",
    )
    parser.add_argument(
        "--no-color", action="store_true", help="no ANSI colour (also off when not a terminal)"
    )
    parser.add_argument("--width", type=int, default=None, help="output width (default: the terminal's)")
    return parser


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date and time like 2026-11-28T18:45") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _read_script(path: str) -> list[str]:
    if path == "-":
        return sys.stdin.read().splitlines()
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


def _width(requested: int | None, out: TextIO, interactive: bool) -> int:
    if requested:
        return max(40, min(requested, 200))
    if interactive and out.isatty():
        return max(60, min(shutil.get_terminal_size((SCRIPT_WIDTH, 24)).columns, 120))
    return SCRIPT_WIDTH


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Entry point of ``recon-bot demo``; returns the exit status."""
    from bot.demo.console import ask_to_confirm, run_interactive
    from bot.demo.script import run_script
    from bot.demo.session import Session, describe
    from bot.demo.transcript import Transcript
    from bot.demo.view import Style
    from bot.demo.world import DemoOptions, DemoWorld

    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["--"]:
        raw = raw[1:]  # `recon-bot demo -- --script FILE`: the separator some shells and CLIs need
    args = build_parser().parse_args(raw)
    out = out or sys.stdout
    problems = [
        f"--{name} must be {rule}"
        for name, ok, rule in (
            ("transactions", 0 <= args.transactions <= 100_000, "between 0 and 100000"),
            ("organisations", 1 <= args.organisations <= 10, "between 1 and 10"),
            ("xero-latency", 0 <= args.xero_latency <= 60_000, "between 0 and 60000"),
        )
        if not ok
    ]
    if problems:
        for problem in problems:
            print(f"recon-bot demo: {problem}", file=sys.stderr)
        return EXIT_USAGE
    interactive = args.script is None and sys.stdin.isatty()
    script: list[str] | None = None
    if args.script is not None:
        try:
            script = _read_script(args.script)
        except OSError as exc:
            print(f"recon-bot demo: can't read {args.script}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
    elif not interactive:
        script = sys.stdin.read().splitlines()  # piped in: run it as a script
    colour = interactive and out.isatty() and not args.no_color and "NO_COLOR" not in os.environ
    style = Style(enabled=colour)
    transcript = Transcript(out, style, _width(args.width, out, interactive))
    options = DemoOptions(
        seed=args.seed,
        transactions=args.transactions,
        organisations=args.organisations,
        xero_latency_ms=args.xero_latency,
        consent=args.consent,
        start_at=args.start_at,
    )
    if interactive:
        transcript.print(
            style.dim("Starting the Xero sandbox, the Slack stand-in, Recon and its clock…"), record=False
        )
    restore = _quiet_logging()
    started = time.monotonic()
    world = DemoWorld(options)
    session: Session | None = None
    try:
        world.start()
        session = Session(world, transcript, confirm=ask_to_confirm if interactive else None)
        logging.getLogger().addHandler(session.log_handler)
        banner = describe(world, session.user)
        first, _, rest = banner.partition("\n")
        transcript.print(style.bold(first) + "\n" + rest, record=False)
        transcript.print(style.dim(f"(ready in {time.monotonic() - started:.1f} s)"), record=False)
        transcript.print("", record=False)
        if script is not None:
            return run_script(session, transcript, script)
        return run_interactive(session, transcript)
    except KeyboardInterrupt:
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from complaining at exit.
        if out is sys.stdout:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stays open until the process ends
        return EXIT_FAILED
    except OSError as exc:
        print(f"recon-bot demo: couldn't start: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if interactive:
            transcript.print(style.dim("Stopping…"), record=False)
        if session is not None:
            logging.getLogger().removeHandler(session.log_handler)
        logging.disable(logging.CRITICAL)  # work abandoned by quitting may fail noisily; nobody is watching
        try:
            world.stop()
        finally:
            logging.disable(logging.NOTSET)
            restore()
        if interactive:
            transcript.print(
                style.dim("Stopped Recon, its clock, the Slack stand-in and the Xero sandbox. Bye!")
            )


def _quiet_logging():  # noqa: ANN202 - returns the function that undoes it
    """Libraries' chatter off the console; Recon's own warnings and clock lines come through the session."""
    root = logging.getLogger()
    saved = [(root, root.level)] + [
        (logging.getLogger(n), logging.getLogger(n).level) for n in _QUIET_LOGGERS
    ]
    root.setLevel(logging.INFO)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)

    def restore() -> None:
        for logger, level in saved:
            logger.setLevel(level)

    return restore
