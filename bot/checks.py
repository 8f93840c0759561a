"""``recon-bot check``: everything an operator needs to know before starting, one line each."""

from __future__ import annotations

import sys

import requests

from bot.config import NEEDS_SIGNIN, NEEDS_SLACK, NEEDS_XERO, Settings, SettingsError

OK = "ok  "
BAD = "FAIL"


def run_checks(*, offline: bool = False, out=sys.stdout) -> int:
    failures = 0

    def line(ok: bool, text: str) -> None:
        nonlocal failures
        failures += 0 if ok else 1
        print(f"[{OK if ok else BAD}] {text}", file=out)

    try:
        settings = Settings.from_env(needs=[NEEDS_SLACK, NEEDS_XERO, NEEDS_SIGNIN])
        line(True, "settings: all present and well-formed")
    except SettingsError as exc:
        for problem in exc.problems:
            line(False, f"settings: {problem}")
        try:
            settings = Settings.from_env()
        except SettingsError:
            return 2

    from storage import migrate, open_database

    try:
        db = open_database(settings.database_url, settings.encryption_keys.reveal())
        db.ping()
        line(True, f"database: reachable ({db.engine.dialect.name})")
        current, head = migrate.status(db.engine)
        line(
            current == head,
            f"migrations: at {current or 'none'}, newest {head}"
            + ("" if current == head else " — run `recon-bot db upgrade`"),
        )
    except Exception as exc:  # noqa: BLE001 - reported to the operator, not swallowed
        line(False, f"database: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")

    if not offline:
        for name, url in (
            ("Slack API", settings.slack_api_url + "api.test"),
            ("Xero identity", settings.xero_identity_url + "/.well-known/openid-configuration"),
            ("Xero API", settings.xero_api_url + "/connections"),
        ):
            try:
                response = requests.get(url, timeout=(3.05, 5))
                line(response.status_code < 500, f"{name}: reachable at {url} (HTTP {response.status_code})")
            except requests.RequestException as exc:
                line(False, f"{name}: cannot reach {url} ({type(exc).__name__})")
    print(("all good" if failures == 0 else f"{failures} problem(s)"), file=out)
    return 0 if failures == 0 else 1
