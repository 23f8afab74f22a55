"""Faults of a worker process (F1, F2, F3, F17-F19, F22 of shared/reliability.md), each
followed by the shared invariant check. Leases are short (5 s): the point is correctness;
recovery at the default settings is measured by tests/chaos."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.backends import Backend
from tests.chaos.fleet import SEEDED_TENANT, FleetFactory, settle
from tests.polling import wait_until
from tests.reliability.helpers import (
    FAST,
    dispatch,
    enqueue_again,
    start_worker,
    timed,
    wait_logged,
)
from tests.reliability.invariants import assert_invariants, dump
from zuora_workflow_sync.domain.models import RunStatus

pytestmark = [pytest.mark.end_to_end]


@pytest.mark.timeout(90)
def test_f1_worker_killed_after_fetching_before_commit_leaves_nothing_and_the_run_completes(
    backend: Backend, make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(backend, **FAST)
    customer = fleet.add_seeded(SEEDED_TENANT)
    worker = start_worker(fleet, "worker-0", env={"ZWS_TEST_PAUSE_AT": "before_commit"})
    rescuer = start_worker(fleet, "worker-1")
    rescuer.send_signal(signal.SIGSTOP)  # worker-0 is the one to take the run
    dispatch(fleet, str(customer))
    (run,) = fleet.runtime.ledger.list_runs(customer_id=customer)
    wait_logged(fleet, "worker-0", "paused at before_commit")
    rescuer.send_signal(signal.SIGCONT)

    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    assert fleet.row_totals() == (0, 0, 0), "a partial write"
    recovery = timed(lambda: settle(fleet, timeout=60))

    done = fleet.runtime.ledger.get(run.id)
    assert done is not None and (done.status, done.attempt) == (RunStatus.SUCCEEDED, 2)
    assert f":{rescuer.pid}:" in str(done.lease_owner)
    # The lease (5 s), a reaper pass and a 12-workflow sync; generous: CI machines are shared.
    assert recovery < 45, f"reclaimed after {recovery:.1f} s with a 5 s lease"
    assert_invariants(fleet, tmp_path)


@pytest.mark.timeout(90)
def test_f2_worker_killed_after_commit_before_the_job_ends_makes_the_redelivery_a_no_op(
    backend: Backend, make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(backend, **FAST)
    customer = fleet.add_seeded(SEEDED_TENANT)
    worker = start_worker(fleet, "worker-0", env={"ZWS_TEST_PAUSE_AT": "after_commit"})
    dispatch(fleet, str(customer))
    (run,) = fleet.runtime.ledger.list_runs(customer_id=customer)
    wait_logged(fleet, "worker-0", "paused at after_commit")
    committed = dump(fleet.runtime.engine), fleet.row_totals()
    exports = fleet.served(SEEDED_TENANT, "export")

    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    start_worker(fleet, "worker-1")
    enqueue_again(fleet, run.id)  # Huey took the job off the queue at dequeue: redelivered
    wait_logged(fleet, "worker-1", f"run {run.id} not claimed (status succeeded)")
    settle(fleet, timeout=30)

    done = fleet.runtime.ledger.get(run.id)
    assert done is not None and (done.status, done.attempt) == (RunStatus.SUCCEEDED, 1)
    assert (dump(fleet.runtime.engine), fleet.row_totals()) == committed
    assert fleet.served(SEEDED_TENANT, "export") == exports, "the redelivery read Zuora again"
    assert_invariants(fleet, tmp_path)


@pytest.mark.timeout(90)
def test_f3_sigterm_during_a_job_gives_the_lease_back_past_the_grace_and_the_run_completes(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    from tests.backends import sqlite_backend

    fleet = make_fleet(sqlite_backend(tmp_path / "db"), worker_grace_seconds="1", **FAST)
    customer = fleet.add_seeded(SEEDED_TENANT)
    fleet.admin.add_fault("latency", tenant=SEEDED_TENANT, route="export", delay_ms=20_000)
    worker = start_worker(fleet, "worker-0")
    dispatch(fleet, str(customer))
    (run,) = fleet.runtime.ledger.list_runs(customer_id=customer)
    wait_until(lambda: fleet.served(SEEDED_TENANT, "list") >= 1, timeout=30, what="a listing")

    worker.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    assert worker.wait(15) == 0
    exited_after = time.monotonic() - stopped
    given_back = fleet.runtime.ledger.get(run.id)
    assert given_back is not None and given_back.status is RunStatus.QUEUED
    assert fleet.row_totals() == (0, 0, 0)
    fleet.admin.clear_faults()
    start_worker(fleet, "worker-1")
    enqueue_again(fleet, run.id)  # the stopping worker re-enqueued it as well: one is a no-op
    settle(fleet, timeout=30)

    assert exited_after < 1 + 5, f"exited {exited_after:.1f} s after SIGTERM with a 1 s grace"
    done = fleet.runtime.ledger.get(run.id)
    assert done is not None and done.status is RunStatus.SUCCEEDED
    assert_invariants(fleet, tmp_path)
