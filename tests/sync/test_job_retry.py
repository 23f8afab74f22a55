"""Job retries against the simulator: 5% injected 5xx still ends every sync succeeded, with
bounded attempts and requests; a retriable failure comes back as the next attempt; Retry-After
sets the least delay; fatal errors are never retried."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.backends import Backend
from zuora_workflow_sync.domain.models import RunRequest, RunStatus, RunTrigger
from zuora_workflow_sync.errors import RateLimitedError
from zuora_workflow_sync.runtime import Runtime, build_runtime
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.sync.job import RunOutcome, execute_run, job_retry_policy

from .conftest import AddCustomer, make_settings

CUSTOMERS = 10
MAX_ATTEMPTS = 3
TENANTS = ("tenant-001", "tenant-002", "tenant-003")


@pytest.fixture(autouse=True)
def _restore_simulator(sim_admin: SimulatorAdmin) -> Iterator[None]:
    yield
    sim_admin.reset()


def _record(
    runtime: Runtime, customer_ids: list[int], max_attempts: int = MAX_ATTEMPTS
) -> list[int]:
    result = runtime.ledger.record_batch(
        [RunRequest(customer_id, datetime.now(UTC)) for customer_id in customer_ids],
        queue="workflows",
        trigger=RunTrigger.COMMAND,
        dispatched_by="test",
        max_attempts=max_attempts,
    )
    return [run.run_id for run in result.recorded]


def _drain(runtime: Runtime, run_ids: list[int]) -> list[RunOutcome]:
    """Execute jobs as a worker would, taking re-enqueued ones until the queue is empty."""
    queue = list(run_ids)
    outcomes: list[RunOutcome] = []
    while queue:
        run_id = queue.pop(0)
        outcomes.append(
            execute_run(runtime, run_id, worker_id="w", requeue=lambda r, d: queue.append(r))
        )
    return outcomes


def _served(sim_admin: SimulatorAdmin) -> tuple[int, int]:
    """Requests the simulator answered for our tenants, and how many of them were 500."""
    tenants = sim_admin.stats()["tenants"]
    total = errors = 0
    for name in TENANTS:
        for by_status in tenants.get(name, {}).get("requests", {}).values():
            total += sum(by_status.values())
            errors += by_status.get("500", 0)
    return total, errors


@pytest.mark.parametrize(
    ("http_max_attempts", "max_attempts", "max_total_attempts"),
    [(2, 3, CUSTOMERS + 3), (1, 10, 3 * CUSTOMERS)],
    ids=["request-retries", "job-retries-only"],
)
def test_every_sync_succeeds_with_bounded_retries_when_5_percent_of_calls_fail(
    tmp_path: Path,
    backend: Backend,
    add_customer: AddCustomer,
    sim_admin: SimulatorAdmin,
    http_max_attempts: int,
    max_attempts: int,
    max_total_attempts: int,
) -> None:
    """With the client's own retries (2 tries a request) a 5% fault rate is absorbed; without
    them (1 try) about half the attempts fail and the run retries carry the load."""
    customers = [
        add_customer(TENANTS[index % len(TENANTS)], name=f"Customer {index}")
        for index in range(CUSTOMERS)
    ]
    for name in TENANTS:
        sim_admin.add_fault("status", tenant=name, status=500, rate=0.05)
    settings = make_settings(
        tmp_path,
        http_max_attempts=http_max_attempts,
        retry_base_seconds=0,  # retries due at once, so the test drains them
        **backend.settings_fields,
    )
    with build_runtime(settings) as runtime:
        outcomes = _drain(runtime, _record(runtime, [c.id for c in customers], max_attempts))
        runs = [runtime.ledger.get(o.run_id) for o in outcomes if o.status != "retrying"]
        stored = [runtime.customers.get(c.id) for c in customers]

    assert [o.status for o in outcomes if o.status != "retrying"] == ["succeeded"] * CUSTOMERS
    assert all(run is not None and run.status is RunStatus.SUCCEEDED for run in runs)
    attempts = sum(run.attempt for run in runs if run is not None)
    assert len(outcomes) == attempts and all(
        run is not None and run.attempt <= max_attempts for run in runs
    )
    assert CUSTOMERS <= attempts <= max_total_attempts, attempts
    if http_max_attempts == 1:
        assert attempts > CUSTOMERS, "no run was retried: the test proves nothing"
    total, errors = _served(sim_admin)
    assert errors > 0, "the fault plan never fired"
    # A token, one listing page and 12 exports an attempt at most, each tried at most
    # `http_max_attempts` times: the retries never multiply the traffic beyond that.
    assert total <= attempts * 14 * http_max_attempts, (total, errors)
    assert all(c is not None and c.consecutive_failures == 0 for c in stored)


def test_run_succeeds_at_its_third_attempt_when_two_attempts_hit_a_5xx(
    tmp_path: Path, backend: Backend, add_customer: AddCustomer, sim_admin: SimulatorAdmin
) -> None:
    settings = make_settings(
        tmp_path, http_max_attempts=1, retry_base_seconds=0, **backend.settings_fields
    )
    customer = add_customer("tenant-001")
    sim_admin.add_fault("status", tenant="tenant-001", route="list", status=503, count=2)
    with build_runtime(settings) as runtime:
        outcomes = _drain(runtime, _record(runtime, [customer.id]))
        assert [o.status for o in outcomes] == ["retrying", "retrying", "succeeded"]
        run = runtime.ledger.get(outcomes[-1].run_id)
        assert run is not None and run.status is RunStatus.SUCCEEDED and run.attempt == 3
        stored = runtime.customers.get(customer.id)
        assert stored is not None and stored.consecutive_failures == 0


def test_run_fails_after_its_last_attempt_when_the_5xx_never_stops(
    tmp_path: Path, backend: Backend, add_customer: AddCustomer, sim_admin: SimulatorAdmin
) -> None:
    settings = make_settings(
        tmp_path, http_max_attempts=1, retry_base_seconds=0, **backend.settings_fields
    )
    customer = add_customer("tenant-001")
    sim_admin.add_fault("status", tenant="tenant-001", route="list", status=500)
    with build_runtime(settings) as runtime:
        outcomes = _drain(runtime, _record(runtime, [customer.id]))
        assert [o.status for o in outcomes] == ["retrying", "retrying", "failed"]
        run = runtime.ledger.get(outcomes[-1].run_id)
        assert run is not None and run.status is RunStatus.FAILED and run.attempt == 3
        assert run.error_class == "ServerError"
        stored = runtime.customers.get(customer.id)
        assert stored is not None and stored.consecutive_failures == 1  # one run, one failure


def test_retry_waits_at_least_retry_after_when_zuora_sends_429(
    tmp_path: Path, backend: Backend, add_customer: AddCustomer, sim_admin: SimulatorAdmin
) -> None:
    settings = make_settings(
        tmp_path,
        http_max_attempts=1,
        retry_base_seconds=1,
        retry_cap_seconds=2,
        **backend.settings_fields,
    )
    customer = add_customer("tenant-001")
    sim_admin.add_fault("too_many_requests", tenant="tenant-001", route="list", retry_after=90)
    with build_runtime(settings) as runtime:
        (run_id,) = _record(runtime, [customer.id])
        delays: list[float] = []
        before = datetime.now(UTC)
        outcome = execute_run(
            runtime,
            run_id,
            worker_id="w",
            requeue=lambda r, d: delays.append(d),
            rng=random.Random(7),
        )
        assert outcome.status == "retrying" and len(delays) == 1 and 90 <= delays[0] <= 91
        # The jitter is the one drawn from the random source passed in.
        expected = job_retry_policy(settings).decide(
            RateLimitedError("429", retry_after_seconds=90.0), 1, 3, random.Random(7)
        )
        assert delays[0] == pytest.approx(expected.delay_seconds)
        run = runtime.ledger.get(run_id)
        assert run is not None and run.status is RunStatus.QUEUED
        assert run.error_class == "RateLimitedError"
        assert 85 < (run.not_before_at - before).total_seconds() < 100


@pytest.mark.parametrize(
    ("fault", "error_class"),
    [
        ({"kind": "status", "status": 404}, "NotFoundError"),
        ({"kind": "status", "status": 400}, "BadRequestError"),
        ({"kind": "malformed", "variant": "not_json"}, "ProtocolError"),
    ],
    ids=["404", "400", "malformed"],
)
def test_run_fails_at_once_when_the_error_is_not_retriable(
    runtime: Runtime,
    add_customer: AddCustomer,
    sim_admin: SimulatorAdmin,
    fault: dict[str, Any],
    error_class: str,
) -> None:
    customer = add_customer("tenant-001")
    options = dict(fault)
    sim_admin.add_fault(options.pop("kind"), tenant="tenant-001", route="list", **options)
    requeued: list[int] = []
    (run_id,) = _record(runtime, [customer.id])
    outcome = execute_run(runtime, run_id, worker_id="w", requeue=lambda r, d: requeued.append(r))
    assert outcome.status == "failed" and requeued == []
    run = runtime.ledger.get(run_id)
    assert run is not None and run.status is RunStatus.FAILED and run.attempt == 1
    assert run.error_class == error_class


def test_inline_run_fails_at_once_when_retries_are_off(
    runtime: Runtime, add_customer: AddCustomer, sim_admin: SimulatorAdmin
) -> None:
    customer = add_customer("tenant-001")
    sim_admin.add_fault("status", tenant="tenant-001", route="list", status=500)
    (run_id,) = _record(runtime, [customer.id])
    outcome = execute_run(runtime, run_id, worker_id="w", requeue=lambda r, d: None, retry=False)
    assert outcome.status == "failed"
    run = runtime.ledger.get(run_id)
    assert run is not None and run.status is RunStatus.FAILED and run.attempt == 1
