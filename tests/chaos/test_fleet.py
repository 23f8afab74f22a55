"""Four worker processes share 200 customers: each is synced exactly once, nothing is duplicated."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from zuora_workflow_sync.domain.models import RunStatus, SyncRun
from zuora_workflow_sync.store.tables import WorkflowRow

from .fleet import Fleet

pytestmark = [pytest.mark.end_to_end, pytest.mark.slow]

CUSTOMERS = 200
WORKFLOWS = 3
WORKERS = 4


@pytest.mark.long(21)
@pytest.mark.timeout(300)
def test_every_customer_is_synced_exactly_once_when_four_workers_share_200_customers(
    fleet: Fleet,
) -> None:
    # 200 token requests from one address: lift the simulator's per-IP token limit, and the
    # product's own budget that keeps it well under that limit.
    fleet.admin.update_settings(latency_ms=3, token_ip_limit_enabled=False)
    tenants = fleet.add_tenants(CUSTOMERS, WORKFLOWS)
    fleet.env.update(
        {
            "ZWS_STAGGER_MIN_SECONDS": "0",
            "ZWS_STAGGER_MAX_SECONDS": "2",
            "ZWS_PACING_TOKEN_REQUESTS_PER_MINUTE": "100000",
        }
    )

    dispatched = fleet.run("sync-workflows")
    assert dispatched.stdout.splitlines()[-1] == f"Sync jobs dispatched for {CUSTOMERS} customers"
    fleet.start_workers(WORKERS, "--concurrency", "4", "--drain")
    names = [f"worker-{n}" for n in range(WORKERS)]
    codes = fleet.wait_exited(names, timeout=240)

    assert codes == dict.fromkeys(names, 0), [fleet.output(name) for name in names]
    runs = fleet.runs()
    assert sorted(run.customer_id for run in runs) == sorted(tenants)
    assert {(run.status, run.attempt) for run in runs} == {(RunStatus.SUCCEEDED, 1)}
    assert fleet.workflow_counts() == dict.fromkeys(tenants, WORKFLOWS)
    total = CUSTOMERS * WORKFLOWS
    assert fleet.row_totals() == (total, total, fleet.expected_tasks())
    _assert_rows_equal_the_simulator(fleet, tenants)
    _assert_each_tenant_was_fetched_once(fleet, tenants)
    _assert_ledger_agrees_with_customers(fleet, runs)


def _assert_rows_equal_the_simulator(fleet: Fleet, tenants: dict[int, str]) -> None:
    with fleet.runtime.engine.connect() as conn:
        rows = conn.execute(
            select(
                WorkflowRow.customer_id, WorkflowRow.zuora_workflow_id, WorkflowRow.active_version
            )
        ).all()
    stored: dict[int, set[tuple[int, str | None]]] = {}
    for customer_id, zuora_id, version in rows:
        stored.setdefault(customer_id, set()).add((zuora_id, version))
    for customer_id, tenant in tenants.items():
        expected = {
            (w["id"], w["active_version"]["version"]) for w in fleet.admin.workflows(tenant)
        }
        assert stored[customer_id] == expected, tenant


def _assert_each_tenant_was_fetched_once(fleet: Fleet, tenants: dict[int, str]) -> None:
    """No run was executed twice: one token, one listing page and one export per workflow."""
    stats = fleet.admin.stats()["tenants"]
    for tenant in tenants.values():
        requests: dict[str, dict[str, int]] = stats[tenant]["requests"]
        served = {route: sum(by_status.values()) for route, by_status in requests.items()}
        assert served == {"token": 1, "list": 1, "export": WORKFLOWS}, (tenant, requests)


def _assert_ledger_agrees_with_customers(fleet: Fleet, runs: list[SyncRun]) -> None:
    for run in runs:
        customer = fleet.runtime.customers.get(run.customer_id)
        assert customer is not None
        assert customer.last_synced_at == run.finished_at
        assert customer.consecutive_failures == 0
        counts: Any = run.counts
        assert (counts.listed, counts.created, counts.tombstoned) == (WORKFLOWS, WORKFLOWS, 0)
        assert run.lease_owner is not None and run.error_class is None
