"""Engine and sessions, with the locking each dialect needs for single-flight writes.

SQLite: pysqlite's own transaction handling is switched off so that we issue ``BEGIN`` ourselves
— ``BEGIN IMMEDIATE`` for sessions that must serialise (token refresh, digest claims), plain
``BEGIN`` for everything else. WAL mode keeps readers from blocking on that writer, and a busy
timeout makes waiters queue instead of failing.
PostgreSQL: ordinary transactions; serialising sessions use ``SELECT … FOR UPDATE`` on the row.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from storage.crypto import TokenCipher

_BEGIN_OPTION = "recon_sqlite_begin"
SQLITE_BUSY_TIMEOUT_MS = 60_000  # generous: writes are short (a token refresh calls Xero outside any)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)

    memory = parsed.database in (None, "", ":memory:")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        **({"poolclass": StaticPool} if memory else {}),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # pragma: no cover - trivial
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


class Database:
    """The engine, a session factory and the token cipher, passed to everything that stores."""

    def __init__(self, url: str, cipher: TokenCipher, *, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        self.cipher = cipher
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on any exception."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def locked_session(self) -> Iterator[Session]:
        """A unit of work that takes the write lock up front on SQLite (``BEGIN IMMEDIATE``).

        On PostgreSQL it is an ordinary transaction: callers lock the rows they need with
        ``with_for_update()``, which SQLite ignores (its database-wide lock already covers it).
        """
        with self._sessions() as session:
            if self.is_sqlite:
                # Autobegins the transaction on this connection with BEGIN IMMEDIATE.
                session.connection(execution_options={_BEGIN_OPTION: "IMMEDIATE"})
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def locked_connection(self) -> Iterator[Connection]:
        """A Core connection in a transaction that takes SQLite's write lock up front.

        For hot paths (the Xero budget runs one per call) where the ORM's bookkeeping would cost
        more than the SQL itself. PostgreSQL callers lock rows with ``FOR UPDATE``.
        """
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
            with conn.begin():
                yield conn

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
