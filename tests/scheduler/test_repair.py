"""The reaper on each database: lost workers, lost jobs, exhausted attempts; idempotent passes."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.store.factories import add_customer
from zuora_workflow_sync.cli.scheduler import QueueCache
from zuora_workflow_sync.domain.models import RecordedRun, RunStatus
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.store.leases import LeaseRepository
from zuora_workflow_sync.store.runs import LeaseLostError
from zuora_workflow_sync.sync.repair import QueueOpener, RepairReport, exhausted_reason, repair

from .conftest import (
    SwitchableQueues,
    age_queued_run,
    claim,
    expire_run_lease,
    record_runs,
)

GRACE = 300.0


def _pass(runtime: Runtime, queues: QueueOpener, **options: Any) -> RepairReport:
    values: dict[str, Any] = {"stale_after_seconds": GRACE, **options}
    return repair(runtime, queues, **values)


def _pending(queues: QueueCache, runtime: Runtime) -> int:
    return queues(runtime.settings.default_queue).pending_count()


def test_repair_requeues_a_run_when_its_lease_expired_and_attempts_remain(
    runtime: Runtime, engine: Engine, queues: QueueCache
) -> None:
    (run,) = record_runs(runtime, [add_customer(engine).id])
    claim(runtime, run.run_id, "host:1:dead-worker")
    expire_run_lease(engine, run.run_id)

    report = _pass(runtime, queues)

    assert report.requeued_expired == [run.run_id] and report.acted == 1
    stored = runtime.ledger.get(run.run_id)
    assert stored is not None and stored.status is RunStatus.QUEUED
    assert (stored.attempt, stored.lease_owner, stored.lease_expires_at) == (1, None, None)
    assert _pending(queues, runtime) == 1
    again = claim(runtime, run.run_id, "host:2:Worker-1")
    assert again.attempt == 2


def test_repair_fences_out_the_lost_worker_when_its_run_was_requeued(
    runtime: Runtime, engine: Engine, queues: QueueCache
) -> None:
    (run,) = record_runs(runtime, [add_customer(engine).id])
    lost = claim(runtime, run.run_id, "host:1:dead-worker")
    expire_run_lease(engine, run.run_id)
    _pass(runtime, queues)

    with pytest.raises(LeaseLostError):
        runtime.ledger.finish_failed(run.run_id, lost.attempt, "RuntimeError", "woke up late")
    stored = runtime.ledger.get(run.run_id)
    assert stored is not None and stored.status is RunStatus.QUEUED


def test_repair_fails_the_run_with_the_reason_when_its_attempts_are_exhausted(
    runtime: Runtime, engine: Engine, queues: QueueCache
) -> None:
    customer = add_customer(engine)
    (run,) = record_runs(runtime, [customer.id], max_attempts=2)
    for worker in ("host:1:w1", "host:2:w2"):
        claim(runtime, run.run_id, worker)
        expire_run_lease(engine, run.run_id)

    report = _pass(runtime, queues)

    assert report.failed == [run.run_id] and not report.requeued_expired
    stored = runtime.ledger.get(run.run_id)
    assert stored is not None and stored.status is RunStatus.FAILED
    assert stored.error_message == "abandoned after 2 attempts: lease expired (worker lost)"
    assert stored.error_message == exhausted_reason(2)
    assert stored.error_class == "LeaseExpired" and stored.finished_at is not None
    refreshed = runtime.customers.get(customer.id)
    assert refreshed is not None and refreshed.consecutive_failures == 1
    assert _pending(queues, runtime) == 0
    assert runtime.ledger.claim(run.run_id, "host:3:w3", 60.0) is None


def test_repair_requeues_a_queued_run_when_the_broker_lost_its_job(
    runtime: Runtime, engine: Engine, queues: QueueCache
) -> None:
    (run,) = record_runs(runtime, [add_customer(engine).id])
    age_queued_run(engine, run.run_id, GRACE + 60)
    before = LeaseRepository(engine).now()

    report = _pass(runtime, queues)

    assert report.requeued_stale == [run.run_id]
    assert _pending(queues, runtime) == 1
    stored = runtime.ledger.get(run.run_id)
    assert stored is not None and stored.status is RunStatus.QUEUED and stored.attempt == 0
    assert stored.not_before_at >= before  # stale again only after another grace period
    assert claim(runtime, run.run_id).attempt == 1


def test_repair_leaves_a_queued_run_alone_when_it_is_within_the_grace_period(
    runtime: Runtime, engine: Engine, queues: QueueCache
) -> None:
    (run,) = record_runs(runtime, [add_customer(engine).id])
    age_queued_run(engine, run.run_id, GRACE - 60)

    report = _pass(runtime, queues)

    assert report == RepairReport()
    assert _pending(queues, runtime) == 0


def test_repair_leaves_a_running_run_alone_when_its_lease_is_alive(
    runtime: Runtime, engine: Engine, queues: QueueCache
) -> None:
    (run,) = record_runs(runtime, [add_customer(engine).id])
    claim(runtime, run.run_id)

    assert _pass(runtime, queues) == RepairReport()
    # A caller's clock far ahead finds the run, but the database clock decides (F20).
    ahead = LeaseRepository(engine).now() + timedelta(hours=2)
    report = _pass(runtime, queues, now=ahead)

    assert report.moved_on == [run.run_id] and report.acted == 0
    stored = runtime.ledger.get(run.run_id)
    assert stored is not None and stored.status is RunStatus.RUNNING and stored.attempt == 1


def test_repair_has_no_further_effect_when_run_twice(
    runtime: Runtime, engine: Engine, queues: QueueCache
) -> None:
    ids = [add_customer(engine, name=f"c{i}").id for i in range(3)]
    expired, stale, exhausted = record_runs(runtime, ids[:2]) + record_runs(
        runtime, ids[2:], max_attempts=1
    )
    for run in (expired, exhausted):
        claim(runtime, run.run_id)
        expire_run_lease(engine, run.run_id)
    age_queued_run(engine, stale.run_id, GRACE + 1)

    first = _pass(runtime, queues)
    ledger_after_first = runtime.ledger.list_runs()
    second = _pass(runtime, queues)

    assert (first.requeued_expired, first.requeued_stale, first.failed) == (
        [expired.run_id],
        [stale.run_id],
        [exhausted.run_id],
    )
    assert second == RepairReport()
    assert runtime.ledger.list_runs() == ledger_after_first
    assert _pending(queues, runtime) == 2


def test_repair_keeps_runs_in_the_ledger_when_their_queue_is_unavailable(
    runtime: Runtime, engine: Engine, queues: QueueCache
) -> None:
    ids = [add_customer(engine, name=f"c{i}").id for i in range(2)]
    lost_worker, lost_job = record_runs(runtime, ids)
    claim(runtime, lost_worker.run_id)
    expire_run_lease(engine, lost_worker.run_id)
    age_queued_run(engine, lost_job.run_id, GRACE + 1)
    broker = SwitchableQueues(queues)
    broker.down = True

    down = _pass(runtime, broker)

    assert sorted(down.enqueue_failed) == sorted(ids_of(lost_worker, lost_job))
    assert runtime.ledger.count_active([runtime.settings.default_queue]) == 2
    assert _pass(runtime, broker) == RepairReport()  # nothing to do within the grace period
    broker.down = False
    for run in (lost_worker, lost_job):
        age_queued_run(engine, run.run_id, GRACE + 1)  # the grace period passes
    up = _pass(runtime, broker)
    assert sorted(up.requeued_stale) == sorted(ids_of(lost_worker, lost_job))
    assert not up.enqueue_failed and _pending(queues, runtime) == 2


def ids_of(*runs: RecordedRun) -> list[int]:
    return [run.run_id for run in runs]


def test_repair_bounds_each_pass_when_more_runs_are_lost_than_the_batch(
    runtime: Runtime, engine: Engine, queues: QueueCache
) -> None:
    ids = [add_customer(engine, name=f"c{i}").id for i in range(5)]
    runs = record_runs(runtime, ids)
    for run in runs:
        age_queued_run(engine, run.run_id, GRACE + 1)

    passes = [_pass(runtime, queues, batch_size=2) for _ in range(4)]

    assert [len(report.requeued_stale) for report in passes] == [2, 2, 1, 0]
    repaired = [run_id for report in passes for run_id in report.requeued_stale]
    assert sorted(repaired) == sorted(run.run_id for run in runs)
    assert _pending(queues, runtime) == 5


def test_repair_logs_each_action_with_run_and_customer_when_it_acts(
    runtime: Runtime, engine: Engine, queues: QueueCache, caplog: pytest.LogCaptureFixture
) -> None:
    customer = add_customer(engine)
    (run,) = record_runs(runtime, [customer.id], max_attempts=1)
    claim(runtime, run.run_id)
    expire_run_lease(engine, run.run_id)

    with caplog.at_level(logging.INFO, logger="zuora_workflow_sync.sync.repair"):
        _pass(runtime, queues)

    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "run_failed"]
    assert record.levelno == logging.ERROR
    assert (getattr(record, "run_id", None), getattr(record, "customer_id", None)) == (
        run.run_id,
        customer.id,
    )
    assert "lease expired (worker lost)" in record.getMessage()


@pytest.mark.parametrize("options", [{"stale_after_seconds": 0}, {"batch_size": 0}])
def test_repair_refuses_when_its_bounds_are_not_positive(
    runtime: Runtime, queues: QueueCache, options: dict[str, float]
) -> None:
    with pytest.raises(ValueError):
        _pass(runtime, queues, **options)
