"""The Alembic migrations build exactly the tables of the metadata, on both dialects."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from zuora_workflow_sync.store import migrate
from zuora_workflow_sync.store.engine import create_engine_for
from zuora_workflow_sync.store.tables import Base


def test_migrated_schema_matches_metadata_when_upgraded_to_head(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert set(inspect(conn).get_table_names()) == {
            *Base.metadata.tables,
            "alembic_version",
        }


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
