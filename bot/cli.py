"""The ``recon-bot`` command. Each subcommand imports what it needs lazily, so ``--help`` and
``check`` stay fast and work even when an optional part is misconfigured."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bot.config import NEEDS_SIGNIN, NEEDS_SLACK, NEEDS_SOCKET, NEEDS_XERO, Settings, SettingsError

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_SETTINGS = 2


def _settings(needs: Sequence[str]) -> Settings:
    try:
        return Settings.from_env(needs=needs)
    except SettingsError as exc:
        for line in exc.problems:
            print(f"recon: {line}", file=sys.stderr)
        raise SystemExit(EXIT_SETTINGS) from None


def _database(settings: Settings):
    from storage import open_database

    return open_database(settings.database_url, settings.encryption_keys.reveal())


def cmd_check(args: argparse.Namespace) -> int:
    """Settings, database, key, platform and (unless --offline) Slack and Xero, one line each."""
    from bot.checks import run_checks

    return run_checks(offline=args.offline, socket_mode=args.socket_mode)


def cmd_db(args: argparse.Namespace) -> int:
    from storage import migrate
    from storage.grants import rotate_encryption

    settings = _settings(())
    db = _database(settings)
    if args.action == "upgrade":
        migrate.upgrade(db.engine)
        current, _ = migrate.status(db.engine)
        print(f"database is at revision {current}")
    elif args.action == "status":
        current, head = migrate.status(db.engine)
        print(f"current revision: {current or 'none (run recon-bot db upgrade)'}; newest: {head}")
        return EXIT_OK if current == head else EXIT_PROBLEM
    elif args.action == "rotate-keys":
        migrate.upgrade(db.engine)
        result = rotate_encryption(db)
        print(f"re-encrypted the tokens of {result.rotated} grant(s) under the newest key")
        if result.unreadable:
            ids = ", ".join(map(str, result.unreadable_ids))
            print(
                f"recon: {result.unreadable} grant(s) ({ids}) cannot be decrypted with any key in "
                "RECON_ENCRYPTION_KEY; left as they are (restore the key, or their users reconnect)",
                file=sys.stderr,
            )
            return EXIT_PROBLEM
    return EXIT_OK


def cmd_keygen(_args: argparse.Namespace) -> int:
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    needs = [NEEDS_SLACK, NEEDS_XERO, NEEDS_SIGNIN] + ([NEEDS_SOCKET] if args.socket_mode else [])
    settings = _settings(needs)
    from bot.web import serve

    return serve(settings, socket_mode=args.socket_mode, host=args.host)


def cmd_clock(_args: argparse.Namespace) -> int:
    settings = _settings([NEEDS_SLACK, NEEDS_XERO])
    from bot.jobs import run_clock

    return run_clock(settings)


def cmd_mirror(args: argparse.Namespace) -> int:
    settings = _settings([NEEDS_XERO])
    from bot.mirror_cli import run
    from bot.services.container import build_services

    services = build_services(settings, migrate_schema=True)
    try:
        return run(args, services)
    finally:
        services.close()


def cmd_sandbox(args: argparse.Namespace) -> int:
    from bot.sandbox.xero.cli import main as sandbox_main

    return sandbox_main(args.rest)


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo import main as demo_main

    return demo_main(args.rest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recon-bot",
        description="Recon: search and fix Xero bank transactions from Slack.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="serve Slack events, the Xero callback and /healthz over HTTP")
    p.add_argument("--socket-mode", action="store_true", help="receive Slack over Socket Mode")
    p.add_argument("--host", default="0.0.0.0", help="interface to listen on (default 0.0.0.0)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("clock", help="run the scheduler: token keep-alive and daily digests")
    p.set_defaults(func=cmd_clock)

    p = sub.add_parser("sandbox", help="run the offline Xero sandbox", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_sandbox)

    p = sub.add_parser("demo", help="run everything offline and drive it from the terminal", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("check", help="check settings, database, migrations and reachability")
    p.add_argument("--offline", action="store_true", help="skip contacting Slack and Xero")
    p.add_argument(
        "--socket-mode",
        action="store_true",
        help="check for `serve --socket-mode` (implied when SLACK_APP_TOKEN is set)",
    )
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("db", help="database maintenance")
    p.add_argument("action", choices=["upgrade", "status", "rotate-keys"])
    p.set_defaults(func=cmd_db)

    from bot.mirror_cli import add_parser as add_mirror_parser

    add_mirror_parser(sub)
    sub.choices["mirror"].set_defaults(func=cmd_mirror)

    p = sub.add_parser("keygen", help="print a new encryption key for RECON_ENCRYPTION_KEY")
    p.set_defaults(func=cmd_keygen)
    return parser


# Commands that parse their own options: argparse's REMAINDER would refuse `demo --script F`.
_DELEGATED = {"demo": cmd_demo, "sandbox": cmd_sandbox}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _DELEGATED:
        return int(_DELEGATED[argv[0]](argparse.Namespace(rest=argv[1:])) or 0)
    args = build_parser().parse_args(argv)
    from storage.crypto import MissingKeyFile

    try:
        return int(args.func(args) or 0)
    except MissingKeyFile as exc:
        print(f"recon: {exc}", file=sys.stderr)
        return EXIT_SETTINGS


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
