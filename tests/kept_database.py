"""One PostgreSQL database per test process, handed from test to test instead of a clone each.

Cloning the migrated template (`CREATE DATABASE ... TEMPLATE`) and dropping the clone cost
~200 ms and ~120-190 ms of PostgreSQL's CPU per test on the 2-core machine, most of it the
kernel copying and unlinking files; emptying a kept database costs ~30 ms and ~25 ms. After a
test, `give_back`:

1. ends every connection to the database and renames it to a fresh uuid name (a process the
   test left behind cannot reconnect into the next test: its database name is gone);
2. compares the schema's fingerprint (relations and columns, constraints, triggers, functions,
   extensions and the Alembic revision) with the template's: a test that migrated, downgraded
   or altered the schema gets its database dropped, and the next test a fresh clone;
3. deletes every row (triggers and foreign-key checks off: `session_replication_role`) and
   restarts every sequence at 1, as in a fresh clone.

Any step that fails drops the database instead: the next test then clones, as before.
"""

from __future__ import annotations

import time
import uuid

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from tests.services import POSTGRES_ADMIN_URL, run_admin

# Renaming waits for ended connections to be gone; this long at most.
RENAME_WAIT_SECONDS = 10.0

FINGERPRINT = """
SELECT md5(string_agg(item, ',' ORDER BY item)) FROM (
  SELECT c.relname || ':' || c.relkind::text || ':' || coalesce((
      SELECT string_agg(a.attname || ':' || a.atttypid::text || ':' || a.attnotnull::text,
                        ';' ORDER BY a.attnum)
      FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    ), '') AS item
  FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'constraint:' || conname || ':' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'trigger:' || tgname || ':' || tgrelid::regclass::text || ':' || tgenabled::text
  FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL
  SELECT 'function:' || proname || ':' || md5(prosrc)
  FROM pg_proc WHERE pronamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'extension:' || extname || ':' || extversion FROM pg_extension
  UNION ALL
  SELECT 'revision:' || version_num FROM alembic_version
) AS items
"""
TABLES = (
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
    "AND tablename <> 'alembic_version' ORDER BY tablename"
)
SEQUENCES = "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
TERMINATE = text(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = :name AND pid <> pg_backend_pid()"
)


def libpq_url(database: str) -> str:
    """The admin URL pointed at `database`, as psycopg (not SQLAlchemy) takes it."""
    url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


def new_name() -> str:
    return f"zws_test_{uuid.uuid4().hex}"


class KeptDatabase:
    """The test process's database between tests (names come from uuid4 hex only)."""

    def __init__(self, admin: Engine, template: str) -> None:
        self._admin = admin
        self._template = template
        self._kept: str | None = None
        with psycopg.connect(libpq_url(template), autocommit=True) as conn:
            self._fingerprint = _one(conn, FINGERPRINT)
            tables = [str(row[0]) for row in conn.execute(TABLES)]
            sequences = [str(row[0]) for row in conn.execute(SEQUENCES)]
        self._empty = "SET session_replication_role = replica; " + " ".join(
            [f'DELETE FROM "{table}";' for table in tables]
            + [f"SELECT setval('\"{sequence}\"', 1, false);" for sequence in sequences]
        )

    def take(self) -> str:
        """A migrated, empty database no earlier test used under this name."""
        if self._kept is not None:
            name, self._kept = self._kept, None
            return name
        name = new_name()
        run_admin(self._admin, f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
        return name

    def give_back(self, name: str) -> None:
        """Keep `name`'s database, emptied and renamed, for the next test; or drop it."""
        try:
            renamed = self._rename(name)
        except Exception:
            self._drop(name)
            raise
        if renamed is None:
            self._drop(name)
            return
        try:
            with psycopg.connect(libpq_url(renamed), autocommit=True) as conn:
                if _one(conn, FINGERPRINT) != self._fingerprint:
                    raise LookupError("the test changed the schema")
                conn.execute(self._empty)
        except (psycopg.Error, LookupError):
            self._drop(renamed)
            return
        self._kept = renamed

    def __enter__(self) -> KeptDatabase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the database kept for a next test, if any."""
        if self._kept is not None:
            self._drop(self._kept)
            self._kept = None

    def _rename(self, name: str) -> str | None:
        """End `name`'s connections and rename it; None when connections kept coming back."""
        renamed = new_name()
        deadline = time.monotonic() + RENAME_WAIT_SECONDS
        with self._admin.connect() as conn:  # autocommit
            while True:
                conn.execute(TERMINATE, {"name": name})
                try:
                    conn.execute(text(f'ALTER DATABASE "{name}" RENAME TO "{renamed}"'))
                    return renamed
                except DBAPIError as error:
                    if not isinstance(error.orig, psycopg.errors.ObjectInUse):
                        raise
                    if time.monotonic() > deadline:  # ended backends still not gone
                        return None
                    time.sleep(0.02)

    def _drop(self, name: str) -> None:
        run_admin(self._admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _one(conn: psycopg.Connection[tuple[object, ...]], query: str) -> str:
    row = conn.execute(query).fetchone()
    assert row is not None
    return str(row[0])
