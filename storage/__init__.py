"""Persistence: tables, migrations, encrypted tokens and the single-flight refresh."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from storage.crypto import TokenCipher, key_file_for, load_or_create_key_spec
from storage.db import Database


def open_database(database_url: str, encryption_keys: str = "") -> Database:
    """A :class:`Database` with its cipher; for SQLite without a key, a key file is made once
    (and never again once the database holds grants: :class:`storage.crypto.MissingKeyFile`)."""
    spec = load_or_create_key_spec(
        database_url, encryption_keys, stored_grants=lambda: _sqlite_grants(database_url)
    )
    return Database(database_url, TokenCipher.from_spec(spec))


def _sqlite_grants(database_url: str) -> int:
    """How many grants the SQLite file beside the key file holds, read-only (0 if no file yet)."""
    key_file = key_file_for(database_url)
    if key_file is None:
        return 0
    path = Path(str(key_file)[: -len(".key")])
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM grants").fetchone()[0])
    except sqlite3.OperationalError:  # no grants table yet: a database never migrated
        return 0
    finally:
        conn.close()


__all__ = ["Database", "TokenCipher", "open_database"]
