import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from storage import migrate
from storage.models import Base

HEAD = migrate.status(create_engine("sqlite://"))[1]


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
    assert f"database is at revision {HEAD}" in up.stdout
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
    assert f"[ok  ] migrations: at {HEAD}, newest {HEAD}" in check.stdout


def test_models_match_the_migrations(db_url):
    """The tables the code maps are the tables the migrations build, on both dialects."""
    engine = create_engine(db_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    # Indexes and tables that the migrations add beyond the models (e.g. full-text indexes)
    # are the migrations' business; what the models declare must all exist as declared.
    flat = [change for d in diff for change in (d if isinstance(d, list) else [d])]
    missing = [c for c in flat if str(c[0]).startswith(("add_", "modify_"))]
    assert not missing, missing
