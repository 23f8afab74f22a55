"""A worker killed with SIGKILL mid-sync: nothing partial; the reaper sends the run round again."""

from __future__ import annotations

import signal

import pytest

from tests.backends import Backend
from zuora_workflow_sync.domain.models import RunStatus

from .fleet import (
    SEEDED_TENANT,
    SHORT_LEASE,
    FleetFactory,
    settle,
    sync_in_flight,
)

pytestmark = [pytest.mark.end_to_end, pytest.mark.slow]


def test_killed_worker_run_completes_without_partial_rows_when_the_reaper_reclaims_it(
    backend: Backend, make_fleet: FleetFactory
) -> None:
    fleet = make_fleet(backend, **SHORT_LEASE)
    run_id, worker = sync_in_flight(fleet)

    worker.send_signal(signal.SIGKILL)
    worker.wait(10)

    assert fleet.row_totals() == (0, 0, 0)
    run = fleet.runtime.ledger.get(run_id)
    assert run is not None and (run.status, run.attempt) == (RunStatus.RUNNING, 1)
    fleet.admin.clear_faults()
    rescuer = fleet.start("worker-1", "workflow-sync", "worker", "--concurrency", "1")
    settle(fleet, timeout=60)

    run = fleet.runtime.ledger.get(run_id)
    assert run is not None and (run.status, run.attempt) == (RunStatus.SUCCEEDED, 2)
    assert run.lease_owner is not None and f":{rescuer.pid}:" in run.lease_owner
    count = len(fleet.admin.workflows(SEEDED_TENANT))
    assert fleet.row_totals() == (count, count, fleet.expected_tasks())
    assert fleet.runs() == [run]
