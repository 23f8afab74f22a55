"""Services restarted under load: PostgreSQL mid-sync (workers reconnect, runs are retried) and
Redis with its data lost (the queue is rebuilt from the ledger). Nothing partial, nothing twice.
"""

from __future__ import annotations

import pytest

from tests.backends import UNREACHABLE_REDIS_URL, Backend
from tests.chaos.servers import PrivatePostgres, PrivateRedis
from tests.polling import wait_until
from tests.services import connect_admin, run_admin
from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.queue import open_queue
from zuora_workflow_sync.store import migrate

from .fleet import Fleet, FleetFactory, settle

pytestmark = [pytest.mark.end_to_end, pytest.mark.slow]


def create_database(server: PrivatePostgres, name: str) -> str:
    """A new database on `server`, migrated as `workflow-sync db upgrade` does: its URL."""
    engine = connect_admin(server.url())
    try:
        run_admin(engine, f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()
    url = server.url(name)
    migrate.upgrade(url)
    return url


def waiting_jobs(queue_url: str) -> int:
    queue = open_queue(queue_url, "workflows")
    try:
        return queue.pending_count() + queue.scheduled_count()
    finally:
        queue.close()


def mid_load(fleet: Fleet) -> bool:
    """Some runs succeeded already, and others are in flight."""
    statuses = fleet.run_statuses()
    return statuses.get("succeeded", 0) >= 6 and statuses.get("running", 0) >= 1


def assert_nothing_partial(fleet: Fleet, workflows: int) -> None:
    """A customer has all its workflows when one of its runs succeeded, none otherwise."""
    synced = {run.customer_id for run in fleet.runs() if run.status is RunStatus.SUCCEEDED}
    assert fleet.workflow_counts() == dict.fromkeys(synced, workflows)
    total = len(synced) * workflows
    assert fleet.row_totals() == (total, total, fleet.expected_tasks())


def assert_synced_once_each(fleet: Fleet, tenants: dict[int, str], workflows: int) -> None:
    """One succeeded run per customer, and exactly the simulator's workflows, once each."""
    runs = fleet.runs()
    assert sorted(run.customer_id for run in runs) == sorted(tenants)
    assert {run.status for run in runs} == {RunStatus.SUCCEEDED}, fleet.run_statuses()
    assert fleet.workflow_counts() == dict.fromkeys(tenants, workflows)
    total = len(tenants) * workflows
    assert fleet.row_totals() == (total, total, fleet.expected_tasks())


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(240)
def test_every_run_completes_without_partial_rows_when_postgresql_restarts_during_syncs(
    private_postgres: PrivatePostgres, backend_redis_url: str, make_fleet: FleetFactory
) -> None:
    database_url = create_database(private_postgres, "zws")
    backend = Backend("private_postgres", database_url, backend_redis_url, UNREACHABLE_REDIS_URL)
    fleet = make_fleet(
        backend,
        lease_seconds="6",
        export_concurrency="1",
        stale_queued_grace_seconds="2",
        stagger_min_seconds="0",
        stagger_max_seconds="4",
    )
    fleet.admin.update_settings(latency_ms=30)
    fleet.take_schedule_tick()
    tenants = fleet.add_tenants(30, 4)
    assert fleet.run("sync-workflows").returncode == 0
    workers = fleet.start_workers(3, "--concurrency", "2")
    wait_until(lambda: mid_load(fleet), timeout=60, what="runs succeeded and others in flight")

    private_postgres.restart_immediately()
    settle(fleet, timeout=120)

    assert [worker.poll() for worker in workers] == [None] * 3, "a worker died"
    assert_nothing_partial(fleet, 4)
    failed_by_database = [
        run.id
        for run in fleet.runs()
        if run.status is RunStatus.FAILED and run.error_class == "OperationalError"
    ]
    assert failed_by_database == [], "a database error must leave the run to the reaper"
    assert_synced_once_each(fleet, tenants, 4)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(180)
def test_queued_runs_all_complete_when_redis_restarts_with_its_data_lost(
    cloned_postgres_url: str, private_redis: PrivateRedis, make_fleet: FleetFactory
) -> None:
    queue_url = private_redis.url()
    backend = Backend("private_redis", cloned_postgres_url, queue_url, UNREACHABLE_REDIS_URL)
    fleet = make_fleet(
        backend,
        stagger_min_seconds="3",
        stagger_max_seconds="5",
        stale_queued_grace_seconds="1",
    )
    fleet.take_schedule_tick()
    tenants = fleet.add_tenants(20, 2)
    workers = fleet.start_workers(2, "--concurrency", "2")
    dispatched = fleet.run("sync-workflows")
    assert dispatched.stdout.splitlines()[-1] == "Sync jobs dispatched for 20 customers"
    assert waiting_jobs(queue_url) == 20

    private_redis.kill()
    private_redis.start()
    assert waiting_jobs(queue_url) == 0
    settle(fleet, timeout=120)

    assert [worker.poll() for worker in workers] == [None, None], "a worker died"
    assert_synced_once_each(fleet, tenants, 2)
    assert {run.attempt for run in fleet.runs()} == {1}
    assert {fleet.served(tenant, "export") for tenant in tenants.values()} == {2}
