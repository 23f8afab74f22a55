"""A run stopped by the database itself (no free connection in the pool) is the database's
failure, not the customer's: nothing is recorded against the customer, and the lease is left
to expire so the reaper queues the run again."""

from __future__ import annotations

import threading

import pytest

from tests.backends import UNREACHABLE_REDIS_URL, Backend
from tests.polling import wait_for_run
from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.store.engine import create_engine_for
from zuora_workflow_sync.sync.job import RunOutcome, execute_run

from .conftest import AddCustomer, record_run

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def backend(cloned_postgres_url: str, backend_redis_url: str) -> Backend:
    """PostgreSQL + Redis only: the connection pool's bounds are PostgreSQL's."""
    return Backend("postgres_redis", cloned_postgres_url, backend_redis_url, UNREACHABLE_REDIS_URL)


def _wait_until_running(runtime: Runtime, run_id: int) -> None:
    wait_for_run(runtime.ledger, run_id, RunStatus.RUNNING, timeout=10)


def test_no_free_connection_while_storing_is_not_held_against_the_customer(
    runtime: Runtime, add_customer: AddCustomer, sim_admin: SimulatorAdmin
) -> None:
    customer = add_customer("tenant-001")
    run = record_run(runtime, customer.id, full=True)
    sim_admin.update_settings(latency_ms=300)  # the fetch takes over a second
    one_connection = create_engine_for(
        runtime.settings.resolved_database_url,
        pool_size=1,
        max_overflow=0,
        pool_timeout_seconds=0.3,
    )
    worker = Runtime(runtime.settings, one_connection)
    outcomes: list[RunOutcome] = []
    job = threading.Thread(
        target=lambda: outcomes.append(
            execute_run(worker, run.run_id, worker_id="w", requeue=lambda *_: None)
        )
    )
    try:
        job.start()
        _wait_until_running(runtime, run.run_id)
        with one_connection.connect():  # the pool's only connection, until the job has ended
            job.join(30)
    finally:
        job.join(30)
        worker.close()

    assert [outcome.status for outcome in outcomes] == ["database_error"]
    stored = runtime.customers.get(customer.id)
    assert stored is not None and stored.consecutive_failures == 0
    assert stored.last_synced_at is None
    left = runtime.ledger.get(run.run_id)
    assert left is not None and left.status is RunStatus.RUNNING  # for the reaper
