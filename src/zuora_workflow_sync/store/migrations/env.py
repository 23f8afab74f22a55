"""Alembic environment: runs the revisions on the connection store.migrate hands over.

PostgreSQL takes a transaction-scoped advisory lock so workers starting together migrate once.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from zuora_workflow_sync.store.search import is_search_object
from zuora_workflow_sync.store.tables import Base

# An arbitrary constant shared by every process of this product.
_MIGRATION_LOCK_ID = 7_406_315_820


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=_include_name,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:lock_id)"), {"lock_id": _MIGRATION_LOCK_ID}
            )
        context.run_migrations()


def _include_name(name: str | None, kind: str, _parents: object) -> bool:
    """Autogenerate leaves the text-search objects alone: they are not in the metadata."""
    return not (kind in ("table", "index") and is_search_object(name))


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("use zuora_workflow_sync.store.migrate, which passes a connection")
    _run_on(connection)


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
_run_online()
