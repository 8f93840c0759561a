"""A PostgreSQL role that may not create extensions: the migration still succeeds, text search is
still right (only unindexed), and ``recon-bot check`` says so in one line."""

from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from bot.services.mirror_rows import row_from_transaction
from bot.services.textmatch import normalise
from storage import migrate
from storage.crypto import TokenCipher
from storage.db import Database
from storage.mirror import upsert_rows
from storage.mirror_search import MirrorFilter, search_mirror, text_index
from tests.storage.test_mirror_search import _line, _txn
from tests.test_checks import check, good_env


@pytest.fixture
def limited_url(postgres_url):  # needs PostgreSQL: the fixture skips without one
    """A fresh database and a login that owns nothing and may not CREATE in it (so no extension)."""
    admin_url = make_url(postgres_url).set(database="postgres")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    suffix = uuid.uuid4().hex[:10]
    name, role = f"recon_noext_{suffix}", f"recon_noext_{suffix}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        conn.exec_driver_sql(f'GRANT CONNECT ON DATABASE "{name}" TO "{role}"')
    inside = create_engine(make_url(postgres_url).set(database=name), isolation_level="AUTOCOMMIT")
    with inside.connect() as conn:
        conn.exec_driver_sql(f'GRANT USAGE, CREATE ON SCHEMA public TO "{role}"')
        assert conn.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").first() is None
    inside.dispose()
    url = make_url(postgres_url).set(database=name, username=role, password=None)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        admin.dispose()


@pytest.mark.postgres
def test_without_pg_trgm_search_is_right_and_check_says_so(limited_url):
    db = Database(limited_url, TokenCipher([Fernet.generate_key().decode()]))
    migrate.upgrade(db.engine)  # CREATE EXTENSION is refused; the migration goes on
    assert migrate.is_current(db.engine)
    with db.engine.connect() as conn:
        assert text_index(conn) is None
    upsert_rows(
        db,
        "t-1",
        [
            row_from_transaction(t)
            for t in (
                _txn(1, line_items=(_line("50% off espresso"),)),
                _txn(2, line_items=(_line("Grinder"),)),
            )
        ],
    )
    found = search_mirror(db, "t-1", MirrorFilter(terms=(normalise("ESPRESSO"),)))
    assert [r.bank_transaction_id for r in found.rows] == ["b-0001"] and found.total == 1
    assert search_mirror(db, "t-1", MirrorFilter(terms=("50%",))).total == 1
    assert search_mirror(db, "t-1", MirrorFilter(terms=("0%",), contact="harbour")).total == 1
    db.dispose()

    status, lines = check(good_env(limited_url, RECON_ENCRYPTION_KEY=Fernet.generate_key().decode()))
    warned = [line for line in lines if line.startswith("[warn] search:")]
    assert len(warned) == 1 and "no pg_trgm index" in warned[0] and "CREATE EXTENSION pg_trgm" in warned[0]
    assert status == 0  # a warning, not a failure: search works


def test_check_names_the_index_when_there_is_one(db_url):
    engine = create_engine(db_url)
    migrate.upgrade(engine)
    engine.dispose()
    _, lines = check(good_env(db_url, RECON_ENCRYPTION_KEY=Fernet.generate_key().decode()))
    expected = "FTS5 trigram" if db_url.startswith("sqlite") else "pg_trgm GIN"
    assert f"[ok  ] search: text index {expected}" in lines
