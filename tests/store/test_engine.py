"""Engines: SQLite pragmas and BEGIN IMMEDIATE, the database clock, aware UTC datetimes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, update
from sqlalchemy.exc import StatementError
from sqlalchemy.pool import QueuePool

from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.store.engine import (
    create_engine_for,
    db_now,
    db_seconds_since,
    reading,
    writing,
)
from zuora_workflow_sync.store.tables import CustomerRow

from .factories import add_customer


@pytest.fixture
def statements(sqlite_engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def _record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(sqlite_engine, "before_cursor_execute", _record)
    yield seen
    event.remove(sqlite_engine, "before_cursor_execute", _record)


def test_sqlite_pragmas_are_set_when_connecting(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL, with WAL
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -8000  # 8 MB


def test_write_transaction_begins_immediate_when_on_sqlite(
    sqlite_engine: Engine, statements: list[str]
) -> None:
    with writing(sqlite_engine) as conn:
        conn.execute(select(1))
    assert statements[0] == "BEGIN IMMEDIATE"


def test_read_transaction_begins_deferred_when_on_sqlite(
    sqlite_engine: Engine, statements: list[str]
) -> None:
    with reading(sqlite_engine) as conn:
        conn.execute(select(1))
    assert statements[0] == "BEGIN DEFERRED"


def test_parent_directories_are_created_when_sqlite_file_is_nested(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'a' / 'b' / 'store.db'}")
    try:
        with writing(engine) as conn:
            conn.execute(select(1))
    finally:
        engine.dispose()
    assert (tmp_path / "a" / "b" / "store.db").exists()


@pytest.mark.parametrize(
    "url", ["mysql://user:hunter2@host/db", "not a url", "postgresql+psycopg2://u:hunter2@h/d"]
)
def test_configuration_error_hides_url_when_url_is_unsupported(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        create_engine_for(url)
    assert "hunter2" not in str(caught.value)


def test_db_now_is_aware_utc_and_current_when_selected(engine: Engine) -> None:
    with reading(engine) as conn:
        now, later, earlier = conn.execute(select(db_now(), db_now(60), db_now(-1.5))).one()
    assert now.tzinfo == UTC
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)
    assert later - now == timedelta(seconds=60)
    assert now - earlier == timedelta(seconds=1.5)


def test_db_seconds_since_measures_elapsed_time_when_given_a_column(engine: Engine) -> None:
    customer = add_customer(engine)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    with writing(engine) as conn:
        conn.execute(update(CustomerRow).values(last_synced_at=an_hour_ago))
        elapsed = conn.execute(
            select(db_seconds_since(CustomerRow.last_synced_at)).where(
                CustomerRow.id == customer.id
            )
        ).scalar_one()
    assert 3590 < elapsed < 3610


def test_datetimes_round_trip_as_utc_when_stored_with_another_offset(engine: Engine) -> None:
    customer = add_customer(engine)
    moment = datetime(2024, 5, 6, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    with writing(engine) as conn:
        conn.execute(update(CustomerRow).values(last_synced_at=moment))
    with reading(engine) as conn:
        stored = conn.execute(
            select(CustomerRow.last_synced_at).where(CustomerRow.id == customer.id)
        ).scalar_one()
    assert stored == moment
    assert stored is not None and stored.tzinfo == UTC


def test_naive_datetime_is_refused_when_bound(engine: Engine) -> None:
    add_customer(engine)
    naive = datetime.now(UTC).replace(tzinfo=None)
    with pytest.raises(StatementError, match="naive datetime"), writing(engine) as conn:
        conn.execute(update(CustomerRow).values(last_synced_at=naive))


def test_postgresql_engine_uses_psycopg_and_pre_ping_when_url_has_no_driver() -> None:
    engine = create_engine_for("postgresql://user@db.invalid/zws", pool_size=3)
    try:
        assert engine.dialect.driver == "psycopg"
        assert isinstance(engine.pool, QueuePool)
        assert engine.pool._pre_ping
        assert engine.pool.size() == 3
    finally:
        engine.dispose()
