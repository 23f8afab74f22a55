"""Faults of the services (F5-F12 of shared/reliability.md): Redis killed with and without
persistence and during a dispatch, the dispatcher killed halfway, PostgreSQL restarted mid-sync,
its connections exhausted, SQLite writers contending, the disk full. Each test ends with the
shared invariant check. Nothing partial, nothing twice, nothing lost.
"""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.backends import UNREACHABLE_REDIS_URL, Backend, sqlite_backend
from tests.chaos.fleet import Fleet, FleetFactory, settle
from tests.chaos.servers import PrivatePostgres, PrivateRedis
from tests.polling import wait_until
from tests.reliability.helpers import FAST, dispatch, timed
from tests.reliability.invariants import assert_invariants
from tests.services import connect_admin, run_admin
from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.queue import open_queue
from zuora_workflow_sync.store import migrate

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


@pytest.mark.long(35)
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(240)
def test_f9_every_run_completes_without_partial_rows_when_postgresql_restarts_during_syncs(
    private_postgres: PrivatePostgres,
    backend_redis_url: str,
    make_fleet: FleetFactory,
    tmp_path: Path,
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
    assert_invariants(fleet, tmp_path)


@pytest.mark.long(25)
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(180)
@pytest.mark.parametrize("persistent", [True, False], ids=["f5_persistence", "f6_no_persistence"])
def test_f5_f6_queued_runs_all_complete_once_when_redis_is_killed_and_restarted(
    persistent: bool, cloned_postgres_url: str, make_fleet: FleetFactory, tmp_path: Path
) -> None:
    redis_server = PrivateRedis(tmp_path / "redis", persistent=persistent)
    redis_server.start()
    fleet: Fleet | None = None
    try:
        queue_url = redis_server.url()
        backend = Backend("private_redis", cloned_postgres_url, queue_url, UNREACHABLE_REDIS_URL)
        fleet = make_fleet(
            backend,
            # Due after the kill and the restart even on a busy machine: still in Redis then.
            stagger_min_seconds="8",
            stagger_max_seconds="10",
            stale_queued_grace_seconds="1",
        )
        fleet.take_schedule_tick()
        tenants = fleet.add_tenants(20, 2)
        workers = fleet.start_workers(2, "--concurrency", "2")
        dispatched = fleet.run("sync-workflows")
        assert dispatched.stdout.splitlines()[-1] == "Sync jobs dispatched for 20 customers"
        assert waiting_jobs(queue_url) == 20

        redis_server.kill()
        time.sleep(1.0)  # the workers meet a dead queue
        redis_server.start()
        # With persistence every job survived; without, the reaper re-dispatches from the ledger.
        assert waiting_jobs(queue_url) == (20 if persistent else 0)
        recovery = timed(lambda: settle(fleet, timeout=120))

        assert [worker.poll() for worker in workers] == [None, None], "a worker died"
        assert_synced_once_each(fleet, tenants, 2)
        assert {run.attempt for run in fleet.runs()} == {1}
        assert {fleet.served(tenant, "export") for tenant in tenants.values()} == {2}
        assert recovery < 90, recovery
        assert_invariants(fleet, tmp_path)
    finally:
        if fleet is not None:
            fleet.close()  # its workers first, then their Redis
        redis_server.stop()


def add_empty_customers(fleet: Fleet, count: int) -> list[int]:
    """`count` customers of one tenant without workflows (a sync: a token and one listing)."""
    fleet.admin.update_settings(token_ip_limit_enabled=False)
    fleet.env["ZWS_PACING_TOKEN_REQUESTS_PER_MINUTE"] = "100000"
    tenant = fleet.admin.create_tenant(workflows=0)["name"]
    view = fleet.admin.tenant(tenant)
    from zuora_workflow_sync.simulator import TenantCredentials

    credentials = TenantCredentials.from_view(view)
    return [
        fleet.add_customer(credentials, view["multi_entity"], f"Customer {n:04d}")
        for n in range(count)
    ]


def paused_at_first_run(fleet: Fleet, name: str) -> subprocess.Popen[bytes]:
    """Start `sync-workflows` (all customers) as `name`; SIGSTOP it once it recorded a run."""
    process = fleet.start(name, "sync-workflows")
    wait_until(
        lambda: process.poll() is None and fleet.runs(),
        timeout=60,
        what=f"{name} to record its first run",
        interval=0.005,
    )
    process.send_signal(signal.SIGSTOP)
    return process


def assert_each_customer_dispatched_once(fleet: Fleet, customers: list[int]) -> None:
    by_customer: dict[int, int] = {}
    for run in fleet.runs():
        by_customer[run.customer_id] = by_customer.get(run.customer_id, 0) + 1
    assert by_customer == dict.fromkeys(customers, 1)


DISPATCH_IN_SMALL_BATCHES = {"dispatch_batch_size": "5", **FAST}
CUSTOMERS = 200


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(180)
def test_f7_redis_down_during_a_dispatch_says_so_in_one_line_and_a_rerun_adds_no_duplicate(
    cloned_postgres_url: str, private_redis: PrivateRedis, make_fleet: FleetFactory, tmp_path: Path
) -> None:
    backend = Backend("private_redis", cloned_postgres_url, private_redis.url(), "")
    fleet = make_fleet(backend, **DISPATCH_IN_SMALL_BATCHES)
    customers = add_empty_customers(fleet, CUSTOMERS)
    dispatcher = paused_at_first_run(fleet, "dispatch")
    private_redis.kill()
    dispatcher.send_signal(signal.SIGCONT)
    code = dispatcher.wait(120)

    output = fleet.output("dispatch")
    assert "Traceback" not in output
    private_redis.start()
    rerun = fleet.run("sync-workflows", timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    fleet.start_workers(2, "--concurrency", "4")
    settle(fleet, timeout=120)

    assert code in (0, 1), output  # inline fallback (0) or a refused dispatch (1)
    assert "queue" in output.lower(), output
    # Runs recorded for the queue that failed are abandoned with the reason, then recorded
    # again to run inline: each customer synced by exactly one run.
    succeeded: dict[int, int] = {}
    for run in fleet.runs():
        if run.status is RunStatus.SUCCEEDED:
            succeeded[run.customer_id] = succeeded.get(run.customer_id, 0) + 1
        else:
            assert run.status is RunStatus.ABANDONED, run
            assert "queue" in str(run.error_message).lower(), run
    assert succeeded == dict.fromkeys(customers, 1)
    assert_invariants(fleet, tmp_path)


@pytest.mark.timeout(180)
def test_f8_a_dispatcher_killed_halfway_is_rerun_idempotently_every_customer_once(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(sqlite_backend(tmp_path / "db"), **DISPATCH_IN_SMALL_BATCHES)
    customers = add_empty_customers(fleet, CUSTOMERS)
    dispatcher = paused_at_first_run(fleet, "dispatch")
    dispatcher.send_signal(signal.SIGKILL)
    dispatcher.wait(10)
    halfway = len(fleet.runs())

    rerun = fleet.run("sync-workflows", timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    fleet.start_workers(2, "--concurrency", "4")
    settle(fleet, timeout=120)

    assert 0 < halfway < CUSTOMERS, halfway
    assert_each_customer_dispatched_once(fleet, customers)
    assert {run.status for run in fleet.runs()} == {RunStatus.SUCCEEDED}, fleet.run_statuses()
    assert_invariants(fleet, tmp_path)


HOGGED_CONNECTIONS = 20


@pytest.fixture
def small_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this test alone that accepts 20 connections in all."""
    server = PrivatePostgres(max_connections=HOGGED_CONNECTIONS)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextmanager
def every_connection_taken(server: PrivatePostgres) -> Iterator[None]:
    """Hold connections until the server refuses more ("too many clients"), then let go."""
    held: list[psycopg.Connection[Any]] = []
    try:
        while True:
            try:
                held.append(psycopg.connect(f"host=127.0.0.1 port={server.port} user=postgres"))
            except psycopg.OperationalError:
                break
        yield
    finally:
        for connection in held:
            connection.close()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(180)
def test_f10_workers_wait_while_the_database_has_no_connection_left_and_lose_no_run(
    small_postgres: PrivatePostgres,
    backend_redis_url: str,
    make_fleet: FleetFactory,
    tmp_path: Path,
) -> None:
    database_url = create_database(small_postgres, "zws")
    backend = Backend("small_postgres", database_url, backend_redis_url, "")
    fleet = make_fleet(backend, **FAST)
    customers = [fleet.add_seeded(tenant) for tenant in ("tenant-001", "tenant-002")]
    for customer in customers:
        dispatch(fleet, str(customer))
    fleet.runtime.engine.dispose()
    with every_connection_taken(small_postgres):
        workers = fleet.start_workers(2, "--concurrency", "2")
        time.sleep(5.0)  # the workers start and meet "too many clients already"
        gave_up = [n for n, worker in enumerate(workers) if worker.poll() is not None]
        assert not gave_up, [fleet.output(f"worker-{n}")[-6000:] for n in gave_up]
    recovery = timed(lambda: settle(fleet, timeout=90))

    assert [worker.poll() for worker in workers] == [None, None], "a worker died"
    assert {run.status for run in fleet.runs()} == {RunStatus.SUCCEEDED}, fleet.run_statuses()
    assert recovery < 60, recovery
    assert_invariants(fleet, tmp_path)


@pytest.mark.timeout(180)
def test_f11_sqlite_writers_in_several_processes_never_see_database_is_locked(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(sqlite_backend(tmp_path / "db"), **FAST)
    fleet.admin.update_settings(token_ip_limit_enabled=False)
    fleet.env["ZWS_PACING_TOKEN_REQUESTS_PER_MINUTE"] = "100000"
    fleet.add_tenants(16, 3)
    names = [f"worker-{n}" for n in range(3)]
    fleet.start_workers(3, "--concurrency", "3")
    for n in range(3):  # dispatchers writing while the workers write
        fleet.start(f"dispatch-{n}", "sync-workflows", "--force")
    fleet.wait_exited([f"dispatch-{n}" for n in range(3)], timeout=60)
    settle(fleet, timeout=120)

    texts = [fleet.output(name) for name in [*names, *(f"dispatch-{n}" for n in range(3))]]
    texts += [str(entry) for name in names for entry in fleet.log(name)]
    assert not [text for text in texts if "database is locked" in text]
    assert {run.status for run in fleet.runs()} == {RunStatus.SUCCEEDED}, fleet.run_statuses()
    assert_invariants(fleet, tmp_path)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A 16 MiB tmpfs when this process may mount one (root): a folder and "tmpfs"; otherwise a
    plain folder and "fsize" (the sync process then gets RLIMIT_FSIZE instead)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if os.geteuid() == 0:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)],
            capture_output=True,
            check=False,
        )
        if mounted.returncode == 0:
            try:
                yield folder, "tmpfs"
            finally:
                subprocess.run(["umount", "-l", str(folder)], check=False)
            return
    yield folder, "fsize"


def fill(folder: Path, leave_bytes: int) -> Path:
    """Fill the file system of `folder` up to `leave_bytes` free: the filler file."""
    filler = folder / "filler"
    stats = os.statvfs(folder)
    free = stats.f_bavail * stats.f_frsize
    with open(filler, "wb") as out:
        out.write(b"\0" * max(free - leave_bytes, 0))
    return filler


@pytest.mark.timeout(120)
def test_f12_a_full_disk_fails_the_sync_cleanly_and_leaves_the_database_intact(
    small_disk: tuple[Path, str], make_fleet: FleetFactory, tmp_path: Path
) -> None:
    folder, how = small_disk
    fleet = make_fleet(sqlite_backend(folder), **FAST)
    tenant = fleet.admin.create_tenant(workflows=120)["name"]  # documents of about 1.5 MB
    customer = fleet.add_seeded(tenant)
    database = folder / "zws.sqlite3"
    limit = database.stat().st_size + 64 * 1024
    if how == "tmpfs":
        filler = fill(folder, 128 * 1024)
        synced = fleet.run("sync-workflows", str(customer), "--sync", timeout=90)
        filler.unlink()
    else:
        synced = run_with_file_size_limit(fleet, limit, "sync-workflows", str(customer), "--sync")

    assert "Traceback" not in synced.stderr, synced.stderr
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert fleet.row_totals() == (0, 0, 0), "a partial write"
    assert synced.returncode == 1, (synced.stdout, synced.stderr)
    (line,) = synced.stderr.splitlines()
    assert line.startswith("Sync failed: ") and "database error" in line, line
    # Space again: whatever the full disk left (a failed run, or one to reclaim), it completes.
    settle_or_sync(fleet, customer)
    assert fleet.workflow_counts() == {customer: 120}
    assert_invariants(fleet, tmp_path)


def run_with_file_size_limit(
    fleet: Fleet, limit: int, command: str, *args: str
) -> subprocess.CompletedProcess[str]:
    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    from tests.chaos.fleet import BIN

    return subprocess.run(
        [str(BIN / command), *args],
        env=fleet.env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        preexec_fn=limit_file_size,
    )


def settle_or_sync(fleet: Fleet, customer: int) -> None:
    """Let the reaper and a worker finish what is active, then sync again if the last failed."""
    if any(run.status.is_active for run in fleet.runs()):
        fleet.start_workers(1, "--concurrency", "1")
        settle(fleet, timeout=60)
    latest = max(fleet.runs(), key=lambda run: run.id)
    if latest.status is not RunStatus.SUCCEEDED:
        again = fleet.run("sync-workflows", str(customer), "--force", "--sync", timeout=90)
        assert again.returncode == 0, again.stderr
