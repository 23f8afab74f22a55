"""Workers lost mid-sync, at the default settings (a 30 s lease renewed every 10 s): killed with
SIGKILL, the run is reclaimed after its lease and succeeds, the customer is not marked failed and
the tenant's slots the worker held are free within seconds; stopped by two signals, the worker
gives its leases back and another worker reclaims the runs at once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.backends import Backend
from tests.polling import wait_until
from tests.reliability.invariants import assert_invariants
from zuora_workflow_sync.domain.models import Customer, RunStatus
from zuora_workflow_sync.pacing import TenantLimits, open_pacer, tenant_key, tenant_limits
from zuora_workflow_sync.settings import Settings

from .fleet import (
    ONE_EXPORT,
    SEEDED_TENANT,
    Fleet,
    FleetFactory,
    settle,
    sync_in_flight,
)

pytestmark = [pytest.mark.end_to_end, pytest.mark.slow]

# Long enough that the worker is still waiting on its four exports when it is stopped.
SLOW_EXPORT_MS = 20_000


@pytest.mark.long(33)
def test_killed_worker_run_completes_without_partial_rows_when_the_reaper_reclaims_it(
    backend: Backend, make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(backend, **ONE_EXPORT)
    run_id, worker = sync_in_flight(fleet)

    worker.send_signal(signal.SIGKILL)
    worker.wait(10)

    assert fleet.row_totals() == (0, 0, 0)
    run = fleet.runtime.ledger.get(run_id)
    assert run is not None and (run.status, run.attempt) == (RunStatus.RUNNING, 1)
    fleet.admin.clear_faults()
    rescuer = fleet.start("worker-1", "workflow-sync", "worker", "--concurrency", "1")
    settle(fleet, timeout=90)

    run = fleet.runtime.ledger.get(run_id)
    assert run is not None and (run.status, run.attempt) == (RunStatus.SUCCEEDED, 2)
    assert run.lease_owner is not None and f":{rescuer.pid}:" in run.lease_owner
    count = len(fleet.admin.workflows(SEEDED_TENANT))
    assert fleet.row_totals() == (count, count, fleet.expected_tasks())
    assert fleet.runs() == [run]
    assert_invariants(fleet, tmp_path)


def _limits(settings: Settings, customer: Customer) -> TenantLimits:
    return tenant_limits(
        tenant_key(customer.zuora_base_url, customer.client_id),
        environment=customer.zuora_environment,
        tenant_type=None,
        max_in_flight=customer.max_in_flight,
        settings=settings,
    )


def _slots_held(settings: Settings, limits: TenantLimits) -> int:
    """The tenant's slots held fleet-wide, as the shared pacing store counts them."""

    async def read() -> int:
        async with open_pacer(settings) as pacer:
            return (await pacer.snapshot(limits)).in_flight

    return asyncio.run(read())


def _slow_sync(fleet: Fleet, worker: str) -> tuple[int, Customer, subprocess.Popen[bytes]]:
    """The seeded tenant's customer synced by `worker` at the defaults (four exports at a time,
    the tenant's cap 4), each export answered after 20 s: its run id, customer and process,
    once the worker holds all four of the tenant's slots."""
    customer_id = fleet.add_seeded(SEEDED_TENANT)
    customer = fleet.runtime.customers.get(customer_id)
    assert customer is not None
    fleet.admin.add_fault("latency", tenant=SEEDED_TENANT, route="export", delay_ms=SLOW_EXPORT_MS)
    process = fleet.start(worker, "workflow-sync", "worker", "--concurrency", "1")
    assert fleet.run("sync-workflows", str(customer_id)).returncode == 0
    (run,) = fleet.runtime.ledger.list_runs(customer_id=customer_id)
    limits = _limits(fleet.runtime.settings, customer)
    wait_until(
        lambda: _slots_held(fleet.runtime.settings, limits) == limits.max_in_flight == 4,
        timeout=30,
        what="the worker to hold the tenant's four slots",
    )
    return run.id, customer, process


def _assert_succeeded_once_more_and_customer_unharmed(
    fleet: Fleet, run_id: int, customer: Customer, rescuer: subprocess.Popen[bytes]
) -> None:
    run = fleet.runtime.ledger.get(run_id)
    assert run is not None and (run.status, run.attempt) == (RunStatus.SUCCEEDED, 2)
    assert run.lease_owner is not None and f":{rescuer.pid}:" in run.lease_owner
    refreshed = fleet.runtime.customers.get(customer.id)
    assert refreshed is not None and refreshed.consecutive_failures == 0
    assert refreshed.circuit.is_closed and refreshed.attention_reason is None
    count = len(fleet.admin.workflows(SEEDED_TENANT))
    assert fleet.row_totals() == (count, count, fleet.expected_tasks())


@pytest.mark.long(33)
@pytest.mark.timeout(180)
def test_killed_worker_frees_its_slots_within_seconds_and_its_run_succeeds_at_the_defaults(
    backend: Backend, make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(backend)
    run_id, customer, worker = _slow_sync(fleet, "worker-0")
    limits = _limits(fleet.runtime.settings, customer)

    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    killed_at = time.monotonic()
    wait_until(
        lambda: _slots_held(fleet.runtime.settings, limits) == 0,
        timeout=15,
        what="the dead worker's slots to be free",
        interval=0.25,
    )
    freed_after = time.monotonic() - killed_at
    fleet.admin.clear_faults()
    rescuer = fleet.start("worker-1", "workflow-sync", "worker", "--concurrency", "1")
    settle(fleet, timeout=90)

    assert freed_after < 10.0
    _assert_succeeded_once_more_and_customer_unharmed(fleet, run_id, customer, rescuer)
    assert_invariants(fleet, tmp_path)


@pytest.mark.timeout(120)
def test_runs_are_reclaimed_within_seconds_when_a_worker_is_stopped_by_two_signals(
    backend: Backend, make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(backend)
    # The rescuer is started (and warm) before the signals, but paused while worker-0 takes
    # the run, so that worker-0 is the one holding it.
    rescuer = fleet.start("worker-1", "workflow-sync", "worker", "--concurrency", "1")
    rescuer.send_signal(signal.SIGSTOP)
    run_id, customer, worker = _slow_sync(fleet, "worker-0")
    held = fleet.runtime.ledger.get(run_id)
    assert held is not None and f":{worker.pid}:" in str(held.lease_owner)
    rescuer.send_signal(signal.SIGCONT)
    wait_until(
        lambda: "Worker started" in fleet.output("worker-1"),
        timeout=30,
        what="the rescuer to start",
    )
    fleet.admin.clear_faults()  # the exports in flight still take their 20 s

    worker.send_signal(signal.SIGINT)
    time.sleep(0.2)
    worker.send_signal(signal.SIGINT)
    stopped_at = time.monotonic()

    def reclaimed() -> bool:
        run = fleet.runtime.ledger.get(run_id)
        return run is not None and f":{rescuer.pid}:" in str(run.lease_owner)

    wait_until(reclaimed, timeout=15, what="the other worker to reclaim the run")
    reclaimed_after = time.monotonic() - stopped_at
    assert worker.wait(15) == 0
    settle(fleet, timeout=60)

    assert reclaimed_after < 5.0
    _assert_succeeded_once_more_and_customer_unharmed(fleet, run_id, customer, rescuer)
    given_back = [e for e in fleet.log("worker-0") if e.get("event") == "leases_given_back"]
    assert [entry["run_ids"] for entry in given_back] == [[run_id]]
    assert_invariants(fleet, tmp_path)
