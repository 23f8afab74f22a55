"""A long sync at the default settings: a tenant of 2,000 workflows, 300 ms a request, synced by
a real worker in one attempt (~3 minutes, six times its 30 s lease), its lease renewed throughout
and never lapsed, within its no-progress timeout and its cap. On the embedded default (SQLite)
only: the lease machinery is the same on PostgreSQL + Redis, which the lost-worker tests cover,
and three minutes of a CPU-bound sync twice over is a large share of the suite's time."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.backends import sqlite_backend
from tests.polling import wait_until
from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.simulator import TenantCredentials

from .fleet import FleetFactory

pytestmark = [pytest.mark.end_to_end, pytest.mark.slow]

WORKFLOWS = 2000
LATENCY_MS = 300


@pytest.mark.long(170)
@pytest.mark.timeout(600)
def test_sync_of_2000_workflows_succeeds_at_the_defaults_with_its_lease_renewed_throughout(
    tmp_path: Path, make_fleet: FleetFactory
) -> None:
    fleet = make_fleet(sqlite_backend(tmp_path / "sqlite"))
    tenant = fleet.admin.create_tenant(workflows=WORKFLOWS)
    fleet.admin.update_settings(latency_ms=LATENCY_MS)
    customer_id = fleet.add_customer(TenantCredentials.from_view(tenant), tenant["multi_entity"])
    fleet.start_workers(1)
    assert fleet.run("sync-workflows", str(customer_id)).returncode == 0
    (run,) = fleet.runtime.ledger.list_runs(customer_id=customer_id)

    expiries: set[datetime] = set()
    lapsed: list[int] = []
    deadline = time.monotonic() + 500
    while (current := fleet.runtime.ledger.get(run.id)) is not None and current.status in (
        RunStatus.QUEUED,
        RunStatus.RUNNING,
    ):
        assert time.monotonic() < deadline, "the sync did not end in time"
        if current.lease_expires_at is not None:
            expiries.add(current.lease_expires_at)
        lapsed += [r.id for r in fleet.runtime.ledger.find_expired_leases()]
        time.sleep(1.0)

    assert current is not None and current.status is RunStatus.SUCCEEDED, current
    assert current.attempt == 1 and lapsed == []
    assert current.counts.listed == current.counts.created == WORKFLOWS
    took = current.duration_seconds
    assert took is not None and took > 4 * fleet.runtime.settings.lease_seconds

    def finished_lines() -> list[dict[str, Any]]:
        return [e for e in fleet.log("worker-0") if e.get("event") == "sync_run_finished"]

    # The worker logs the finished run after its transaction commits: the line may lag the row.
    wait_until(finished_lines, timeout=30, what="the worker's sync_run_finished line")
    (line,) = finished_lines()
    every = fleet.runtime.settings.resolved_heartbeat_seconds
    # Renewals may run late on a busy machine (never lapsing: `lapsed` is empty), not be skipped.
    assert line["lease_renewals"] >= 0.8 * took / every - 1
    assert len(expiries) >= 0.8 * took / every - 1  # each renewal moved the lease on
