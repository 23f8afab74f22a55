"""Apply and inspect the schema migrations programmatically (no alembic.ini at run time).

The revisions live in `store/migrations`, shipped inside the package. Alembic is imported only
to migrate or to inspect: a database already at the head revision is recognised without it
(`upgrade`, which every command on the embedded default runs first, then only reads).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text

from zuora_workflow_sync.store.engine import create_engine_for, reading

if TYPE_CHECKING:
    from alembic.config import Config

_MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_VERSION_TABLE = "alembic_version"
_REVISION = re.compile(r'^revision(?:: *str)? *= *"(\w+)"$', re.MULTILINE)
_DOWN_REVISION = re.compile(r'^down_revision(?:: *str \| None)? *= *(?:"(\w+)"|None)$', re.M)


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    # configparser interpolates "%": escape it in case the install path holds one.
    config.set_main_option("script_location", str(_MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError("the migrations directory holds no revision")
    return head


def upgrade_connection(connection: Connection, revision: str = "head") -> None:
    """Migrate through an open connection, inside its transaction (the caller commits)."""
    from alembic import command

    command.upgrade(_config(connection), revision)


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` in one transaction; safe to run concurrently.

    A database already at the head is only read (no write transaction, so a SQLite command
    that only reads never pays the integrity check of a first write), and without Alembic.
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
        stored = stored_revisions(connection)
    return stored == [known_head() or head_revision()]


def downgrade(url: str, revision: str) -> None:
    """Take the database at `url` back to `revision` ("base" drops every table)."""
    from alembic import command

    engine = create_engine_for(url)
    try:
        with engine.begin() as connection:
            command.downgrade(_config(connection), revision)
    finally:
        engine.dispose()


def current(url: str) -> str | None:
    """The revision the database at `url` is at, None when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    engine = create_engine_for(url)
    try:
        with reading(engine) as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


@functools.cache
def known_head() -> str | None:
    """The head revision read from the revision files' `revision` and `down_revision` lines,
    without Alembic; None unless they form one chain to one head (then Alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (_MIGRATIONS_DIR / "versions").glob("v*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.findall(source), _DOWN_REVISION.findall(source)
        if len(revision) != 1 or len(down) != 1:
            return None
        revisions.add(revision[0])
        parents.update(parent for parent in down if parent)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


def stored_revisions(connection: Connection) -> list[str]:
    """The revisions recorded in the database (none when it was never migrated)."""
    if not connection.dialect.has_table(connection, _VERSION_TABLE):
        return []
    rows = connection.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}"))
    return [str(row[0]) for row in rows]
