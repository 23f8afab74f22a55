"""The Alembic migrations build exactly the tables of the metadata, on both dialects."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from zuora_workflow_sync.store import migrate
from zuora_workflow_sync.store.engine import create_engine_for
from zuora_workflow_sync.store.search import POSTGRESQL_INDEX, SQLITE_TABLE, is_search_object
from zuora_workflow_sync.store.tables import Base

# FTS5 keeps its index in shadow tables beside the virtual table (a contentless one, no docsize).
SQLITE_SEARCH_TABLES = {
    SQLITE_TABLE,
    *(f"{SQLITE_TABLE}_{part}" for part in ("data", "idx", "config")),
}


def _not_search(name: str | None, kind: str, _parents: object) -> bool:
    return not (kind in ("table", "index") and is_search_object(name))


def test_migrated_schema_matches_metadata_when_upgraded_to_head(engine: Engine) -> None:
    with engine.connect() as conn:
        options = {"compare_type": True, "include_name": _not_search}
        context = MigrationContext.configure(conn, opts=options)
        assert compare_metadata(context, Base.metadata) == []
        search_tables = SQLITE_SEARCH_TABLES if engine.dialect.name == "sqlite" else set()
        assert set(inspect(conn).get_table_names()) == {
            *Base.metadata.tables,
            "alembic_version",
            *search_tables,
        }


def test_text_search_objects_exist_when_upgraded_to_head(engine: Engine) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            triggers = conn.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).scalars()
            assert set(triggers) == {
                f"{SQLITE_TABLE}_{kind}" for kind in ("insert", "delete", "update")
            }
        else:
            indexes = {index["name"] for index in inspect(conn).get_indexes("workflow_tasks")}
            assert POSTGRESQL_INDEX in indexes


def test_current_is_head_when_upgraded(db_url: str) -> None:
    assert migrate.current(db_url) == migrate.head_revision()


def test_upgrade_is_a_no_op_when_already_at_head(db_url: str) -> None:
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head_revision()


def test_current_is_none_when_never_migrated(tmp_path: Path) -> None:
    assert migrate.current(f"sqlite:///{tmp_path / 'fresh.db'}") is None


def test_partial_unique_index_exists_when_migrated(engine: Engine) -> None:
    with engine.connect() as conn:
        indexes = {index["name"]: index for index in inspect(conn).get_indexes("sync_runs")}
    active = indexes["uq_sync_runs_one_active_per_customer"]
    assert active["unique"]
    assert active["column_names"] == ["customer_id"]
    where = str(active.get("dialect_options", {}).get(f"{engine.dialect.name}_where", ""))
    assert "queued" in where and "running" in where


def test_downgrade_removes_every_table_when_going_to_base(sqlite_url: str) -> None:
    migrate.downgrade(sqlite_url, "base")
    engine = create_engine_for(sqlite_url)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()
