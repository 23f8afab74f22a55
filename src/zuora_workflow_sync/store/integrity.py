"""The database's integrity check (`workflow-sync db check`, a worker's start, a SQLite write).

SQLite: `PRAGMA quick_check` (every page and b-tree, without cross-checking indexes against
tables: linear in the file's size). PostgreSQL, whose server guards its own pages: the schema is
at this code's newest revision and every table, key, unique index and check constraint of
`store.tables` is there (the ones that keep runs from duplicating and rows from dangling;
plain indexes only make reads fast and are not required). Each problem is one line that says
what to do.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from sqlalchemy import Connection, Engine, Index, text
from sqlalchemy.exc import DBAPIError

from zuora_workflow_sync.errors import ConfigurationError

UPGRADE = "run `workflow-sync db upgrade`"
_SQLITE_DAMAGED = (
    "the SQLite database failed its integrity check (PRAGMA quick_check: {found}); nothing was "
    "written to it: stop the workers, restore the file from a backup (or salvage it with "
    "`sqlite3 FILE .recover`), then run `workflow-sync db check`"
)
_PROBLEMS_SHOWN = 3


class DatabaseIntegrityError(ConfigurationError):
    """The database failed its integrity check: nothing may be written to it."""


def check(engine: Engine) -> None:
    """DatabaseIntegrityError with what to do unless the database at `engine` passes."""
    problem = find_problem(engine)
    if problem is not None:
        raise DatabaseIntegrityError(problem)


def find_problem(engine: Engine) -> str | None:
    """The first problem of the database at `engine`, said with its fix, or None."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            found = sqlite_quick_check(conn.connection.dbapi_connection)
            if found is not None:
                return _SQLITE_DAMAGED.format(found=found)
        return _revision_problem(conn) or (
            _missing_objects(conn) if conn.dialect.name == "postgresql" else None
        )


def sqlite_quick_check(dbapi_connection: Any) -> str | None:
    """What `PRAGMA quick_check` found wrong (its first lines), or None when it says "ok"."""
    cursor = dbapi_connection.cursor()
    try:
        rows = cursor.execute(f"PRAGMA quick_check({_PROBLEMS_SHOWN})").fetchall()
    except sqlite3.DatabaseError as exc:  # the header or the schema itself is unreadable
        return str(exc)
    finally:
        cursor.close()
    found = [str(row[0]) for row in rows]
    return None if found == ["ok"] else "; ".join(found)[:300]


def _revision_problem(conn: Connection) -> str | None:
    from zuora_workflow_sync.store.migrate import known_head, stored_revisions

    try:
        # At the head the revision files name (the usual case): no need to import Alembic.
        if known_head() is not None and stored_revisions(conn) == [known_head()]:
            return None
    except DBAPIError:
        conn.rollback()  # PostgreSQL refuses the next statement of a failed transaction
    from alembic.runtime.migration import MigrationContext

    from zuora_workflow_sync.store.migrate import head_revision

    try:
        revision = MigrationContext.configure(conn).get_current_revision()
    except DBAPIError:
        revision = None
    head = head_revision()
    if revision == head:
        return None
    if revision is None:
        return f"the database has no schema yet: {UPGRADE}"
    return f"the database is at revision {revision}, this code needs {head}: {UPGRADE}"


def _missing_objects(conn: Connection) -> str | None:
    """Tables, constraints and unique indexes of `store.tables` missing from the schema."""
    present = set(conn.execute(text(_PRESENT_NAMES)).scalars())
    missing = [name for name in expected_names(conn) if not _present(name, present)]
    if not missing:
        return None
    shown = ", ".join(missing[:_PROBLEMS_SHOWN]) + (" ..." * (len(missing) > _PROBLEMS_SHOWN))
    return (
        f"the database schema lacks {len(missing)} tables or constraints ({shown}): it was "
        "changed outside the migrations; restore it from a backup, or recreate what is missing "
        f"and run `workflow-sync db check`"
    )


_PRESENT_NAMES = """
SELECT tablename FROM pg_tables WHERE schemaname = current_schema()
UNION ALL
SELECT c.conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
WHERE n.nspname = current_schema()
UNION ALL
SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()
"""


class SqliteWriteGuard:
    """`PRAGMA quick_check` before an engine's first write transaction (one per process, in
    practice: a read-only command never pays it), so nothing writes into a damaged file."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._passed = False

    def before_write(self, dbapi_connection: Any) -> None:
        """DatabaseIntegrityError when the file fails the check; later calls cost nothing."""
        if self._passed:
            return
        with self._lock:
            if self._passed:
                return
            found = sqlite_quick_check(dbapi_connection)
            if found is not None:
                raise DatabaseIntegrityError(_SQLITE_DAMAGED.format(found=found))
            self._passed = True


def _present(name: str, present: set[str]) -> bool:
    # Revision 0001 gave its check constraints full names that the naming convention then
    # prefixed again ("ck_customers_ck_customers_sync_status"); later ones may not.
    if name in present:
        return True
    return name.startswith("ck_") and any(
        other.startswith("ck_") and other.endswith("_" + name) for other in present
    )


_expected_lock = threading.Lock()
_expected: list[str] = []


def expected_names(conn: Connection) -> list[str]:
    """Every table, constraint and unique index `store.tables` declares, by its database name."""
    from zuora_workflow_sync.store.tables import Base

    with _expected_lock:
        if not _expected:
            preparer = conn.dialect.identifier_preparer
            for table in Base.metadata.sorted_tables:
                _expected.append(table.name)
                names = (preparer.format_constraint(c) for c in table.constraints)
                _expected.extend(name for name in names if name is not None)
                _expected.extend(
                    preparer.format_index(index) for index in table.indexes if _unique(index)
                )
        return list(_expected)


def _unique(index: Index) -> bool:
    return bool(index.unique)
