"""Faults of a worker process (F1-F3, F17-F20, F22 of shared/reliability.md), each
followed by the shared invariant check. Leases are short (5 s): the point is correctness;
recovery at the default settings is measured by tests/chaos."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.backends import Backend, sqlite_backend
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

pytestmark = [pytest.mark.end_to_end, pytest.mark.slow]


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


@pytest.mark.timeout(90)
def test_f17_a_poison_customer_fails_after_its_attempts_while_the_queue_keeps_flowing(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(
        sqlite_backend(tmp_path / "db"),
        retry_base_seconds="0.2",
        retry_cap_seconds="0.5",
        **FAST,
    )
    poison = fleet.add_seeded(SEEDED_TENANT)
    healthy = [fleet.add_seeded(tenant) for tenant in ("tenant-002", "tenant-003")]
    fleet.admin.add_fault("status", tenant=SEEDED_TENANT, route="any", status=500)
    start_worker(fleet, "worker-0")
    dispatch(fleet, str(poison))
    for customer in healthy:
        dispatch(fleet, str(customer))
    settle(fleet, timeout=60)

    (poisoned,) = fleet.runtime.ledger.list_runs(customer_id=poison)
    assert (poisoned.status, poisoned.attempt) == (RunStatus.FAILED, poisoned.max_attempts)
    assert poisoned.max_attempts == 3
    for customer in healthy:
        (run,) = fleet.runtime.ledger.list_runs(customer_id=customer)
        assert (run.status, run.attempt) == (RunStatus.SUCCEEDED, 1)
    assert fleet.processes["worker-0"].poll() is None, "the worker died"
    assert_invariants(fleet, tmp_path)


@pytest.mark.timeout(90)
def test_f18_two_syncs_of_one_customer_at_once_run_once(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(sqlite_backend(tmp_path / "db"), **FAST)
    customer = fleet.add_seeded(SEEDED_TENANT)
    start_worker(fleet, "worker-0")
    start_worker(fleet, "worker-1")
    for name in ("dispatch-a", "dispatch-b"):
        fleet.start(name, "sync-workflows", str(customer), "--force")
    assert fleet.wait_exited(["dispatch-a", "dispatch-b"], timeout=60) == {
        "dispatch-a": 0,
        "dispatch-b": 0,
    }
    settle(fleet, timeout=60)

    outputs = fleet.output("dispatch-a") + fleet.output("dispatch-b")
    runs = sorted(fleet.runtime.ledger.list_runs(customer_id=customer), key=lambda r: r.id)
    assert [(run.status, run.attempt) for run in runs] == [(RunStatus.SUCCEEDED, 1)] * len(runs)
    if len(runs) == 1:  # the second dispatch was refused while the first run was active
        assert "already has a sync queued or running" in outputs
    else:  # or it came after the first run ended (a loaded machine): one after the other
        first, second = runs
        assert first.finished_at is not None and second.started_at is not None
        assert first.finished_at <= second.started_at, "two syncs of one customer at once"
    # Every workflow exported once: a second run, if any, found nothing changed.
    count = len(fleet.admin.workflows(SEEDED_TENANT))
    assert fleet.served(SEEDED_TENANT, "export") == count
    assert_invariants(fleet, tmp_path)


@pytest.mark.timeout(90)
def test_f19_the_same_run_delivered_twice_to_two_workers_runs_once(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(sqlite_backend(tmp_path / "db"), **FAST)
    customer = fleet.add_seeded(SEEDED_TENANT)
    fleet.admin.add_fault("latency", tenant=SEEDED_TENANT, route="export", delay_ms=200)
    dispatch(fleet, str(customer))
    (run,) = fleet.runtime.ledger.list_runs(customer_id=customer)
    enqueue_again(fleet, run.id)
    start_worker(fleet, "worker-0")
    start_worker(fleet, "worker-1")
    wait_until(
        lambda: any(
            f"run {run.id} not claimed" in str(entry.get("message"))
            for name in ("worker-0", "worker-1")
            for entry in fleet.log(name)
        ),
        timeout=60,
        what="the second delivery to be refused",
    )
    settle(fleet, timeout=60)

    done = fleet.runtime.ledger.get(run.id)
    assert done is not None and (done.status, done.attempt) == (RunStatus.SUCCEEDED, 1)
    count = len(fleet.admin.workflows(SEEDED_TENANT))
    assert fleet.served(SEEDED_TENANT, "export") == count
    assert fleet.served(SEEDED_TENANT, "token") == 1
    fleet.admin.clear_faults()
    assert_invariants(fleet, tmp_path)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(120)
@pytest.mark.parametrize("skew", ["+10m", "-10m"])
def test_f20_a_worker_ten_minutes_off_does_not_lose_or_steal_leases_on_the_database_clock(
    skew: str,
    cloned_postgres_url: str,
    backend_redis_url: str,
    make_fleet: FleetFactory,
    tmp_path: Path,
) -> None:
    if not FAKETIME_LIBRARY.exists():
        pytest.skip(
            f"faketime is not installed ({FAKETIME_LIBRARY} missing: apt-get install faketime)"
        )
    backend = Backend("postgres_redis", cloned_postgres_url, backend_redis_url, "")
    fleet = make_fleet(backend, **FAST)
    customer = fleet.add_seeded(SEEDED_TENANT)
    # The sync outlasts two leases: kept only by the skewed worker's renewals.
    fleet.admin.add_fault("latency", tenant=SEEDED_TENANT, route="export", delay_ms=3_000)
    # libfaketime preloaded into the worker itself (the `faketime` wrapper forks: a kill would
    # reach the wrapper, not the worker). A host whose wall clock is off: its monotonic clock
    # (timeouts, waits) still runs true.
    skewed = start_worker(
        fleet,
        "worker-0",
        env={
            "LD_PRELOAD": str(FAKETIME_LIBRARY),
            "FAKETIME": skew,
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        },
    )
    dispatch(fleet, str(customer))
    (run,) = fleet.runtime.ledger.list_runs(customer_id=customer)
    wait_until(lambda: fleet.run_status(run.id) is RunStatus.RUNNING, timeout=30, what="a claim")
    start_worker(fleet, "worker-1")  # would take the run over if its lease looked expired
    while fleet.run_status(run.id) is RunStatus.RUNNING:
        assert not fleet.runtime.ledger.find_expired_leases(), "the lease looked expired"
        fleet.run("workflow-sync", "scheduler", "--once")  # a reaper pass
        time.sleep(0.5)
    settle(fleet, timeout=30)

    done = fleet.runtime.ledger.get(run.id)
    assert done is not None and (done.status, done.attempt) == (RunStatus.SUCCEEDED, 1)
    assert f":{skewed.pid}:" in str(done.lease_owner)
    fleet.admin.clear_faults()
    assert_invariants(fleet, tmp_path)


FAKETIME_LIBRARY = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")

MISCONFIGURED = [
    ({"ZWS_LEASE_SECONDS": "5", "ZWS_HEARTBEAT_SECONDS": "4"}, "heartbeat_seconds"),
    ({"ZWS_HTTP_DEADLINE_SECONDS": "120", "ZWS_JOB_IDLE_TIMEOUT_SECONDS": "60"}, "job_idle"),
    ({"ZWS_LEASE_SECONDS": "2"}, "ZWS_LEASE_SECONDS"),
]


def test_f22_a_lease_that_cannot_outlive_its_renewals_is_refused_at_start_up(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(sqlite_backend(tmp_path / "db"), **FAST)
    customer = fleet.add_seeded(SEEDED_TENANT)
    dispatch(fleet, str(customer))
    settings = fleet.env

    for wrong, fragment in MISCONFIGURED:
        fleet.env = {**settings, **wrong}
        done = fleet.run("workflow-sync", "worker", "--drain", timeout=60)
        assert done.returncode != 0, wrong
        assert "Traceback" not in done.stderr
        (line,) = done.stderr.splitlines()
        assert line.startswith("Error: ") and fragment in line, line
    fleet.env = settings
    (run,) = fleet.runtime.ledger.list_runs(customer_id=customer)
    assert (run.status, run.attempt) == (RunStatus.QUEUED, 0), "a refused worker took a run"
    drained = fleet.run("workflow-sync", "worker", "--drain", timeout=60)
    assert drained.returncode == 0, drained.stderr
    assert_invariants(fleet, tmp_path)
