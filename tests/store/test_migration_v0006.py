"""Revision 0006 (dashboard): runs gain their token-request and 429 counts, an alert journal
appears with one open alert per incident; downgrade removes both; older runs read back 0."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text

from zuora_workflow_sync.store import migrate
from zuora_workflow_sync.store.alerts import AlertJournal
from zuora_workflow_sync.store.customers import CustomerRepository
from zuora_workflow_sync.store.engine import create_engine_for
from zuora_workflow_sync.store.runs import SyncRunLedger

RUN_COLUMNS = {"token_request_count", "throttled_count"}


def _schema(url: str) -> tuple[set[str], set[str]]:
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            runs = {column["name"] for column in inspector.get_columns("sync_runs")}
            return runs, set(inspector.get_table_names())
    finally:
        engine.dispose()


def test_runs_and_alerts_lose_the_new_schema_when_downgraded_to_0005(db_url: str) -> None:
    runs, tables = _schema(db_url)
    assert runs >= RUN_COLUMNS and "alerts" in tables
    migrate.downgrade(db_url, "0005")
    runs, tables = _schema(db_url)
    assert not runs & RUN_COLUMNS and "alerts" not in tables
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head_revision()


def test_older_runs_read_back_zero_and_incidents_open_once_when_upgraded(db_url: str) -> None:
    migrate.downgrade(db_url, "0005")
    engine = create_engine_for(db_url)
    try:
        customer = CustomerRepository(engine).add(
            "old",
            zuora_base_url="https://rest.zuora.com",
            client_id="c",
            client_secret_encrypted="t",
        )
        with engine.begin() as conn:
            run_id = conn.execute(
                text(
                    'INSERT INTO sync_runs (customer_id, queue, "trigger", status, dispatched_at, '
                    "not_before_at, attempt, max_attempts, listed_count, created_count, "
                    "updated_count, unchanged_count, tombstoned_count, api_request_count, "
                    "dispatched_by, full_export) VALUES (:customer, 'workflows', 'command', "
                    "'succeeded', :at, :at, 1, 1, 0, 0, 0, 0, 0, 7, 'test', false) RETURNING id"
                ),
                {"customer": customer.id, "at": datetime.now(UTC).replace(tzinfo=None)},
            ).scalar_one()
    finally:
        engine.dispose()
    migrate.upgrade(db_url)
    engine = create_engine_for(db_url)
    try:
        run = SyncRunLedger(engine).get(run_id)
        assert run is not None and run.counts.api_requests == 7
        assert (run.counts.token_requests, run.counts.throttled) == (0, 0)
        journal, now = AlertJournal(engine), datetime.now(UTC)
        assert journal.raise_once("long_wait", "long_wait", "first", now)
        assert not journal.raise_once("long_wait", "long_wait", "again", now)
        assert journal.resolve("long_wait", now) and not journal.resolve("long_wait", now)
        assert journal.raise_once("long_wait", "long_wait", "a new incident", now)
        assert [alert.message for alert in journal.recent(10)] == ["a new incident", "first"]
    finally:
        engine.dispose()
