"""Schema migrations (Alembic), run from code so ``serve``/``clock`` can apply them at start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


# Where a migration leaves statements to run once its transaction has committed (see
# :func:`after_commit`).
AFTER_COMMIT = "after_commit"


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe to run from several processes at once."""
    config = _config(engine)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Two processes starting together must not both create the tables.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7735001)")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    if statements := config.attributes.get(AFTER_COMMIT):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for statement in dict.fromkeys(statements):
                connection.exec_driver_sql(statement)


def after_commit(config: Config, statement: str) -> None:
    """Called by a migration: run ``statement`` once every migration has committed, outside any
    transaction — what ``VACUUM`` needs (after a table rewrite PostgreSQL's visibility map is
    empty, so every count reads the table instead of an index until a vacuum)."""
    config.attributes.setdefault(AFTER_COMMIT, []).append(statement)


def status(engine: Engine) -> tuple[str | None, str]:
    """(current revision or None, head revision)."""
    script = ScriptDirectory.from_config(_config(engine))
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current, script.get_current_head() or ""


def is_current(engine: Engine) -> bool:
    current, head = status(engine)
    return current == head
