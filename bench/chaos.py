"""Chaos for the token refresh: crashes, lost answers, contention, key rotations, two clocks.

Runs :mod:`bot.demo.chaos` — the bot's real services in 18 processes against the Xero sandbox
over HTTP, on SQLite and on PostgreSQL — and prints, per database, the refresh calls Xero saw per
round and per scenario, the grants lost (must be 0) and the tokens found in plaintext in the
database files and logs (must be 0). Exits 1 if either is not 0 or a round broke an invariant.

    python bench/chaos.py [--rounds 1000] [--grants 8] [--seed 11] [--sqlite-only | --postgres-only]
                          [--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
                          [--per-round]

PostgreSQL: a throw-away database is created on the server and dropped afterwards. The
plaintext scan reads the server's data files when this user can (run as the server's owner or
root); otherwise only SQLite's files and the logs are scanned, and the table says so.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bot.demo.chaos import Chaos, ChaosReport, RoundResult, format_report
from storage.scratch import scratch_database

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def run_one(database_url: str, args: argparse.Namespace, workdir: Path) -> ChaosReport:
    started = time.monotonic()

    def progress(result: RoundResult) -> None:
        if args.per_round:
            flag = "" if not result.problems else "  <-- " + "; ".join(result.problems)
            print(
                f"  round {result.index:>4}  {result.scenario:<9} {result.variant:<14} "
                f"{result.refresh_calls:>2} refresh call(s)  {result.seconds:5.2f} s{flag}",
                flush=True,
            )
        elif result.index % 50 == 0:
            print(
                f"  … {result.index} rounds, {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True
            )

    chaos = Chaos(database_url, workdir, grants=args.grants, seed=args.seed, progress=progress)
    try:
        return chaos.run(args.rounds)
    finally:
        chaos.close()


def with_postgres(admin_url: str, body):
    with scratch_database(admin_url, "recon_chaos") as url:
        return body(url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--grants", type=int, default=8)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--sqlite-only", action="store_true")
    only.add_argument("--postgres-only", action="store_true")
    parser.add_argument("--per-round", action="store_true", help="print a line for every round")
    parser.add_argument("--keep", metavar="DIR", help="keep the logs and SQLite files in DIR")
    args = parser.parse_args(argv)

    reports = []
    with tempfile.TemporaryDirectory(prefix="recon-chaos-") as scratch:
        tmp = args.keep or scratch
        if not args.postgres_only:
            folder = Path(tmp) / "sqlite"
            folder.mkdir(parents=True, exist_ok=True)
            print(f"SQLite: {args.rounds} rounds…", file=sys.stderr, flush=True)
            reports.append(run_one(f"sqlite:///{folder / 'recon.db'}", args, folder))
            print("\n" + format_report(reports[-1]) + "\n", flush=True)
        if not args.sqlite_only:
            folder = Path(tmp) / "postgres"
            folder.mkdir(parents=True, exist_ok=True)
            print(f"PostgreSQL: {args.rounds} rounds…", file=sys.stderr, flush=True)
            reports.append(with_postgres(args.postgres_url, lambda url: run_one(url, args, folder)))
            print("\n" + format_report(reports[-1]) + "\n", flush=True)
    return 0 if all(not r.problems for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
