"""The reaper counts a run it fails (out of attempts after lost workers) against the circuit:
at the threshold the circuit opens, as for a run that failed in a worker."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from tests.store.factories import add_customer
from zuora_workflow_sync.cli.scheduler import QueueCache
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.sync.repair import repair

from .conftest import claim, expire_run_lease, make_settings, record_runs


def test_reaper_failure_opens_the_circuit_when_it_is_the_kth_in_a_row(
    tmp_path: Path, engine: Engine, queues: QueueCache
) -> None:
    runtime = Runtime(make_settings(tmp_path, circuit_failure_threshold=2), engine)
    customer = add_customer(engine)
    for failed in (1, 2):
        (run,) = record_runs(runtime, [customer.id], max_attempts=1)
        claim(runtime, run.run_id, "host:1:dead-worker")
        expire_run_lease(engine, run.run_id)

        report = repair(runtime, queues, stale_after_seconds=300.0)

        assert report.failed == [run.run_id]
        stored = runtime.customers.get(customer.id)
        assert stored is not None and stored.consecutive_failures == failed
    assert stored is not None
    assert stored.circuit_open_until is not None and stored.circuit_opened_count == 1
    assert not stored.circuit_held
