"""A look at a database that changes nothing, for ``recon-bot check``.

:func:`storage.open_database` makes what is missing (the SQLite file, its key file) because
``serve`` needs them. ``check`` must not: run in the wrong directory, it would leave a stray
database and a fresh key that later looks authoritative. So here a SQLite file is opened only
if it exists (as a ``mode=rw`` URI, which SQLite refuses to create), PostgreSQL in a read-only
transaction, nothing but SELECTs are issued, and the key file is read, never written.
"""

from __future__ import annotations

import sqlite3
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Engine, create_engine, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from storage import migrate
from storage.crypto import invalid_keys, key_file_for
from storage.mirror_search import text_index
from storage.models import GRANT_REVOKED, Grant, MirrorTransaction


def sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite file database; None for PostgreSQL and in-memory SQLite."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def is_memory(database_url: str) -> bool:
    url = make_url(database_url)
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


@dataclass(frozen=True)
class KeySource:
    """Where the token keys come from, and what is wrong with them (``problem``) if anything."""

    where: str  # "RECON_ENCRYPTION_KEY", the key file's path, or "" when there is no key yet
    keys: tuple[str, ...] = ()
    problem: str | None = None  # the key file is unreadable or malformed
    too_open: bool = False  # the key file can be read by other users


def key_source(database_url: str, configured: str) -> KeySource:
    """The keys ``serve`` would use, without generating one when there is none."""
    if configured:
        return KeySource("RECON_ENCRYPTION_KEY", _split(configured))
    path = key_file_for(database_url)
    if path is None or not path.exists():
        return KeySource("")
    try:
        text = path.read_text().strip()
        mode = path.stat().st_mode
    except OSError as exc:
        return KeySource(str(path), problem=f"cannot be read ({exc.strerror or exc})")
    if not text or invalid_keys(text):
        return KeySource(str(path), problem="does not hold a valid key")
    return KeySource(str(path), _split(text), too_open=bool(mode & (stat.S_IRWXG | stat.S_IRWXO)))


@dataclass(frozen=True)
class Snapshot:
    """What ``check`` reports about a database that exists."""

    dialect: str
    revision: str | None
    head: str
    grants: int | None = None  # stored Xero connections; None before the tables exist
    undecryptable: int = 0  # … whose refresh token no configured key decrypts
    under_older_key: int = 0  # … that decrypt, but not with the newest key (rotation pending)
    mirror: bool = False  # the mirror's tables exist
    text_index: str | None = None  # the trigram index serving text search, if there is one


def read_only_engine(database_url: str) -> Engine | None:
    """An engine that cannot create the database; None when a SQLite file does not exist yet."""
    path = sqlite_file(database_url)
    if path is not None:
        if not path.exists():
            return None
        # mode=rw opens an existing file and never creates one. (mode=ro would leave the -wal and
        # -shm files of a WAL database behind; a read-write connection removes them on close.)
        uri = f"file:{quote(str(path.resolve()))}?mode=rw"
        return create_engine(
            "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, timeout=5), poolclass=NullPool
        )
    if is_memory(database_url):
        return None
    engine = create_engine(database_url, poolclass=NullPool, connect_args={"connect_timeout": 5})
    return engine.execution_options(postgresql_readonly=True)


def look(engine: Engine, keys: tuple[str, ...]) -> Snapshot:
    """Revision, stored connections and whether ``keys`` decrypt them; raises if unreachable."""
    head = ScriptDirectory(str(migrate.MIGRATIONS)).get_current_head() or ""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        snapshot = Snapshot(engine.dialect.name, current, head)
        if inspect(connection).has_table(MirrorTransaction.__tablename__):
            snapshot = replace(snapshot, mirror=True, text_index=text_index(connection))
        if not inspect(connection).has_table(Grant.__tablename__):
            return snapshot
        tokens = connection.execute(
            select(Grant.refresh_token_enc).where(Grant.status != GRANT_REVOKED)
        ).scalars()
        total = undecryptable = older = 0
        newest = Fernet(keys[0].encode()) if keys else None
        every = MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None
        for token in tokens:
            total += 1
            if newest is None or every is None:
                undecryptable += 1
                continue
            try:
                newest.decrypt(token.encode("ascii"))
                continue
            except InvalidToken:
                pass
            try:
                every.decrypt(token.encode("ascii"))
                older += 1
            except InvalidToken:
                undecryptable += 1
    return replace(snapshot, grants=total, undecryptable=undecryptable, under_older_key=older)


def _split(spec: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in spec.split(",") if part.strip())
