"""Apply and inspect the schema migrations programmatically (no alembic.ini at run time).

The revisions live in `store/migrations`, shipped inside the package.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from zuora_workflow_sync.store.engine import create_engine_for, reading

_MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    # configparser interpolates "%": escape it in case the install path holds one.
    config.set_main_option("script_location", str(_MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError("the migrations directory holds no revision")
    return head


def upgrade_connection(connection: Connection, revision: str = "head") -> None:
    """Migrate through an open connection, inside its transaction (the caller commits)."""
    command.upgrade(_config(connection), revision)


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` in one transaction; safe to run concurrently.

    A database already at the head is only read (no write transaction, so a SQLite command
    that only reads never pays the integrity check of a first write).
    """
    engine = create_engine_for(url)
    try:
        if revision == "head" and _at_head(engine):
            return
        with engine.begin() as connection:
            upgrade_connection(connection, revision)
    finally:
        engine.dispose()


def _at_head(engine: Engine) -> bool:
    with reading(engine) as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    return revision == head_revision()


def downgrade(url: str, revision: str) -> None:
    """Take the database at `url` back to `revision` ("base" drops every table)."""
    engine = create_engine_for(url)
    try:
        with engine.begin() as connection:
            command.downgrade(_config(connection), revision)
    finally:
        engine.dispose()


def current(url: str) -> str | None:
    """The revision the database at `url` is at, None when it was never migrated."""
    engine = create_engine_for(url)
    try:
        with reading(engine) as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
