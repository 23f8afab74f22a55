"""Dispatch through `enqueue_many`: one bulk call a batch; a refused batch is abandoned."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.queue import JobQueue, QueueUnavailableError, open_queue
from zuora_workflow_sync.runtime import Runtime, build_runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.sync.dispatch import (
    SAMPLE_SIZE,
    Dispatcher,
    DispatchOptions,
    QueueUnavailableAtDispatchError,
    Tally,
)

CUSTOMERS = 7
BATCH = 3


class RefusingQueue:
    """A real queue whose bulk call fails from the `refuse_from`-th batch on (disk full)."""

    def __init__(self, queue: JobQueue, refuse_from: int) -> None:
        self.queue = queue
        self.batches: list[list[tuple[int, float]]] = []
        self._refuse_from = refuse_from

    def ping(self) -> None:
        self.queue.ping()

    def enqueue(self, run_id: int, delay_seconds: float = 0.0) -> None:
        raise AssertionError("dispatch enqueues in bulk only")

    def enqueue_many(self, items: Iterable[tuple[int, float]]) -> None:
        self.batches.append(list(items))
        if len(self.batches) >= self._refuse_from:
            raise QueueUnavailableError("database or disk is full", queue=self.queue.name)
        self.queue.enqueue_many(self.batches[-1])


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(
        home=tmp_path, secret_keys=SecretStr(Keyring.generate_key()), dispatch_batch_size=BATCH
    )
    with build_runtime(settings) as built:
        for index in range(CUSTOMERS):
            built.customers.add(
                f"customer {index}",
                zuora_base_url="https://rest.test.zuora.com",
                client_id="client",
                client_secret_encrypted="not-used-here",
            )
        yield built


@pytest.fixture
def job_queue(runtime: Runtime) -> Iterator[JobQueue]:
    queue = open_queue(runtime.settings.resolved_queue_url, "workflows")
    yield queue
    queue.close()


@pytest.fixture(params=[1, 2], ids=["one recorder", "two recorders"])
def recorders(request: pytest.FixtureRequest) -> int:
    """Batches recorded at once: SQLite's one writer, or PostgreSQL's two connections (here on
    SQLite, whose lock serializes them: the order of events is what is tested)."""
    value: int = request.param
    return value


def _dispatch(
    runtime: Runtime, queue: RefusingQueue, recorders: int = 1
) -> tuple[Dispatcher, list[str]]:
    said: list[str] = []
    dispatcher = Dispatcher(
        runtime, queue, (QueueUnavailableError,), say=said.append, recorders=recorders
    )
    return dispatcher, said


def _statuses(runtime: Runtime) -> dict[RunStatus, int]:
    counts: dict[RunStatus, int] = {}
    for run in runtime.ledger.list_runs(limit=100):
        counts[run.status] = counts.get(run.status, 0) + 1
    return counts


def test_each_batch_is_one_bulk_call_with_its_stagger_when_dispatching_all(
    runtime: Runtime, job_queue: JobQueue, recorders: int
) -> None:
    queue = RefusingQueue(job_queue, refuse_from=99)
    dispatcher, said = _dispatch(runtime, queue, recorders)

    result = dispatcher.dispatch(DispatchOptions(customer_id=None))

    assert [len(batch) for batch in queue.batches] == [3, 3, 1]
    assert all(1.0 <= delay <= 60.0 for batch in queue.batches for _, delay in batch)
    assert len(result.queued) == result.dispatched == CUSTOMERS and result.inline == []
    assert [run.run_id for run in result.queued.sample] == [
        run_id for batch in queue.batches for run_id, _ in batch
    ]
    assert job_queue.scheduled_count() == CUSTOMERS
    assert said[-1] == f"Sync jobs dispatched for {CUSTOMERS} customers"


def test_refused_batch_is_abandoned_and_run_inline_when_the_bulk_call_fails(
    runtime: Runtime, job_queue: JobQueue, recorders: int
) -> None:
    queue = RefusingQueue(job_queue, refuse_from=2)
    dispatcher, said = _dispatch(runtime, queue, recorders)

    result = dispatcher.dispatch(DispatchOptions(customer_id=None))

    assert len(queue.batches) == 2  # the third batch is not offered to a failed queue
    assert len(result.queued) == BATCH and len(result.inline) == CUSTOMERS - BATCH
    assert result.queue_error == "database or disk is full"
    assert "Queue unavailable (database or disk is full); running sync inline" in said
    refused = {run_id for run_id, _ in queue.batches[1]}
    abandoned = [run for run in runtime.ledger.list_runs() if run.status is RunStatus.ABANDONED]
    # The third batch was recorded while the queue was refusing the second: it never reached
    # the queue either, so it is abandoned with the same reason and run inline.
    assert refused < {run.id for run in abandoned}
    assert {run.customer_id for run in abandoned if run.id not in refused} == {CUSTOMERS}
    reason = "queue unavailable: database or disk is full"
    assert all(run.error_message == reason for run in abandoned)
    assert _statuses(runtime) == {RunStatus.QUEUED: CUSTOMERS, RunStatus.ABANDONED: BATCH + 1}
    assert {run.customer_id for run in result.inline} == set(range(BATCH + 1, CUSTOMERS + 1))
    assert job_queue.scheduled_count() == BATCH


def test_refused_batch_is_abandoned_and_dispatch_fails_when_fallback_is_off(
    runtime: Runtime, job_queue: JobQueue, recorders: int
) -> None:
    queue = RefusingQueue(job_queue, refuse_from=1)
    dispatcher, _ = _dispatch(runtime, queue, recorders)

    with pytest.raises(QueueUnavailableAtDispatchError):
        dispatcher.dispatch(DispatchOptions(customer_id=None, fallback=False))

    # The refused batch and those recorded meanwhile (one, or with two recorders the other
    # two); nothing after that is recorded, and no run is left queued without a job.
    recorded_meanwhile = {1: BATCH, 2: CUSTOMERS - BATCH}[recorders]
    assert _statuses(runtime) == {RunStatus.ABANDONED: BATCH + recorded_meanwhile}
    reason = "queue unavailable: database or disk is full"
    assert all(run.error_message == reason for run in runtime.ledger.list_runs())
    assert len(queue.batches) == 1
    assert job_queue.scheduled_count() == 0


def test_one_customer_is_sent_in_one_bulk_call_without_delay(
    runtime: Runtime, job_queue: JobQueue
) -> None:
    queue = RefusingQueue(job_queue, refuse_from=99)
    dispatcher, said = _dispatch(runtime, queue)

    result = dispatcher.dispatch(DispatchOptions(customer_id=1))

    assert len(queue.batches) == 1 and queue.batches[0][0][1] == 0.0
    assert len(result.queued) == 1 and job_queue.pending_count() == 1
    assert said[-1] == "Sync job dispatched for customer: customer 0"


def test_tally_counts_everything_but_keeps_a_bounded_sample() -> None:
    tally: Tally[int] = Tally()

    for start in range(0, 1000, 300):
        tally.add(list(range(start, min(start + 300, 1000))))

    assert len(tally) == tally.count == 1000
    assert tally.sample == list(range(SAMPLE_SIZE))
