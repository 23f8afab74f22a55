"""Builders of test data for the store suite."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, select, update

from zuora_workflow_sync.domain.models import (
    Customer,
    FetchedTask,
    FetchedWorkflow,
    RecordedRun,
    RunRequest,
    RunTrigger,
)
from zuora_workflow_sync.store.customers import CustomerRepository
from zuora_workflow_sync.store.runs import SyncRunLedger
from zuora_workflow_sync.store.tables import CustomerRow, SyncRunRow, utc_now

BASE_URL = "https://rest.test.zuora.com"
FAKE_TOKEN = "gAAAAA-not-a-real-token"
PAST = datetime(2020, 1, 1, tzinfo=UTC)


def add_customer(engine: Engine, name: str = "acme", **overrides: Any) -> Customer:
    values: dict[str, Any] = {
        "zuora_base_url": BASE_URL,
        "zuora_environment": "us-sandbox",
        "client_id": "client-1",
        "client_secret_encrypted": FAKE_TOKEN,
    }
    values.update(overrides)
    return CustomerRepository(engine).add(name, **values)


def add_many_customers(engine: Engine, count: int, **columns: Any) -> None:
    """Bulk insert (bypassing the repository) for volume tests."""
    now = utc_now()
    rows = [
        {
            "name": f"customer-{index:06d}",
            "sync_status": "active",
            "zuora_base_url": BASE_URL,
            "client_id": "client",
            "client_secret_encrypted": FAKE_TOKEN,
            "consecutive_failures": 0,
            "created_at": now,
            "updated_at": now,
            **columns,
        }
        for index in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(insert(CustomerRow), rows)


def record(
    engine: Engine,
    customer_ids: Sequence[int],
    *,
    not_before_at: datetime = PAST,
    max_attempts: int = 3,
) -> list[RecordedRun]:
    result = SyncRunLedger(engine).record_batch(
        [RunRequest(customer_id, not_before_at) for customer_id in customer_ids],
        queue="default",
        trigger=RunTrigger.COMMAND,
        dispatched_by="tester@host",
        max_attempts=max_attempts,
    )
    return result.recorded


def expire_lease(engine: Engine, run_id: int) -> None:
    """Push a lease into the past, as if the worker had vanished long ago."""
    with engine.begin() as conn:
        conn.execute(
            update(SyncRunRow)
            .where(SyncRunRow.id == run_id)
            .values(lease_expires_at=datetime.now(UTC) - timedelta(hours=1))
        )


def count_rows(engine: Engine, table: type[Any]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def task(task_id: int, **fields: Any) -> FetchedTask:
    values: dict[str, Any] = {
        "name": f"task {task_id}",
        "action_type": "Export",
        "object": "Account",
    }
    values.update(fields)
    return FetchedTask(zuora_task_id=task_id, **values)


def workflow(
    workflow_id: int, version: str = "1.0", *, tasks: Sequence[FetchedTask] = (), **fields: Any
) -> FetchedWorkflow:
    document = {
        "workflow": {"id": workflow_id, "name": f"wf {workflow_id}", "version": version},
        "tasks": [{"id": t.zuora_task_id, "name": t.name} for t in tasks],
    }
    values: dict[str, Any] = {
        "name": f"wf {workflow_id}",
        "active_version": version,
        "status": "Active",
        "zuora_updated_at": PAST,
    }
    values.update(fields)
    return FetchedWorkflow(
        zuora_workflow_id=workflow_id, document=document, tasks=list(tasks), **values
    )
