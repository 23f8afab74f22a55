"""Customers: add, duplicates, status, removal with everything it owns, due streaming."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, update

from zuora_workflow_sync.domain.models import CustomerStatus, SyncCounts
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.store.customers import (
    CustomerBusyError,
    CustomerExistsError,
    CustomerNotFoundError,
    CustomerRepository,
)
from zuora_workflow_sync.store.runs import SyncRunLedger
from zuora_workflow_sync.store.tables import (
    CustomerRow,
    SyncRunRow,
    WorkflowHistoryRow,
    WorkflowRow,
    WorkflowTaskRow,
)
from zuora_workflow_sync.store.workflows import apply_sync

from .factories import (
    BASE_URL,
    add_customer,
    add_many_customers,
    count_rows,
    record,
    task,
    workflow,
)

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
DAY = 24 * 3600.0


def test_added_customer_reads_back_when_fetched_by_id_and_name(engine: Engine) -> None:
    added = add_customer(engine, "acme", entity_id="entity-1")
    repository = CustomerRepository(engine)
    assert repository.get(added.id) == added
    assert repository.get_by_name("acme") == added
    assert added.sync_status is CustomerStatus.ACTIVE
    assert added.zuora_base_url == BASE_URL and added.zuora_environment == "us-sandbox"
    assert added.created_at.tzinfo == UTC and added.consecutive_failures == 0


def test_duplicate_name_raises_and_writes_nothing_when_added(engine: Engine) -> None:
    add_customer(engine, "acme")
    with pytest.raises(CustomerExistsError, match="already exists"):
        add_customer(engine, "acme", client_id="other")
    assert count_rows(engine, CustomerRow) == 1
    assert isinstance(CustomerExistsError("x"), ConfigurationError)


def test_duplicate_id_raises_and_writes_nothing_when_added(engine: Engine) -> None:
    add_customer(engine, "acme", customer_id=42)
    with pytest.raises(CustomerExistsError, match="id 42"):
        add_customer(engine, "globex", customer_id=42)
    assert count_rows(engine, CustomerRow) == 1


def test_automatic_ids_continue_after_explicit_id_when_mixed(engine: Engine) -> None:
    assert add_customer(engine, "explicit", customer_id=100).id == 100
    assert add_customer(engine, "automatic").id > 100


@pytest.mark.parametrize(("name", "customer_id"), [("", None), ("x" * 201, None), ("a", 0)])
def test_invalid_input_is_refused_when_added(
    engine: Engine, name: str, customer_id: int | None
) -> None:
    with pytest.raises(ConfigurationError):
        add_customer(engine, name, customer_id=customer_id)
    assert count_rows(engine, CustomerRow) == 0


def test_status_and_attention_change_when_set(engine: Engine) -> None:
    customer = add_customer(engine)
    repository = CustomerRepository(engine)
    repository.set_status(customer.id, CustomerStatus.PAUSED)
    repository.set_attention(customer.id, "401 from Zuora: check the client secret")
    stored = repository.get(customer.id)
    assert stored is not None and stored.sync_status is CustomerStatus.PAUSED
    assert stored.attention_reason == "401 from Zuora: check the client secret"
    with pytest.raises(CustomerNotFoundError):
        repository.set_status(999, CustomerStatus.ACTIVE)


def test_list_pages_in_id_order_when_filtered_by_status(engine: Engine) -> None:
    ids = [add_customer(engine, f"c{index}").id for index in range(5)]
    repository = CustomerRepository(engine)
    repository.set_status(ids[1], CustomerStatus.DISABLED)
    first = repository.list(status=CustomerStatus.ACTIVE, limit=2)
    rest = repository.list(status=CustomerStatus.ACTIVE, after_id=first[-1].id)
    assert [c.id for c in first + rest] == [ids[0], ids[2], ids[3], ids[4]]


def test_remove_is_refused_when_customer_has_an_active_run(engine: Engine) -> None:
    customer = add_customer(engine)
    record(engine, [customer.id])
    with pytest.raises(CustomerBusyError):
        CustomerRepository(engine).remove(customer.id)
    assert count_rows(engine, CustomerRow) == 1


def test_remove_deletes_runs_workflows_history_and_tasks_when_idle(engine: Engine) -> None:
    customer, other = add_customer(engine, "acme"), add_customer(engine, "globex")
    for owner in (customer, other):
        _sync_one_workflow(engine, owner.id)
    CustomerRepository(engine).remove(customer.id)
    assert CustomerRepository(engine).get(customer.id) is None
    for table in (SyncRunRow, WorkflowRow, WorkflowHistoryRow, WorkflowTaskRow, CustomerRow):
        assert count_rows(engine, table) == 1
    with pytest.raises(CustomerNotFoundError):
        CustomerRepository(engine).remove(customer.id)


def _sync_one_workflow(engine: Engine, customer_id: int) -> None:
    ledger = SyncRunLedger(engine)
    (run,) = record(engine, [customer_id])
    claimed = ledger.claim(run.run_id, "worker", 60)
    assert claimed is not None
    with engine.begin() as conn:
        fetched = [workflow(1, tasks=[task(10)])]
        counts = apply_sync(conn, customer_id, run.run_id, fetched, {1}, True, NOW)
        ledger.finish_succeeded(conn, run.run_id, claimed.attempt, counts)
    assert counts == SyncCounts(listed=1, created=1)


def _set_last_synced(engine: Engine, customer_id: int, moment: datetime | None) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(CustomerRow).where(CustomerRow.id == customer_id).values(last_synced_at=moment)
        )


def test_iter_due_honours_status_and_window_when_not_forced(engine: Engine) -> None:
    never = add_customer(engine, "never-synced")
    stale = add_customer(engine, "stale")
    fresh = add_customer(engine, "fresh")
    paused = add_customer(engine, "paused")
    _set_last_synced(engine, stale.id, NOW - timedelta(days=2))
    _set_last_synced(engine, fresh.id, NOW - timedelta(hours=1))
    CustomerRepository(engine).set_status(paused.id, CustomerStatus.PAUSED)
    due = CustomerRepository(engine).iter_due(NOW, DAY)
    assert [(c.id, c.name) for c in due] == [(never.id, "never-synced"), (stale.id, "stale")]


def test_iter_due_returns_every_active_customer_when_forced(engine: Engine) -> None:
    ids = [add_customer(engine, f"c{index}").id for index in range(3)]
    for customer_id in ids:
        _set_last_synced(engine, customer_id, NOW)
    CustomerRepository(engine).set_status(ids[0], CustomerStatus.DISABLED)
    due = CustomerRepository(engine).iter_due(NOW, DAY, force=True)
    assert [c.id for c in due] == ids[1:]


@pytest.fixture
def selects(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def _record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", _record)
    yield seen
    event.remove(engine, "before_cursor_execute", _record)


def test_iter_due_streams_in_keyset_batches_when_customers_are_many(
    engine: Engine, selects: list[str]
) -> None:
    add_many_customers(engine, 10_000)
    selects.clear()
    stream = CustomerRepository(engine).iter_due(NOW, DAY, batch_size=1000)
    first = next(stream)
    assert len(selects) == 1, "only the first batch is read before the first customer"
    ids = [first.id, *(customer.id for customer in stream)]
    assert len(ids) == 10_000 and ids == sorted(ids) and len(set(ids)) == 10_000
    # 10 full batches plus the empty one that ends the stream.
    assert len(selects) == 11
    assert all("LIMIT" in statement.upper() for statement in selects)
