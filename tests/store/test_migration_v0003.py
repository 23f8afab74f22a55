"""Revision 0003 (politeness): customers gain their circuit and pacing columns; downgrade
removes them; customers stored before it read back closed, with the default pacing."""

from __future__ import annotations

from sqlalchemy import inspect, text

from zuora_workflow_sync.domain.circuit import Circuit
from zuora_workflow_sync.store import migrate
from zuora_workflow_sync.store.customers import CustomerRepository
from zuora_workflow_sync.store.engine import create_engine_for

NEW_COLUMNS = {
    "circuit_open_until",
    "circuit_opened_count",
    "circuit_held",
    "max_in_flight",
    "tenant_type",
}


def _columns(url: str) -> set[str]:
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            return {column["name"] for column in inspect(conn).get_columns("customers")}
    finally:
        engine.dispose()


def test_customers_lose_the_new_columns_when_downgraded_to_0002(db_url: str) -> None:
    assert _columns(db_url) >= NEW_COLUMNS
    migrate.downgrade(db_url, "0002")
    assert migrate.current(db_url) == "0002"
    assert not NEW_COLUMNS & _columns(db_url)
    migrate.upgrade(db_url)
    assert _columns(db_url) >= NEW_COLUMNS and migrate.current(db_url) == migrate.head_revision()


def test_existing_customer_reads_back_closed_when_upgraded_from_0002(db_url: str) -> None:
    migrate.downgrade(db_url, "0002")
    engine = create_engine_for(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO customers (name, sync_status, zuora_base_url, client_id, "
                    "client_secret_encrypted, consecutive_failures, created_at, updated_at) "
                    "VALUES ('old', 'active', 'https://rest.zuora.com', 'c', 't', 2, "
                    ":at, :at)"
                ),
                {"at": "2026-11-01 00:00:00.000000"},
            )
        migrate.upgrade(db_url)
        (customer,) = CustomerRepository(engine).list()
    finally:
        engine.dispose()
    assert customer.circuit == Circuit() and customer.consecutive_failures == 2
    assert (customer.max_in_flight, customer.tenant_type) == (None, None)
