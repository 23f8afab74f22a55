"""Heartbeat leases in a job against the simulator: a sync longer than its lease keeps it, a run
found lost stops its job at once, time waiting for pacing is neither "no progress" nor the
customer's failure, and a pause longer than a request waits defers the run without an attempt."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.backends import Backend
from tests.polling import wait_until
from zuora_workflow_sync.domain.models import Customer, RunStatus
from zuora_workflow_sync.pacing import open_pacer, tenant_key, tenant_limits
from zuora_workflow_sync.runtime import Runtime, build_runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.store.tables import SyncRunRow
from zuora_workflow_sync.sync.job import execute_run
from zuora_workflow_sync.zuora.gate import Observation
from zuora_workflow_sync.zuora.ratelimit import RateLimitInfo

from .conftest import AddCustomer, make_settings, record_run

TENANT = "tenant-001"
WORKFLOWS = 12  # the seeded tenants'


@pytest.fixture
def settings(tmp_path: Path, backend: Backend) -> Settings:
    # The shortest lease there is (renewed every 5/3 s), one export at a time, and a short
    # request deadline and no-progress timeout so that a hang shows in seconds.
    return make_settings(
        tmp_path,
        **backend.settings_fields,
        lease_seconds=5,
        export_concurrency=1,
        http_deadline_seconds=1,
        job_idle_timeout_seconds=1.5,
    )


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    with build_runtime(settings) as built:
        yield built


@pytest.fixture(autouse=True)
def _restore_simulator(sim_admin: SimulatorAdmin) -> Iterator[None]:
    yield
    sim_admin.reset()


def _exports(sim_admin: SimulatorAdmin) -> int:
    by_status = sim_admin.stats()["tenants"].get(TENANT, {}).get("requests", {}).get("export", {})
    return sum(by_status.values())


def _finished_line(caplog: pytest.LogCaptureFixture) -> Any:
    (line,) = [r for r in caplog.records if getattr(r, "event", None) == "sync_run_finished"]
    return line


def test_sync_keeps_its_lease_when_it_lasts_longer_than_the_lease(
    runtime: Runtime,
    add_customer: AddCustomer,
    sim_admin: SimulatorAdmin,
    caplog: pytest.LogCaptureFixture,
) -> None:
    customer = add_customer(TENANT)
    sim_admin.add_fault("latency", tenant=TENANT, route="export", delay_ms=600)  # 7.2 s
    run = record_run(runtime, customer.id)
    thefts: list[object] = []
    done = threading.Event()

    def thief() -> None:  # another worker that would take the run the moment its lease lapses
        while not done.wait(0.2):
            thefts.append(runtime.ledger.claim(run.run_id, "thief", 5))

    watcher = threading.Thread(target=thief)
    watcher.start()
    caplog.set_level(logging.INFO, logger="zuora_workflow_sync.sync.job")
    try:
        outcome = execute_run(runtime, run.run_id, worker_id="w", requeue=lambda r, d: None)
    finally:
        done.set()
        watcher.join()

    assert outcome.status == "succeeded", outcome.error
    assert outcome.duration_seconds > runtime.settings.lease_seconds
    assert thefts and set(thefts) == {None}
    stored = runtime.ledger.get(run.run_id)
    assert stored is not None and (stored.attempt, stored.lease_owner) == (1, "w")
    assert _finished_line(caplog).lease_renewals >= 3


def test_job_stops_at_once_and_writes_nothing_when_the_heartbeat_finds_its_run_lost(
    runtime: Runtime, add_customer: AddCustomer, sim_admin: SimulatorAdmin
) -> None:
    customer = add_customer(TENANT)
    sim_admin.add_fault("latency", tenant=TENANT, route="export", delay_ms=600)
    run = record_run(runtime, customer.id)
    taken_at: list[float] = []

    def take_over() -> None:  # its lease lapses (a long pause) and another worker claims it
        wait_until(lambda: _exports(sim_admin) >= 2, timeout=30, what="two exports to start")
        with runtime.engine.begin() as conn:
            conn.execute(
                update(SyncRunRow)
                .where(SyncRunRow.id == run.run_id)
                .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        assert runtime.ledger.claim(run.run_id, "rescuer", 30) is not None
        taken_at.append(time.monotonic())

    rescuer = threading.Thread(target=take_over)
    rescuer.start()
    try:
        outcome = execute_run(runtime, run.run_id, worker_id="w", requeue=lambda r, d: None)
        stopped_at = time.monotonic()
    finally:
        rescuer.join()

    assert outcome.status == "lease_lost"
    heartbeat = runtime.settings.resolved_heartbeat_seconds
    assert stopped_at - taken_at[0] < heartbeat + 1.0
    assert _exports(sim_admin) < WORKFLOWS
    stored = runtime.ledger.get(run.run_id)
    assert stored is not None
    assert (stored.status, stored.attempt, stored.lease_owner) == (RunStatus.RUNNING, 2, "rescuer")
    assert runtime.workflows.count_live([customer.id]) == {}


def _hold_every_slot(settings: Settings, customer: Customer, seconds: float) -> threading.Event:
    """Another worker holds all the tenant's slots for `seconds` (on its own loop): the event
    is set once they are taken."""
    taken = threading.Event()

    async def hold() -> None:
        async with open_pacer(settings) as pacer:
            gate = pacer.gate(_limits(settings, customer))
            async with asyncio.TaskGroup() as group:
                for _ in range(gate.limits.max_in_flight):
                    group.create_task(_one_slot(gate, seconds))
                await asyncio.sleep(0.3)
                taken.set()

    threading.Thread(target=asyncio.run, args=(hold(),), daemon=True).start()
    assert taken.wait(10)
    return taken


async def _one_slot(gate: Any, seconds: float) -> None:
    async with gate.slot():
        await asyncio.sleep(seconds)


def _limits(settings: Settings, customer: Customer) -> Any:
    return tenant_limits(
        tenant_key(customer.zuora_base_url, customer.client_id),
        environment=customer.zuora_environment,
        tenant_type=None,
        max_in_flight=None,
        settings=settings,
    )


def test_waiting_for_slots_is_neither_no_progress_nor_a_failure_and_is_recorded(
    runtime: Runtime, add_customer: AddCustomer, caplog: pytest.LogCaptureFixture
) -> None:
    customer = add_customer(TENANT)
    run = record_run(runtime, customer.id)
    _hold_every_slot(runtime.settings, customer, seconds=3.5)  # > the 1.5 s no-progress timeout
    caplog.set_level(logging.INFO, logger="zuora_workflow_sync.sync.job")

    outcome = execute_run(runtime, run.run_id, worker_id="w", requeue=lambda r, d: None)

    assert outcome.status == "succeeded", outcome.error
    stored = runtime.ledger.get(run.run_id)
    assert stored is not None and stored.attempt == 1
    assert 2.5 < stored.pacing_wait_seconds < outcome.duration_seconds
    assert _finished_line(caplog).pacing_wait_seconds == pytest.approx(
        stored.pacing_wait_seconds, abs=0.01
    )


def test_sync_fails_as_timed_out_when_no_reply_comes_for_the_idle_timeout(
    tmp_path: Path, backend: Backend, add_customer: AddCustomer, sim_admin: SimulatorAdmin
) -> None:
    # Each request gives up after its 1 s deadline, and the client would try five times: the
    # no-progress timeout (1.5 s without a reply) ends the sync first.
    customer = add_customer(TENANT)
    sim_admin.add_fault("latency", tenant=TENANT, route="export", delay_ms=5000)
    settings = make_settings(
        tmp_path / "five",
        **backend.settings_fields,
        http_deadline_seconds=1,
        job_idle_timeout_seconds=1.5,
        http_max_attempts=5,
    )
    with build_runtime(settings) as runtime:
        run = record_run(runtime, customer.id)
        outcome = execute_run(
            runtime, run.run_id, worker_id="w", requeue=lambda r, d: None, retry=False
        )
        stored = runtime.ledger.get(run.run_id)

    assert outcome.status == "failed"
    assert outcome.duration_seconds < 4.0
    assert stored is not None and stored.error_class == "JobTimeoutError"
    assert stored.error_message is not None and "no reply from Zuora" in stored.error_message


def test_run_is_deferred_without_an_attempt_when_the_tenant_is_paused_past_what_a_request_waits(
    runtime: Runtime, add_customer: AddCustomer, sim_admin: SimulatorAdmin
) -> None:
    customer = add_customer(TENANT)
    run = record_run(runtime, customer.id)
    pause = 400.0  # longer than a request waits (300 s)

    async def pause_tenant() -> None:
        async with open_pacer(runtime.settings) as pacer:
            gate = pacer.gate(_limits(runtime.settings, customer))
            async with gate.slot() as slot:
                slot.observe(Observation(429, RateLimitInfo(1000, 0, pause), None, pause, 0.01))

    asyncio.run(pause_tenant())
    requeued: list[tuple[int, float]] = []

    outcome = execute_run(
        runtime, run.run_id, worker_id="w", requeue=lambda r, d: requeued.append((r, d))
    )

    assert outcome.status == "deferred"
    assert [run_id for run_id, _ in requeued] == [run.run_id]
    assert requeued[0][1] >= pause - 5
    stored = runtime.ledger.get(run.run_id)
    assert stored is not None
    assert (stored.status, stored.attempt, stored.max_attempts) == (RunStatus.QUEUED, 1, 4)
    assert (stored.error_class, stored.pacing_wait_seconds >= pause - 5) == (
        "PacedTooLongError",
        True,
    )
    refreshed = runtime.customers.get(customer.id)
    assert refreshed is not None and refreshed.consecutive_failures == 0
    assert refreshed.circuit.is_closed
    assert _exports(sim_admin) == 0
