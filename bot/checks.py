"""``recon-bot check``: everything an operator needs to know before starting, one line each.

It reports every problem it can find in one run — settings, the database and its key, the
platform, and (unless ``--offline``) Slack and Xero — and changes nothing while doing so: no
database or key file is created, no migration runs (see :mod:`storage.inspection`). Lines are
``ok``, ``FAIL`` (the exit status is 1 when there is one), ``warn`` (works today, bites later)
and ``info`` (what is in force, and how to change it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from urllib.parse import urlparse

import requests

from bot.config import (
    NEEDS_SIGNIN,
    NEEDS_SLACK,
    NEEDS_SOCKET,
    NEEDS_XERO,
    SLACK_SIGNIN_CALLBACK_PATH,
    STANDARD_DAILY_LIMIT,
    STARTER_DAILY_LIMIT,
    XERO_CALLBACK_PATH,
    Settings,
    environment,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from storage.inspection import KeySource, Snapshot

OK, FAIL, WARN, INFO = "ok  ", "FAIL", "warn", "info"
TIMEOUT = (3.05, 5)


@dataclass
class Report:
    """The lines printed so far, and how many were failures and warnings."""

    out: TextIO
    counts: dict[str, int] = field(default_factory=dict)

    def line(self, level: str, text: str) -> None:
        self.counts[level] = self.counts.get(level, 0) + 1
        print(f"[{level}] {text}", file=self.out)

    @property
    def failures(self) -> int:
        return self.counts.get(FAIL, 0)

    @property
    def warnings(self) -> int:
        return self.counts.get(WARN, 0)


def run_checks(
    *,
    offline: bool = False,
    socket_mode: bool = False,
    environ: Mapping[str, str] | None = None,
    dotenv_path: str | None = ".env",
    out: TextIO = sys.stdout,
) -> int:
    """Print the report; 0 when nothing failed (warnings allowed), 1 otherwise."""
    env = environment(environ, dotenv_path)
    report = Report(out)
    socket = socket_mode or bool(env.get("SLACK_APP_TOKEN", "").strip())
    needs = [NEEDS_SLACK, NEEDS_XERO, NEEDS_SIGNIN] + ([NEEDS_SOCKET] if socket else [])
    settings, problems = Settings.inspect(env, needs=needs, dotenv_path=None)
    for problem in problems:
        report.line(FAIL, f"settings: {problem}")
    if not problems:
        report.line(OK, "settings: all present and well-formed")
    for line in settings.deprecations:
        report.line(WARN, f"settings: {line}")
    unusable = {problem.split(" ", 1)[0] for problem in problems}

    check_slack_mode(report, settings, socket=socket, flag=socket_mode, unusable=unusable)
    check_xero_settings(report, settings, env, unusable=unusable)
    if "DATABASE_URL" not in unusable:
        check_platform(report, settings, env)
        check_database(report, settings, keys_usable="RECON_ENCRYPTION_KEY" not in unusable)
    if not offline:
        check_network(report, settings, socket=socket, unusable=unusable)

    summary = "all good" if report.failures == 0 else f"{report.failures} problem(s)"
    if report.warnings:
        summary += f", {report.warnings} warning(s)"
    print(summary, file=out)
    return 0 if report.failures == 0 else 1


# --------------------------------------------------------------------------- Slack and Xero settings


def public_base(settings: Settings) -> str:
    """Where Slack and Xero reach the bot (``https://host[/prefix]``), as far as the settings tell."""
    uri = settings.xero_redirect_uri
    if urlparse(uri).scheme != "https" or not uri.endswith(XERO_CALLBACK_PATH):
        return "https://<your host>"
    return uri[: -len(XERO_CALLBACK_PATH)]


def check_slack_mode(
    report: Report, settings: Settings, *, socket: bool, flag: bool, unusable: set[str]
) -> None:
    base = public_base(settings) if "XERO_REDIRECT_URI" not in unusable else "https://<your host>"
    report.line(
        INFO,
        f"slack: Sign in with Slack comes back to {base}{SLACK_SIGNIN_CALLBACK_PATH}: register it "
        "under the Slack app's OAuth & Permissions → Redirect URLs",
    )
    if socket:
        why = "--socket-mode" if flag else "SLACK_APP_TOKEN is set"
        report.line(
            INFO,
            f"slack: Socket Mode ({why}): run `recon-bot serve --socket-mode` as one process; Slack "
            "needs no public URL for it and SLACK_SIGNING_SECRET is not used. Xero's consent still "
            "comes back over HTTPS to XERO_REDIRECT_URI",
        )
        return
    report.line(
        INFO,
        f"slack: HTTP mode: the Slack app's Request URLs must be {base}/slack/events "
        "(or set SLACK_APP_TOKEN for Socket Mode)",
    )


def check_xero_settings(
    report: Report, settings: Settings, env: Mapping[str, str], *, unusable: set[str]
) -> None:
    if settings.xero_redirect_uri and "XERO_REDIRECT_URI" not in unusable:
        report.line(
            INFO,
            f"xero: consent comes back to {settings.xero_redirect_uri}; register exactly this redirect "
            "URI on the Xero app",
        )
    limit = settings.xero_daily_limit
    if "XERO_DAILY_LIMIT" in unusable:
        source = "the default, as XERO_DAILY_LIMIT is not usable"
    else:
        source = "XERO_DAILY_LIMIT" if env.get("XERO_DAILY_LIMIT", "").strip() else "the default"
    if limit <= STARTER_DAILY_LIMIT:
        advice = (
            "Xero's Starter tier, where new apps start. On a larger tier raise it: "
            f"XERO_DAILY_LIMIT=<your tier's daily limit> (e.g. {STANDARD_DAILY_LIMIT})"
        )
    else:
        advice = (
            f"New Xero apps start on the Starter tier, {STARTER_DAILY_LIMIT} a day: while yours is on "
            f"it, set XERO_DAILY_LIMIT={STARTER_DAILY_LIMIT}, or Xero refuses the calls past that each day"
        )
    report.line(INFO, f"xero: daily limit {limit} calls per organisation ({source}) — {advice}")


# --------------------------------------------------------------------------- platform


@dataclass(frozen=True)
class Platform:
    name: str
    marker: str  # the environment variable that gives it away
    persistent_disks: bool  # the platform offers disks that survive restarts (which we cannot see)
    volume_variable: str | None = None  # where the platform says a persistent volume is mounted


# Platforms whose local disk does not survive a restart or deploy. Heroku sets DYNO (so does
# Dokku, which copied its model); the others document these variables for every service.
PLATFORMS = (
    Platform("Heroku", "DYNO", persistent_disks=False),
    Platform("Render", "RENDER", persistent_disks=True),
    Platform(
        "Railway",
        "RAILWAY_ENVIRONMENT_NAME",
        persistent_disks=True,
        volume_variable="RAILWAY_VOLUME_MOUNT_PATH",
    ),
    Platform("Fly.io", "FLY_APP_NAME", persistent_disks=True),
    Platform("Google Cloud Run", "K_SERVICE", persistent_disks=False),
)


def ephemeral_platform(env: Mapping[str, str]) -> Platform | None:
    """The platform we run on if its disk is wiped at restarts, from the variables it sets."""
    return next((p for p in PLATFORMS if env.get(p.marker, "").strip()), None)


def check_platform(report: Report, settings: Settings, env: Mapping[str, str]) -> None:
    from storage.inspection import is_memory, sqlite_file

    if is_memory(settings.database_url):
        report.line(
            WARN,
            "database: in-memory SQLite: every connection and digest is lost when the process stops, "
            "and each process has its own; set DATABASE_URL to a file or to PostgreSQL",
        )
        return
    path = sqlite_file(settings.database_url)
    platform = ephemeral_platform(env)
    if path is None or platform is None:
        return
    volume = env.get(platform.volume_variable or "", "").strip()
    if volume and Path(path).resolve().is_relative_to(Path(volume).resolve()):
        return
    unless = f", unless {path} is on a persistent disk" if platform.persistent_disks else ""
    report.line(
        WARN,
        f"database: SQLite on {platform.name} ({platform.marker} is set), whose disk is wiped at "
        f"restarts and deploys{unless}: {path} and its key would go with it, and every user would "
        "have to connect to Xero again. Use PostgreSQL (DATABASE_URL=postgresql://…) with "
        "RECON_ENCRYPTION_KEY — see docs/deploying.md",
    )


# --------------------------------------------------------------------------- database and key


def check_database(report: Report, settings: Settings, *, keys_usable: bool) -> None:
    from storage.crypto import key_file_for
    from storage.inspection import KeySource, key_source, read_only_engine, sqlite_file

    url = settings.database_url
    source = key_source(url, settings.encryption_keys.reveal() if keys_usable else "")
    if not keys_usable:
        source = KeySource("RECON_ENCRYPTION_KEY", problem="is not usable (see above)")
    elif source.problem:
        report.line(FAIL, f"encryption key: {source.where} {source.problem}")
    elif source.too_open:
        report.line(WARN, f"encryption key: {source.where} can be read by other users; chmod 600 it")

    path = sqlite_file(url)
    try:
        engine = read_only_engine(url)
    except Exception as exc:  # noqa: BLE001 - reported to the operator, not swallowed
        report.line(FAIL, f"database: {_why(exc)}")
        return
    if engine is None:
        if path is not None:
            _missing_sqlite(report, path, source.where, key_file_for(url))
        return
    try:
        _database_lines(report, engine, url, source)
    finally:
        engine.dispose()


def _database_lines(report: Report, engine: Engine, url: str, source: KeySource) -> None:
    """What the database says, through an engine that cannot change it (SELECTs only).

    Checks of other parts of the database belong here too, after the migrations line.
    """
    from storage.crypto import key_file_for
    from storage.inspection import look

    try:
        snapshot = look(engine, source.keys)
    except Exception as exc:  # noqa: BLE001 - reported to the operator, not swallowed
        report.line(FAIL, f"database: {_why(exc)}")
        return
    report.line(OK, f"database: reachable ({snapshot.dialect})")
    current, head = snapshot.revision, snapshot.head
    report.line(
        OK if current == head else FAIL,
        f"migrations: at {current or 'none'}, newest {head}"
        + ("" if current == head else " — run `recon-bot db upgrade`"),
    )
    _search_index(report, snapshot)
    if source.problem or snapshot.grants is None:
        return
    if not source.keys:
        key_file = key_file_for(url)
        if snapshot.grants:
            report.line(
                FAIL,
                f"encryption key: {key_file} is missing and RECON_ENCRYPTION_KEY is not set, so the "
                f"{snapshot.grants} stored Xero connection(s) cannot be read: restore the key file from "
                "your backup, or every user has to connect again",
            )
        else:
            report.line(INFO, f"encryption key: {key_file} will be generated on first use (mode 0600)")
        return
    _key_health(report, source.where, len(source.keys), snapshot)


def _search_index(report: Report, snapshot: Snapshot) -> None:
    """Text search over the mirror works without its trigram index, only slower: say which it is."""
    if not snapshot.mirror or snapshot.revision != snapshot.head:
        return
    if snapshot.text_index:
        report.line(OK, f"search: text index {snapshot.text_index}")
    elif snapshot.dialect == "postgresql":
        report.line(
            WARN,
            "search: no pg_trgm index (the database role may not create extensions), so text search "
            "reads every row — correct, but slower; as a superuser run `CREATE EXTENSION pg_trgm; CREATE "
            "INDEX ix_mirror_search_trgm ON mirror_transactions USING gin (search_text gin_trgm_ops)`",
        )
    else:
        report.line(WARN, "search: no text index, so text search reads every row — correct, but slower")


def _missing_sqlite(report: Report, path: Path, key_where: str, key_file: Path | None) -> None:
    parent = next((p for p in [path.absolute().parent, *path.absolute().parents] if p.exists()), None)
    if parent is not None and not os.access(parent, os.W_OK):
        report.line(FAIL, f"database: {path} does not exist and {parent} is not writable")
        return
    report.line(
        INFO,
        f"database: {path} does not exist yet; `recon-bot db upgrade` (or the first `serve`) creates it",
    )
    if not key_where and key_file is not None:
        report.line(
            INFO,
            f"encryption key: {key_file} will be generated beside it (mode 0600); back the two up "
            "together, or set RECON_ENCRYPTION_KEY (`recon-bot keygen`)",
        )


def _key_health(report: Report, where: str, keys: int, snapshot: Snapshot) -> None:
    what = f"{where} ({keys} key{'s' if keys != 1 else ''}, the first encrypts)"
    if snapshot.undecryptable:
        report.line(
            FAIL,
            f"encryption key: {snapshot.undecryptable} of {snapshot.grants} stored Xero connection(s) "
            f"cannot be decrypted with {what}. Was a key dropped or changed? Put the old key back "
            "after the new one in RECON_ENCRYPTION_KEY; otherwise those users have to connect again",
        )
    else:
        report.line(OK, f"encryption key: {what} decrypts all {snapshot.grants} stored Xero connection(s)")
    if snapshot.under_older_key:
        report.line(
            WARN,
            f"encryption key: {snapshot.under_older_key} connection(s) are still encrypted under an older "
            "key; run `recon-bot db rotate-keys` before dropping it",
        )


# --------------------------------------------------------------------------- network


def check_network(report: Report, settings: Settings, *, socket: bool, unusable: set[str]) -> None:
    token_ok = settings.slack_bot_token and "SLACK_BOT_TOKEN" not in unusable
    if token_ok:
        _slack_method(report, settings, "auth.test", settings.slack_bot_token.reveal(), "SLACK_BOT_TOKEN")
    else:
        _reachable(report, "Slack API", settings.slack_api_url + "api.test")
    if socket and settings.slack_app_token and "SLACK_APP_TOKEN" not in unusable:
        _slack_method(
            report, settings, "apps.connections.open", settings.slack_app_token.reveal(), "SLACK_APP_TOKEN"
        )
    _reachable(report, "Xero identity", settings.xero_identity_url + "/.well-known/openid-configuration")
    _reachable(report, "Xero API", settings.xero_api_url + "/connections")


def _slack_method(report: Report, settings: Settings, method: str, token: str, variable: str) -> None:
    url = settings.slack_api_url + method
    try:
        response = requests.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
        body = response.json() if response.status_code < 500 else {}
    except (requests.RequestException, ValueError) as exc:
        report.line(FAIL, f"Slack API: cannot reach {url} ({type(exc).__name__})")
        return
    if response.status_code >= 500:
        report.line(FAIL, f"Slack API: {url} answered HTTP {response.status_code}")
    elif not body.get("ok"):
        report.line(FAIL, f"Slack API: {method} refused {variable} ({body.get('error', 'no reason given')})")
    elif method == "auth.test":
        team, user = body.get("team") or body.get("team_id"), body.get("user") or body.get("user_id")
        report.line(
            OK, f"Slack API: SLACK_BOT_TOKEN works — bot @{user} in {team} ({settings.slack_api_url})"
        )
    else:
        report.line(OK, f"Slack API: {variable} can open a Socket Mode connection")


def _reachable(report: Report, name: str, url: str) -> None:
    try:
        response = requests.get(url, timeout=TIMEOUT)
    except requests.RequestException as exc:
        report.line(FAIL, f"{name}: cannot reach {url} ({type(exc).__name__})")
        return
    report.line(
        OK if response.status_code < 500 else FAIL,
        f"{name}: reachable at {url} (HTTP {response.status_code})",
    )


def _why(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
