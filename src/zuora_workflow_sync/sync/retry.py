"""Retrying failed or abandoned runs (`workflow-sync retry`, the dashboard's Retry): a new run
(trigger "retry") is recorded in the ledger first, then enqueued by id on the queue of the run
it retries. A customer that already has a queued or running run is skipped, so a repeated
retry never doubles a sync.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NoReturn

from zuora_workflow_sync.domain.models import (
    Customer,
    CustomerStatus,
    RunRequest,
    RunStatus,
    RunTrigger,
    SyncRun,
)
from zuora_workflow_sync.errors import ConfigurationError, WorkflowSyncError
from zuora_workflow_sync.runtime import Runtime, operator_identity
from zuora_workflow_sync.store.customers import CustomerNotFoundError
from zuora_workflow_sync.sync.dispatch import Say

if TYPE_CHECKING:
    from zuora_workflow_sync.queue.app import JobQueue

RETRYABLE = (RunStatus.FAILED, RunStatus.ABANDONED)
_PAGE_SIZE = 500


def _active_customer_pages(runtime: Runtime) -> Iterator[list[Customer]]:
    after_id = 0
    while page := runtime.customers.list(
        status=CustomerStatus.ACTIVE, after_id=after_id, limit=_PAGE_SIZE
    ):
        yield page
        after_id = page[-1].id


def retry_run(runtime: Runtime, run_id: int, *, say: Say, dispatched_by: str | None = None) -> int:
    """Retry one failed or abandoned run: its new run's id (ConfigurationError when the run
    is not retryable or its customer not active; a customer with an active run is skipped
    and the active run's id returned)."""
    run = runtime.ledger.get(run_id)
    if run is None:
        raise ConfigurationError(f"no run with id {run_id}")
    if run.status not in RETRYABLE:
        raise ConfigurationError(
            f"run {run_id} is {run.status.value}; only failed or abandoned runs are retried"
        )
    customer = runtime.customers.get(run.customer_id)
    if customer is None:
        raise CustomerNotFoundError(f"no customer with id {run.customer_id}")
    if customer.sync_status is not CustomerStatus.ACTIVE:
        raise ConfigurationError(
            f"customer {customer.id} is {customer.sync_status.value}; make it active first: "
            f"workflow-sync customers set-status {customer.id} active"
        )
    with closing(_Queues(runtime.settings.resolved_queue_url)) as queues:
        sent = _dispatch(runtime, queues.get(run.queue), [(run, customer)], say, dispatched_by)
    if sent:
        return sent[0]
    return runtime.ledger.active_run_ids([customer.id]).get(customer.id, run.id)


def retry_all_failed(runtime: Runtime, queue: str | None, *, say: Say) -> tuple[int, int]:
    """Retry every active customer whose newest run (of `queue`) failed or was abandoned:
    (runs retried, customers skipped for an active run)."""
    retried = skipped = 0
    with closing(_Queues(runtime.settings.resolved_queue_url)) as queues:
        for page in _active_customer_pages(runtime):
            latest = runtime.ledger.latest_runs([customer.id for customer in page])
            by_queue: defaultdict[str, list[tuple[SyncRun, Customer]]] = defaultdict(list)
            for customer in page:
                run = latest.get(customer.id)
                if run is not None and run.status in RETRYABLE and queue in (None, run.queue):
                    by_queue[run.queue].append((run, customer))
            for name, failed in by_queue.items():
                done = _dispatch(runtime, queues.get(name), failed, say, None)
                retried, skipped = retried + len(done), skipped + len(failed) - len(done)
    return retried, skipped


class _Queues:
    """The job queues one command sends to, each opened and pinged on first use."""

    def __init__(self, queue_url: str) -> None:
        self._url = queue_url
        self._opened: dict[str, JobQueue] = {}

    def get(self, name: str) -> JobQueue:
        if name not in self._opened:
            # Imported here: only this command of the module needs the queue (and huey).
            from zuora_workflow_sync.queue.app import open_queue

            self._opened[name] = open_queue(self._url, name)
            self._opened[name].ping()
        return self._opened[name]

    def close(self) -> None:
        for job_queue in self._opened.values():
            job_queue.close()


def _dispatch(
    runtime: Runtime,
    job_queue: JobQueue,
    failed: list[tuple[SyncRun, Customer]],
    say: Say,
    dispatched_by: str | None,
) -> list[int]:
    """Record a retry run per customer of `failed`, then enqueue each: the new run ids."""
    old = {customer.id: (run, customer) for run, customer in failed}
    now = datetime.now(UTC)
    result = runtime.ledger.record_batch(
        [RunRequest(run.customer_id, now, run.full_export) for run, _ in failed],
        queue=job_queue.name,
        trigger=RunTrigger.RETRY,
        dispatched_by=dispatched_by or operator_identity(),
        max_attempts=runtime.settings.max_attempts,
    )
    for position, recorded in enumerate(result.recorded):
        try:
            job_queue.enqueue(recorded.run_id)
        except WorkflowSyncError as exc:
            _abandon_unsent(runtime, [unsent.run_id for unsent in result.recorded[position:]], exc)
        run, customer = old[recorded.customer_id]
        say(f"Retried run {run.id} as run {recorded.run_id} for customer: {customer.name}")
    for customer_id in result.skipped_customer_ids:
        name = old[customer_id][1].name
        say(f"Customer {customer_id} ({name}) already has an active run; skipped")
    return [recorded.run_id for recorded in result.recorded]


def _abandon_unsent(runtime: Runtime, run_ids: list[int], exc: WorkflowSyncError) -> NoReturn:
    """The queue failed mid-batch: the runs it did not take end abandoned, with the reason,
    so no customer is left with a queued run no worker will see; a rerun retries them."""
    runtime.ledger.abandon_undispatched(run_ids, f"queue unavailable: {exc}")
    raise WorkflowSyncError(
        f"queue unavailable ({exc}); {len(run_ids)} retry runs not enqueued (recorded as "
        "abandoned): rerun this command when the queue is back"
    ) from None
