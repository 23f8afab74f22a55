"""Dispatch and its dry run skip customers whose circuit is open or held, and say why; a
circuit past its cool-down lets the dispatch through as the probe. On both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.backends import Backend
from tests.store.factories import add_many_customers
from zuora_workflow_sync.queue import JobQueue, QueueUnavailableError, open_queue
from zuora_workflow_sync.runtime import Runtime, build_runtime
from zuora_workflow_sync.store.tables import CustomerRow
from zuora_workflow_sync.sync.dispatch import Dispatcher, DispatchOptions, DispatchResult
from zuora_workflow_sync.sync.preview import preview

from .conftest import make_settings

NOW = datetime(2026, 11, 29, 12, 0, 30, tzinfo=UTC)
HELD = (
    "circuit open until the credentials change or an operator resets it "
    "(workflow-sync customers reset {id})"
)


@pytest.fixture
def runtime(tmp_path: Path, backend: Backend) -> Iterator[Runtime]:
    with build_runtime(make_settings(tmp_path, **backend.settings_fields)) as built:
        add_many_customers(built.engine, 4)
        yield built


@pytest.fixture
def job_queue(runtime: Runtime) -> Iterator[JobQueue]:
    queue = open_queue(runtime.settings.resolved_queue_url, "workflows")
    yield queue
    queue.close()


def _set_circuit(runtime: Runtime, customer_id: int, **columns: Any) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(update(CustomerRow).where(CustomerRow.id == customer_id).values(**columns))


def _dispatch(
    runtime: Runtime, queue: JobQueue, now: datetime = NOW, **options: Any
) -> tuple[DispatchResult, list[str]]:
    said: list[str] = []
    dispatcher = Dispatcher(runtime, queue, (QueueUnavailableError,), say=said.append, now=now)
    result = dispatcher.dispatch(DispatchOptions(**{"customer_id": None, **options}))
    return result, said


def _dispatched_customers(runtime: Runtime) -> list[int]:
    return sorted(run.customer_id for run in runtime.ledger.list_runs(limit=100))


def test_open_and_held_circuits_are_skipped_with_their_reason_even_with_force(
    runtime: Runtime, job_queue: JobQueue
) -> None:
    _set_circuit(runtime, 2, circuit_open_until=NOW + timedelta(minutes=10), circuit_opened_count=1)
    _set_circuit(runtime, 3, circuit_held=True, circuit_opened_count=1)

    result, said = _dispatch(runtime, job_queue, force=True)

    assert _dispatched_customers(runtime) == [1, 4]
    assert len(result.skipped_circuit) == 2 and result.dispatched == 2
    assert said[0] == "Skipped 2 customers whose circuit is open"
    assert said[1] == "  customer-000001 (customer 2): circuit open until 2026-11-29 12:11 UTC"
    assert said[2] == f"  customer-000002 (customer 3): {HELD.format(id=3)}"
    assert said[-1] == "Sync jobs dispatched for 2 customers"


def test_a_named_customer_with_an_open_circuit_is_not_dispatched(
    runtime: Runtime, job_queue: JobQueue
) -> None:
    _set_circuit(runtime, 3, circuit_held=True, circuit_opened_count=1)

    result, said = _dispatch(runtime, job_queue, customer_id=3, force=True)

    assert _dispatched_customers(runtime) == []
    assert result.dispatched == 0 and len(result.skipped_circuit) == 1
    assert said == [f"Customer customer-000002 skipped: {HELD.format(id=3)}"]


def test_a_circuit_past_its_cool_down_lets_the_dispatch_through_as_its_probe(
    runtime: Runtime, job_queue: JobQueue
) -> None:
    _set_circuit(runtime, 2, circuit_open_until=NOW + timedelta(minutes=10), circuit_opened_count=1)

    _, said = _dispatch(runtime, job_queue, now=NOW + timedelta(minutes=10, seconds=1))

    assert _dispatched_customers(runtime) == [1, 2, 3, 4]
    assert said[-1] == "Sync jobs dispatched for 4 customers"


def test_the_dry_run_names_the_open_circuit(runtime: Runtime) -> None:
    _set_circuit(runtime, 2, circuit_open_until=NOW + timedelta(minutes=10), circuit_opened_count=1)

    lines = {line.customer_id: line for line in preview(runtime, None, NOW, force=False)}

    assert lines[2].action == "skip"
    assert lines[2].reason == "circuit open until 2026-11-29 12:11 UTC"
    assert {lines[n].action for n in (1, 3, 4)} == {"dispatch"}
