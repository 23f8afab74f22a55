"""A worker paused (SIGSTOP) past its lease while another execution reclaims and finishes the run:
woken (SIGCONT), its write is refused by the fencing check (or its heartbeat finds the run lost
first and stops the job) and nothing is duplicated. At the default lease (30 s).
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.backends import Backend, sqlite_backend
from tests.polling import wait_until
from tests.reliability.invariants import assert_invariants
from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.sync.job import execute_run

from .fleet import (
    ONE_EXPORT,
    SEEDED_TENANT,
    Fleet,
    FleetFactory,
    sync_in_flight,
)

pytestmark = [pytest.mark.end_to_end, pytest.mark.slow]

LEASE_LOST = "lost its lease; its results were discarded"


@contextmanager
def paused(process: subprocess.Popen[bytes]) -> Iterator[None]:
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.send_signal(signal.SIGCONT)


def rescue(fleet: Fleet, run_id: int) -> None:
    """Once the paused worker's lease expired, reclaim the run here and sync it to the end."""
    wait_until(
        lambda: run_id in {run.id for run in fleet.runtime.ledger.find_expired_leases()},
        timeout=45,
        what="the paused worker's lease to expire",
    )
    outcome = execute_run(fleet.runtime, run_id, worker_id="rescuer", requeue=lambda r, d: None)
    assert outcome.status == "succeeded", outcome.error


def assert_refused_and_not_duplicated(fleet: Fleet, run_id: int, rescued: tuple[int, ...]) -> None:
    wait_until(
        lambda: any(LEASE_LOST in entry["message"] for entry in fleet.log("worker-0")),
        timeout=30,
        what="the woken worker to drop the run",
    )
    assert fleet.row_totals() == rescued
    count = len(fleet.admin.workflows(SEEDED_TENANT))
    assert rescued == (count, count, fleet.expected_tasks())
    run = fleet.runtime.ledger.get(run_id)
    assert run is not None
    assert (run.status, run.attempt, run.lease_owner) == (RunStatus.SUCCEEDED, 2, "rescuer")
    customer = fleet.runtime.customers.get(run.customer_id)
    assert customer is not None and customer.consecutive_failures == 0
    assert fleet.processes["worker-0"].poll() is None, "the woken worker must keep working"


@pytest.mark.long(32)
def test_stale_worker_write_is_refused_when_it_wakes_after_its_run_was_reclaimed(
    backend: Backend, make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(backend, **ONE_EXPORT)
    run_id, worker = sync_in_flight(fleet)

    with paused(worker):
        rescue(fleet, run_id)
        rescued = fleet.row_totals()

    assert_refused_and_not_duplicated(fleet, run_id, rescued)
    assert_invariants(fleet, tmp_path)


@contextmanager
def sqlite_write_lock(database_url: str) -> Iterator[None]:
    """Hold SQLite's write lock, as a long writer would: other writers wait in BEGIN IMMEDIATE."""
    path = make_url(database_url).database
    assert path is not None
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


@pytest.mark.long(32)
def test_stale_commit_is_refused_when_the_worker_wakes_with_a_complete_fetch_on_sqlite(
    tmp_path: Path, make_fleet: FleetFactory
) -> None:
    # Paused after its fetch, while waiting for the write lock of its finishing transaction:
    # on waking, that very commit meets the fence (the fetch is over: nothing stops it first).
    backend = sqlite_backend(tmp_path / "sqlite")
    fleet = make_fleet(backend)
    customer = fleet.add_seeded(SEEDED_TENANT)
    count = len(fleet.admin.workflows(SEEDED_TENANT))
    fleet.admin.add_fault("latency", tenant=SEEDED_TENANT, route="export", delay_ms=400)
    assert fleet.run("sync-workflows", str(customer)).returncode == 0
    (run,) = fleet.runtime.ledger.list_runs(customer_id=customer)
    worker = fleet.start("worker-0", "workflow-sync", "worker", "--concurrency", "1")
    wait_until(lambda: fleet.run_status(run.id) is RunStatus.RUNNING, timeout=30, what="a claim")

    with ExitStack() as stack:
        with sqlite_write_lock(backend.database_url):
            assert fleet.run_status(run.id) is RunStatus.RUNNING, "finished before the lock"
            wait_until(
                lambda: fleet.served(SEEDED_TENANT, "export") == count, timeout=10, what="a fetch"
            )
            time.sleep(0.5)  # the worker now waits for the write lock to commit
            stack.enter_context(paused(worker))
        fleet.admin.clear_faults()
        rescue(fleet, run.id)
        rescued = fleet.row_totals()

    assert_refused_and_not_duplicated(fleet, run.id, rescued)
    assert fleet.served(SEEDED_TENANT, "export") == 2 * count
    assert not [entry for entry in fleet.log("worker-0") if entry.get("error_class")]
    assert_invariants(fleet, tmp_path)
