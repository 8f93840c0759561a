"""``recon-bot check``: every rule, every problem at once, and nothing created or changed."""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.checks import run_checks
from storage import migrate
from storage.crypto import TokenCipher
from storage.db import Database
from storage.models import Grant


def good_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-1-check",
        "SLACK_SIGNING_SECRET": "signing-secret",
        "XERO_CLIENT_ID": "client",
        "XERO_CLIENT_SECRET": "secret",
        "XERO_REDIRECT_URI": "https://recon.example.com/xero/callback",
        "RECON_SLACK_CLIENT_ID": "2141029472.691202649728",
        "RECON_SLACK_CLIENT_SECRET": "slack-client-secret",
        "DATABASE_URL": database_url,
        **extra,
    }


def check(env: dict[str, str], *, offline: bool = True, socket_mode: bool = False) -> tuple[int, list[str]]:
    out = io.StringIO()
    status = run_checks(offline=offline, socket_mode=socket_mode, environ=env, dotenv_path=None, out=out)
    return status, out.getvalue().splitlines()


def upgraded_sqlite(path: Path) -> str:
    url = f"sqlite:///{path}"
    db = Database(url, TokenCipher([Fernet.generate_key().decode()]))
    migrate.upgrade(db.engine)
    db.dispose()
    return url


def add_grant(db: Database, user: str = "U1") -> None:
    now = datetime.now(UTC)
    with db.session() as session:
        session.add(
            Grant(
                slack_team_id="T1",
                slack_user_id=user,
                xero_user_id=f"x-{user}",
                access_token_enc=db.cipher.encrypt("access"),
                refresh_token_enc=db.cipher.encrypt("refresh"),
                access_expires_at=now + timedelta(minutes=30),
                last_refreshed_at=now,
            )
        )


