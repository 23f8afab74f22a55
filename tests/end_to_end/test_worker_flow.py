"""The whole product in real processes: dispatch, a worker drains the queue, the ledger agrees."""

from __future__ import annotations

from sqlalchemy import func, select

from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.store.tables import WorkflowRow

from .conftest import Installation


def test_worker_syncs_every_dispatched_customer_exactly_once(install: Installation) -> None:
    names = {f"tenant-00{n}": f"Customer {n}" for n in (1, 2, 3, 4)}
    customers = [install.add_customer(tenant, name) for tenant, name in names.items()]
    install.env.update({"ZWS_STAGGER_MIN_SECONDS": "0", "ZWS_STAGGER_MAX_SECONDS": "1"})

    dispatched = install.run("sync-workflows")
    assert dispatched.stdout.splitlines()[-1] == "Sync jobs dispatched for 4 customers"
    worked = install.run("workflow-sync", "worker", "--concurrency", "2", "--drain", timeout=90)

    assert worked.returncode == 0, worked.stderr
    assert worked.stdout.splitlines() == [
        "Worker started: queues=workflows, concurrency=2",
        "Worker stopped: drained",
    ]
    runs = install.runtime.ledger.list_runs()
    assert sorted(r.customer_id for r in runs) == sorted(c.id for c in customers)
    assert {(r.status, r.attempt) for r in runs} == {(RunStatus.SUCCEEDED, 1)}
    with install.runtime.engine.connect() as conn:
        stored = conn.execute(
            select(WorkflowRow.customer_id, func.count()).group_by(WorkflowRow.customer_id)
        ).all()
    expected = {
        customer.id: len(install.admin.workflows(tenant))
        for customer, tenant in zip(customers, names, strict=True)
    }
    assert dict(stored) == expected

    status = install.run("workflow-sync", "status", "--json")
    rows = status.stdout
    assert status.returncode == 0 and rows.count('"succeeded"') == 4

    again = install.run("sync-workflows")
    assert again.stdout.strip() == "No customers need syncing."
