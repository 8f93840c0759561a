"""Persistence: tables, migrations, encrypted tokens and the single-flight refresh."""

from __future__ import annotations

from storage.crypto import TokenCipher, load_or_create_key_spec
from storage.db import Database


def open_database(database_url: str, encryption_keys: str = "") -> Database:
    """A :class:`Database` with its cipher; for SQLite without a key, a key file is made once."""
    spec = load_or_create_key_spec(database_url, encryption_keys)
    return Database(database_url, TokenCipher.from_spec(spec))


__all__ = ["Database", "TokenCipher", "open_database"]