def listing(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` with a hash of its bytes."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def run_cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "check", *args],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


# --------------------------------------------------------------------------- no side effects


def test_check_offline_in_an_empty_directory_creates_no_database_and_no_key(tmp_path):
    assert listing(tmp_path) == {}
    proc = run_cli(tmp_path, {}, "--offline")
    assert proc.returncode == 1  # the Slack and Xero settings are missing
    assert listing(tmp_path) == {}, "check must not create recon.db or recon.db.key"
    assert "[FAIL] settings: SLACK_BOT_TOKEN is not set" in proc.stdout
    assert "[info] database: recon.db does not exist yet" in proc.stdout
    assert "recon.db.key will be generated" in proc.stdout
    assert "generated an encryption key" not in proc.stderr


def test_check_leaves_an_existing_database_and_its_key_file_byte_for_byte_alone(tmp_path):
    url = f"sqlite:///{tmp_path / 'recon.db'}"
    from storage import open_database

    db = open_database(url)  # as `serve` would: the key file is generated beside the database
    migrate.upgrade(db.engine)
    add_grant(db)
    db.dispose()
    before = listing(tmp_path)
    assert set(before) == {"recon.db", "recon.db.key"}
    proc = run_cli(tmp_path, good_env(url), "--offline")
    assert proc.returncode == 0, proc.stdout
    assert listing(tmp_path) == before  # no -wal/-shm left behind, no checkpoint rewrote a page
    assert f"encryption key: {tmp_path / 'recon.db.key'} (1 key, the first encrypts) decrypts all 1" in (
        proc.stdout
    )


def test_check_runs_no_migrations(tmp_path):
    path = tmp_path / "recon.db"
    sqlite3.connect(path).close()  # an empty database file, as after a failed first start
    status, lines = check(good_env(f"sqlite:///{path}"))
    assert status == 1
    assert "[FAIL] migrations: at none, newest " in "\n".join(lines)
    assert "run `recon-bot db upgrade`" in "\n".join(lines)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []


# --------------------------------------------------------------------------- every problem at once


def test_every_problem_is_listed_and_the_database_is_still_checked(tmp_path):
    url = upgraded_sqlite(tmp_path / "recon.db")
    env = good_env(
        url,
        XERO_SCOPES="openid accounting.banktransactions",
        XERO_REDIRECT_URI="http://recon.example.com/callback",
        SLACK_BOT_TOKEN="not-a-bot-token",
        PORT="eighty",
    )
    status, lines = check(env)
    text = "\n".join(lines)
    assert status == 1
    for fragment in (
        "[FAIL] settings: XERO_SCOPES must include offline_access",
        "[FAIL] settings: XERO_REDIRECT_URI must end in /xero/callback",
        "[FAIL] settings: SLACK_BOT_TOKEN must be a bot token starting with xoxb-",
        "[FAIL] settings: PORT must be a number between 1 and 65535",
        "[ok  ] database: reachable (sqlite)",
        "[ok  ] migrations: at ",
        "[info] xero: daily limit",
    ):
        assert fragment in text, (fragment, text)
    assert lines[-1] == "4 problem(s)"


def test_offline_access_missing_alone_still_reports_everything_else(tmp_path):
    url = upgraded_sqlite(tmp_path / "recon.db")
    status, lines = check(good_env(url, XERO_SCOPES="openid accounting.banktransactions"))
    assert status == 1
    fails = [line for line in lines if line.startswith("[FAIL]")]
    assert len(fails) == 1 and "offline_access" in fails[0]
    assert any(line.startswith("[ok  ] database: reachable") for line in lines)
    assert any(line.startswith("[ok  ] migrations:") for line in lines)


def test_an_unreachable_database_is_one_line_among_the_others():
    key = Fernet.generate_key().decode()
    url = "postgresql://recon:secret-password@127.0.0.1:1/recon"
    status, lines = check(good_env(url, RECON_ENCRYPTION_KEY=key, XERO_SCOPES="openid"))
    text = "\n".join(lines)
    assert status == 1
    assert "[FAIL] settings: XERO_SCOPES must include offline_access" in text
    assert any(line.startswith("[FAIL] database: OperationalError") for line in lines), text
    assert "[info] xero: daily limit" in text
    assert "secret-password" not in text
    assert lines[-1] == "2 problem(s)"


def test_a_clean_configuration_is_all_good(tmp_path):
    status, lines = check(good_env(upgraded_sqlite(tmp_path / "recon.db")))
    assert status == 0
    assert lines[0] == "[ok  ] settings: all present and well-formed"
    assert lines[-1] == "all good"


# --------------------------------------------------------------------------- Socket Mode


def test_socket_mode_from_the_app_token_needs_no_signing_secret(tmp_path):
    env = good_env(upgraded_sqlite(tmp_path / "recon.db"), SLACK_APP_TOKEN="xapp-1-check")
    del env["SLACK_SIGNING_SECRET"]
    status, lines = check(env)
    assert status == 0, lines
    assert not any("SLACK_SIGNING_SECRET is not set" in line for line in lines)
    assert any(line.startswith("[info] slack: Socket Mode (SLACK_APP_TOKEN is set)") for line in lines)


def test_http_mode_without_a_signing_secret_fails(tmp_path):
    env = good_env(upgraded_sqlite(tmp_path / "recon.db"))
    del env["SLACK_SIGNING_SECRET"]
    status, lines = check(env)
    assert status == 1
    assert "[FAIL] settings: SLACK_SIGNING_SECRET is not set" in lines
    assert any("https://recon.example.com/slack/events" in line for line in lines)
    _, lines = check({**env, "XERO_REDIRECT_URI": "https://example.com/recon/xero/callback"})
    assert any("Request URLs must be https://example.com/recon/slack/events" in line for line in lines)


def test_the_socket_mode_flag_asks_for_the_app_token_instead(tmp_path):
    env = good_env(upgraded_sqlite(tmp_path / "recon.db"))
    del env["SLACK_SIGNING_SECRET"]
    status, lines = check(env, socket_mode=True)
    assert status == 1
    assert "[FAIL] settings: SLACK_APP_TOKEN is not set" in lines
    assert not any("SLACK_SIGNING_SECRET" in line for line in lines if line.startswith("[FAIL]"))
    assert any(line.startswith("[info] slack: Socket Mode (--socket-mode)") for line in lines)


def test_the_cli_takes_the_socket_mode_flag(tmp_path):
    proc = run_cli(tmp_path, {}, "--offline", "--socket-mode")
    assert "[FAIL] settings: SLACK_APP_TOKEN is not set" in proc.stdout
    assert "SLACK_SIGNING_SECRET" not in proc.stdout.split("[info]")[0]


# --------------------------------------------------------------------------- redirect URI


@pytest.mark.parametrize(
    ("uri", "complaint"),
    [
        ("http://recon.example.com/xero/callback", "must use https (Xero allows http only for localhost)"),
        ("https://recon.example.com/callback", "must end in /xero/callback"),
    ],
)
def test_check_refuses_a_redirect_uri_xero_or_recon_would_not_serve(tmp_path, uri, complaint):
    status, lines = check(good_env(upgraded_sqlite(tmp_path / "recon.db"), XERO_REDIRECT_URI=uri))
    assert status == 1
    assert any(line.startswith("[FAIL] settings: XERO_REDIRECT_URI ") and complaint in line for line in lines)


# --------------------------------------------------------------------------- the daily limit


def test_the_daily_limit_in_force_and_how_to_raise_it(tmp_path):
    url = upgraded_sqlite(tmp_path / "recon.db")
    _, lines = check(good_env(url))
    default = next(line for line in lines if line.startswith("[info] xero: daily limit"))
    # A new install starts at Xero's smallest tier and is told how to go past it.
    assert default.startswith("[info] xero: daily limit 1000 calls per organisation (the default)")
    assert "Starter tier" in default and "XERO_DAILY_LIMIT=<your tier's daily limit> (e.g. 5000)" in default
    _, lines = check(good_env(url, XERO_DAILY_LIMIT="5000"))
    chosen = next(line for line in lines if line.startswith("[info] xero: daily limit"))
    assert chosen.startswith("[info] xero: daily limit 5000 calls per organisation (XERO_DAILY_LIMIT)")
    assert "Starter" in chosen and "XERO_DAILY_LIMIT=1000" in chosen
    _, lines = check(good_env(url, XERO_DAILY_LIMIT="1000"))
    starter = next(line for line in lines if line.startswith("[info] xero: daily limit"))
    assert "Starter tier" in starter and "XERO_DAILY_LIMIT=<your tier's daily limit>" in starter


def test_the_old_process_count_is_accepted_with_one_deprecation_line(tmp_path):
    url = upgraded_sqlite(tmp_path / "recon.db")
    status, lines = check(good_env(url, RECON_XERO_PROCESSES="3"))
    assert status == 0
    said = [line for line in lines if "RECON_XERO_PROCESSES" in line]
    assert len(said) == 1 and said[0].startswith("[warn] settings: RECON_XERO_PROCESSES is no longer used")
    _, lines = check(good_env(url))
    assert not any("RECON_XERO_PROCESSES" in line for line in lines)


# --------------------------------------------------------------------------- platforms that wipe the disk


@pytest.mark.parametrize(
    ("marker", "name"),
    [
        ({"DYNO": "web.1"}, "Heroku"),
        ({"RENDER": "true"}, "Render"),
        ({"RAILWAY_ENVIRONMENT_NAME": "production"}, "Railway"),
        ({"FLY_APP_NAME": "recon"}, "Fly.io"),
        ({"K_SERVICE": "recon"}, "Google Cloud Run"),
    ],
)
def test_sqlite_on_a_platform_that_wipes_its_disk_is_warned_about(tmp_path, marker, name):
    status, lines = check(good_env(upgraded_sqlite(tmp_path / "recon.db"), **marker))
    warnings = [line for line in lines if line.startswith("[warn] database: SQLite on")]
    assert status == 0  # a warning: it works until the first restart
    assert len(warnings) == 1 and f"SQLite on {name} ({next(iter(marker))} is set)" in warnings[0]
    assert "PostgreSQL" in warnings[0] and "docs/deploying.md" in warnings[0]
    assert lines[-1] == "all good, 1 warning(s)"


def test_no_platform_warning_on_an_ordinary_machine_or_on_a_railway_volume(tmp_path):
    url = upgraded_sqlite(tmp_path / "recon.db")
    _, plain = check(good_env(url))
    _, volume = check(
        good_env(url, RAILWAY_ENVIRONMENT_NAME="production", RAILWAY_VOLUME_MOUNT_PATH=str(tmp_path))
    )
    for lines in (plain, volume):
        assert not any(line.startswith("[warn]") for line in lines), lines


@pytest.mark.postgres
def test_no_platform_warning_with_postgresql(postgres_url):
    engine_db = Database(postgres_url, TokenCipher([Fernet.generate_key().decode()]))
    migrate.upgrade(engine_db.engine)
    engine_db.dispose()
    key = Fernet.generate_key().decode()
    status, lines = check(good_env(postgres_url, DYNO="web.1", RECON_ENCRYPTION_KEY=key))
    assert not any(line.startswith("[warn]") for line in lines), lines
    assert "[ok  ] database: reachable (postgresql)" in lines


# --------------------------------------------------------------------------- the encryption key


def test_stored_tokens_are_checked_against_the_keys_in_force(db_url, encryption_key):
    db = Database(db_url, TokenCipher([encryption_key]))
    add_grant(db, "U1")
    add_grant(db, "U2")
    db.dispose()
    new = Fernet.generate_key().decode()

    _, lines = check(good_env(db_url, RECON_ENCRYPTION_KEY=encryption_key))
    assert any("decrypts all 2 stored Xero connection(s)" in line for line in lines), lines

    status, lines = check(good_env(db_url, RECON_ENCRYPTION_KEY=new))
    assert status == 1
    assert any(
        line.startswith("[FAIL] encryption key: 2 of 2 stored Xero connection(s) cannot be decrypted")
        for line in lines
    ), lines

    status, lines = check(good_env(db_url, RECON_ENCRYPTION_KEY=f"{new},{encryption_key}"))
    assert status == 0, lines
    assert any("2 connection(s) are still encrypted under an older key" in line for line in lines)
    assert any("recon-bot db rotate-keys" in line for line in lines)


def test_a_lost_key_file_with_stored_connections_fails(tmp_path):
    url = f"sqlite:///{tmp_path / 'recon.db'}"
    from storage import open_database

    db = open_database(url)
    migrate.upgrade(db.engine)
    add_grant(db)
    db.dispose()
    (tmp_path / "recon.db.key").unlink()
    status, lines = check(good_env(url))
    assert status == 1
    assert any(
        "recon.db.key is missing" in line and "every user has to connect again" in line for line in lines
    )
    assert not (tmp_path / "recon.db.key").exists()


def test_a_key_file_others_can_read_is_warned_about(tmp_path):
    url = f"sqlite:///{tmp_path / 'recon.db'}"
    from storage import open_database

    db = open_database(url)
    migrate.upgrade(db.engine)
    db.dispose()
    (tmp_path / "recon.db.key").chmod(0o644)
    _, lines = check(good_env(url))
    assert any(line.startswith("[warn] encryption key:") and "chmod 600" in line for line in lines)


# --------------------------------------------------------------------------- online


def test_online_check_signs_in_to_slack_and_reaches_xero(tmp_path):
    from bot.sandbox.slack import SlackSandbox
    from bot.sandbox.xero import XeroSandbox

    with XeroSandbox(transactions=0) as xero, SlackSandbox().start() as slack:
        env = {
            **good_env(upgraded_sqlite(tmp_path / "recon.db")),
            **xero.bot_settings(),
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_API_URL": slack.api_url,
        }
        status, lines = check(env, offline=False)
        assert status == 0, lines
        assert any(line.startswith("[ok  ] Slack API: SLACK_BOT_TOKEN works") for line in lines), lines
        assert any(line.startswith("[ok  ] Xero identity: reachable") for line in lines)
        assert any(line.startswith("[ok  ] Xero API: reachable") for line in lines)

        status, lines = check({**env, "SLACK_BOT_TOKEN": "xoxb-wrong"}, offline=False)
        assert status == 1
        assert any(line.startswith("[FAIL] Slack API: auth.test refused SLACK_BOT_TOKEN") for line in lines)

        status, lines = check({**env, "SLACK_APP_TOKEN": slack.app_token}, offline=False)
        assert status == 0, lines
        assert any("SLACK_APP_TOKEN can open a Socket Mode connection" in line for line in lines)


def test_sign_in_with_slack_needs_the_apps_client_credentials_and_names_its_redirect_url(tmp_path):
    env = good_env(
        upgraded_sqlite(tmp_path / "recon.db"), XERO_REDIRECT_URI="https://example.com/recon/xero/callback"
    )
    del env["RECON_SLACK_CLIENT_ID"], env["RECON_SLACK_CLIENT_SECRET"]
    status, lines = check(env)
    assert status == 1
    assert "[FAIL] settings: RECON_SLACK_CLIENT_ID is not set" in lines
    assert "[FAIL] settings: RECON_SLACK_CLIENT_SECRET is not set" in lines
    assert any(
        "Sign in with Slack comes back to https://example.com/recon/connect/slack" in line for line in lines
    )
