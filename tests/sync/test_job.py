"""The sync job against the simulator: one transaction, change detection, no partial writes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.store.tables import (
    WorkflowHistoryRow,
    WorkflowRow,
    WorkflowTaskRow,
)

from .conftest import AddCustomer, record_run, sync_now

TENANT = "tenant-001"


def _workflows(runtime: Runtime, customer_id: int) -> dict[int, Any]:
    with runtime.engine.connect() as conn:
        rows = conn.execute(select(WorkflowRow).where(WorkflowRow.customer_id == customer_id)).all()
    return {row.zuora_workflow_id: row for row in rows}


def _count(runtime: Runtime, table: Any) -> int:
    with runtime.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _exports(sim_admin: SimulatorAdmin, tenant: str) -> int:
    by_status = sim_admin.stats()["tenants"].get(tenant, {}).get("requests", {}).get("export", {})
    return sum(by_status.values())


def test_first_sync_stores_every_workflow_with_tasks_and_history(
    runtime: Runtime, add_customer: AddCustomer, sim_admin: SimulatorAdmin
) -> None:
    customer = add_customer(TENANT)
    expected = {w["id"]: w for w in sim_admin.workflows(TENANT)}
    outcome = sync_now(runtime, customer.id)
    assert outcome.status == "succeeded", outcome.error
    stored = _workflows(runtime, customer.id)
    assert set(stored) == set(expected)
    for zuora_id, row in stored.items():
        assert row.active_version == expected[zuora_id]["active_version"]["version"]
        assert row.document["workflow"]["version"] == row.active_version
        assert row.deleted_at is None
    assert outcome.counts.listed == outcome.counts.created == len(expected)
    assert _count(runtime, WorkflowHistoryRow) == len(expected)
    tasks = sum(len(row.document["tasks"]) for row in stored.values())
    assert _count(runtime, WorkflowTaskRow) == tasks
    _assert_tasks_match_exports(runtime, stored)
    run = runtime.ledger.get(outcome.run_id)
    assert run is not None and run.status is RunStatus.SUCCEEDED
    assert run.counts.api_requests == len(expected) + 1 + 1  # exports + one page + one token
    refreshed = runtime.customers.get(customer.id)
    assert refreshed is not None and refreshed.last_synced_at == run.finished_at


def _assert_tasks_match_exports(runtime: Runtime, stored: dict[int, Any]) -> None:
    with runtime.engine.connect() as conn:
        rows = conn.execute(select(WorkflowTaskRow)).all()
    by_workflow: dict[int, dict[int, Any]] = {}
    for row in rows:
        by_workflow.setdefault(row.workflow_id, {})[row.zuora_task_id] = row
    for workflow in stored.values():
        tasks = by_workflow[workflow.id]
        for task in workflow.document["tasks"]:
            row = tasks[task["id"]]
            assert (row.name, row.action_type, row.object) == (
                task["name"],
                task["action_type"],
                task["object"],
            )
            assert row.parameters == task["parameters"]
            assert row.parent_task_id == task["task_id"]


def test_second_sync_exports_nothing_when_nothing_changed(
    runtime: Runtime, add_customer: AddCustomer, sim_admin: SimulatorAdmin
) -> None:
    customer = add_customer(TENANT)
    sync_now(runtime, customer.id)
    before = _exports(sim_admin, TENANT)
    outcome = sync_now(runtime, customer.id)
    assert outcome.status == "succeeded"
    assert _exports(sim_admin, TENANT) == before
    assert outcome.counts.unchanged == outcome.counts.listed
    assert (outcome.counts.created, outcome.counts.updated) == (0, 0)


def test_full_sync_reexports_everything_when_asked(
    runtime: Runtime, add_customer: AddCustomer, sim_admin: SimulatorAdmin
) -> None:
    customer = add_customer(TENANT)
    sync_now(runtime, customer.id)
    before = _exports(sim_admin, TENANT)
    outcome = sync_now(runtime, customer.id, full=True)
    assert _exports(sim_admin, TENANT) - before == outcome.counts.listed
    assert outcome.counts.unchanged == outcome.counts.listed


def test_changes_in_zuora_are_detected_and_kept_in_history(
    runtime: Runtime, add_customer: AddCustomer, sim_admin: SimulatorAdmin
) -> None:
    customer = add_customer(TENANT)
    sync_now(runtime, customer.id)
    first, second, third = (w["id"] for w in sim_admin.workflows(TENANT)[:3])
    sim_admin.edit_workflow(TENANT, first, description="edited by finance ops")
    sim_admin.add_version(TENANT, second, activate=True)
    sim_admin.delete_workflow(TENANT, third)
    added = sim_admin.add_workflow(TENANT, name="Brand new workflow")
    history_before = _count(runtime, WorkflowHistoryRow)

    outcome = sync_now(runtime, customer.id)

    counts = outcome.counts
    assert (counts.created, counts.updated, counts.tombstoned) == (1, 2, 1), counts
    stored = _workflows(runtime, customer.id)
    assert stored[third].deleted_at is not None
    assert stored[added["id"]].name == "Brand new workflow"
    view = next(w for w in sim_admin.workflows(TENANT) if w["id"] == second)
    assert stored[second].active_version == view["active_version"]["version"]
    assert _count(runtime, WorkflowHistoryRow) == history_before + 3


def test_listing_failure_fails_attempt_and_tombstones_nothing(
    runtime: Runtime, add_customer: AddCustomer, sim_admin: SimulatorAdmin
) -> None:
    from zuora_workflow_sync.sync.job import execute_run

    sim_admin.set_workflow_count(TENANT, 500)
    customer = add_customer(TENANT)
    assert sync_now(runtime, customer.id).status == "succeeded"
    sim_admin.delete_workflow(TENANT, sim_admin.workflows(TENANT)[0]["id"])
    sim_admin.add_fault("status", tenant=TENANT, route="list", page=7, status=500)
    run_id = record_run(runtime, customer.id).run_id
    requeued: list[tuple[int, float]] = []

    outcome = execute_run(
        runtime, run_id, worker_id="w", requeue=lambda r, d: requeued.append((r, d))
    )

    # A 5xx is retriable: the attempt failed, the run is queued again with its error.
    assert outcome.status == "retrying" and [r for r, _ in requeued] == [run_id]
    assert outcome.error is not None and "500" in outcome.error
    assert all(row.deleted_at is None for row in _workflows(runtime, customer.id).values())
    after = runtime.customers.get(customer.id)
    assert after is not None and after.consecutive_failures == 0
    run = runtime.ledger.get(run_id)
    assert run is not None and run.status is RunStatus.QUEUED and run.attempt == 1
    assert run.error_class == "ServerError"


def test_export_failure_midway_writes_nothing(
    runtime: Runtime, add_customer: AddCustomer, sim_admin: SimulatorAdmin
) -> None:
    customer = add_customer(TENANT)
    victim = sim_admin.workflows(TENANT)[5]["id"]
    sim_admin.add_fault("malformed", tenant=TENANT, route="export", workflow_id=victim)

    outcome = sync_now(runtime, customer.id)

    assert outcome.status == "failed" and outcome.error is not None
    assert "not valid JSON" in outcome.error
    assert _workflows(runtime, customer.id) == {}
    assert _count(runtime, WorkflowTaskRow) == 0
    assert _count(runtime, WorkflowHistoryRow) == 0
    refreshed = runtime.customers.get(customer.id)
    assert refreshed is not None and refreshed.last_synced_at is None


def test_permission_denied_marks_customer_for_attention(
    runtime: Runtime, add_customer: AddCustomer, sim_admin: SimulatorAdmin
) -> None:
    customer = add_customer(TENANT)
    sim_admin.forbid(TENANT)
    outcome = sync_now(runtime, customer.id)
    assert outcome.status == "failed"
    refreshed = runtime.customers.get(customer.id)
    assert refreshed is not None
    assert refreshed.attention_reason == "the Zuora user lacks Workflow View Access"


def test_duplicate_delivery_is_a_no_op_when_run_already_finished(
    runtime: Runtime, add_customer: AddCustomer
) -> None:
    from zuora_workflow_sync.sync.job import execute_run

    customer = add_customer(TENANT)
    outcome = sync_now(runtime, customer.id)
    again = execute_run(runtime, outcome.run_id, worker_id="w2", requeue=lambda r, d: None)
    assert again.status == "not_claimed"
    run = runtime.ledger.get(outcome.run_id)
    assert run is not None and run.attempt == 1 and run.status is RunStatus.SUCCEEDED


def test_multi_entity_customer_syncs_with_its_entity(
    runtime: Runtime, add_customer: AddCustomer, sim_admin: SimulatorAdmin
) -> None:
    customer = add_customer("tenant-004")
    outcome = sync_now(runtime, customer.id)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.counts.listed == len(sim_admin.workflows("tenant-004"))
