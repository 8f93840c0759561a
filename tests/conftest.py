"""Shared fixtures: real SQLite and real PostgreSQL databases, never mocks.

PostgreSQL tests use ``RECON_TEST_POSTGRES_URL`` or 127.0.0.1:5432 (user postgres, database
test). Each test session creates its own throw-away database there, so parallel runs do not
collide. Without a reachable server the PostgreSQL half skips with the reason — except under CI
(``CI=true``), where an unreachable PostgreSQL is a failure, not a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from storage import migrate
from storage.crypto import TokenCipher
from storage.db import Database
from storage.scratch import scratch_database

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _admin_pg_url() -> str:
    return os.environ.get("RECON_TEST_POSTGRES_URL", DEFAULT_PG)


def _pg_reason() -> str | None:
    try:
        engine = create_engine(_admin_pg_url(), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - becomes the skip reason
        where = make_url(_admin_pg_url()).render_as_string()
        return f"PostgreSQL not reachable at {where}: {type(exc).__name__}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    reason = _pg_reason()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI must run the PostgreSQL tests)")
        pytest.skip(reason)
    with scratch_database(_admin_pg_url(), "recon_test") as url:
        yield url


@pytest.fixture
def encryption_key() -> str:
    return Fernet.generate_key().decode()


def _truncate(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "TRUNCATE audit_log, digest_post_rows, digest_posts, digest_runs, digest_subscriptions, "
            "views_awaiting_connection, oauth_states, tenants, grants, "
            "mirror_transactions, mirror_contacts, mirror_sync_state, organisations, xero_budget_tenants, "
            "xero_budget_app "
            "RESTART IDENTITY CASCADE"
        )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """A migrated, empty database URL on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'recon.db'}"
        engine = create_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        return url
    url = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    migrate.upgrade(engine)
    db = Database(url, TokenCipher([Fernet.generate_key().decode()]), engine=engine)
    _truncate(db)
    engine.dispose()
    return url


@pytest.fixture
def db(db_url: str, encryption_key: str) -> Iterator[Database]:
    database = Database(db_url, TokenCipher([encryption_key]))
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(tmp_path, encryption_key: str) -> Iterator[Database]:
    """SQLite only, for tests that inspect the file itself."""
    url = f"sqlite:///{tmp_path / 'recon.db'}"
    database = Database(url, TokenCipher([encryption_key]))
    migrate.upgrade(database.engine)
    yield database
    database.dispose()


def xero_spec_path(name: str = "xero_accounting.yaml"):
    """Xero's OpenAPI file: ``$RECON_XERO_SPEC_DIR``, else the ``shared/xero`` folder beside the repo.

    Returns None when absent (a newcomer's clone); under CI its absence is a failure, so the
    conformance tests can never pass by skipping.
    """
    from pathlib import Path

    folder = Path(
        os.environ.get("RECON_XERO_SPEC_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "xero")
    )
    path = folder / name
    if path.is_file():
        return path
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Xero's OpenAPI spec {path} is missing (CI must validate against it)")
    return None
