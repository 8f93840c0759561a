import subprocess
import sys

from sqlalchemy import create_engine, inspect

from storage import migrate


def test_migrations_reach_head_and_are_idempotent(db_url):
    engine = create_engine(db_url)
    migrate.upgrade(engine)  # second run: nothing to do, no error
    assert migrate.is_current(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"grants", "tenants", "oauth_states", "digest_subscriptions", "digest_runs", "audit_log"} <= tables
    engine.dispose()


def test_cli_db_upgrade_and_check(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path}/r.db"}
    status = subprocess.run(
        [sys.executable, "-m", "bot", "db", "status"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert status.returncode == 1 and "run recon-bot db upgrade" in status.stdout
    up = subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert up.returncode == 0, up.stderr
    assert "database is at revision 0001" in up.stdout
    assert "generated an encryption key" in status.stderr  # announced once, on first use
    assert "generated an encryption key" not in up.stderr
    check = subprocess.run(
        [sys.executable, "-m", "bot", "check", "--offline"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 1  # Slack and Xero settings are missing
    assert "[FAIL] settings: SLACK_BOT_TOKEN is not set" in check.stdout
    assert "[ok  ] database: reachable (sqlite)" in check.stdout
    assert "[ok  ] migrations: at 0001, newest 0001" in check.stdout
