"""Revision 0005 (heartbeat): runs gain `pacing_wait_seconds`; downgrade removes it; runs
recorded before it read back with no pacing wait."""

from __future__ import annotations

from sqlalchemy import inspect, text

from zuora_workflow_sync.store import migrate
from zuora_workflow_sync.store.engine import create_engine_for
from zuora_workflow_sync.store.runs import SyncRunLedger

AT = "2026-11-01 00:00:00.000000"


def _run_columns(url: str) -> set[str]:
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            return {column["name"] for column in inspect(conn).get_columns("sync_runs")}
    finally:
        engine.dispose()


def test_runs_lose_the_pacing_wait_when_downgraded_to_0004(db_url: str) -> None:
    assert "pacing_wait_seconds" in _run_columns(db_url)
    migrate.downgrade(db_url, "0004")
    assert migrate.current(db_url) == "0004"
    assert "pacing_wait_seconds" not in _run_columns(db_url)
    migrate.upgrade(db_url)
    assert "pacing_wait_seconds" in _run_columns(db_url)
    assert migrate.current(db_url) == migrate.head_revision()


def test_existing_run_reads_back_with_no_pacing_wait_when_upgraded_from_0004(db_url: str) -> None:
    migrate.downgrade(db_url, "0004")
    engine = create_engine_for(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO customers (name, sync_status, zuora_base_url, client_id, "
                    "client_secret_encrypted, consecutive_failures, created_at, updated_at) "
                    "VALUES ('old', 'active', 'https://rest.zuora.com', 'c', 't', 0, :at, :at)"
                ),
                {"at": AT},
            )
            conn.execute(
                text(
                    "INSERT INTO sync_runs (customer_id, queue, trigger, status, dispatched_at, "
                    "not_before_at, attempt, max_attempts, listed_count, created_count, "
                    "updated_count, unchanged_count, tombstoned_count, api_request_count, "
                    "dispatched_by, full_export) SELECT id, 'workflows', 'command', 'queued', "
                    ":at, :at, 0, 3, 0, 0, 0, 0, 0, 0, 'test', false FROM customers"
                ),
                {"at": AT},
            )
        migrate.upgrade(db_url)
        (run,) = SyncRunLedger(engine).list_runs()
    finally:
        engine.dispose()
    assert run.pacing_wait_seconds == 0.0
