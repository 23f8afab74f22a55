"""Executing one sync run: claim, fetch from Zuora, then one fenced transaction, or a failure.

Nothing partial is ever written: workflows, history, tasks, tombstones, `last_synced_at` and the
run's own success are committed together, and only while the run's attempt (the fencing token)
still holds the lease. A failure is recorded with a redacted reason and no workflow rows.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from zuora_workflow_sync.domain.circuit import CircuitPolicy
from zuora_workflow_sync.domain.models import ClaimedRun, Customer, RunStatus, SyncCounts
from zuora_workflow_sync.domain.retry import JobRetryPolicy
from zuora_workflow_sync.errors import (
    AuthenticationError,
    PermissionDeniedError,
    WorkflowSyncError,
    ZuoraRetriableError,
)
from zuora_workflow_sync.monitoring import metrics
from zuora_workflow_sync.monitoring.logs import SECRETS, clean
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.store.circuit import PreviousState, RecordedFailure
from zuora_workflow_sync.store.engine import writing
from zuora_workflow_sync.store.runs import LeaseLostError
from zuora_workflow_sync.store.workflows import apply_sync
from zuora_workflow_sync.sync.client_factory import tenant_client
from zuora_workflow_sync.sync.fetch import FetchResult, KnownWorkflow, fetch_workflows
from zuora_workflow_sync.sync.session import JobSession

logger = logging.getLogger(__name__)

Requeue = Callable[[int, float], None]
_MAX_ERROR_CHARS = 1000


class JobTimeoutError(WorkflowSyncError):
    """The whole sync of a customer took longer than the job timeout."""


class JobInterruptedError(WorkflowSyncError):
    """The worker is shutting down and the sync did not finish within the grace period."""


@dataclass(frozen=True, slots=True)
class Shutdown:
    """How a worker's shutdown reaches a running job: its stop flag and the job's grace."""

    requested: threading.Event
    grace_seconds: float


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What happened to one run, for the caller's summary."""

    run_id: int
    customer_id: int | None
    status: str
    counts: SyncCounts
    duration_seconds: float
    error: str | None = None


def job_retry_policy(settings: Settings) -> JobRetryPolicy:
    """Which failed attempts are retried, and when: Zuora's retriable errors and the job
    timeout. A ProtocolError is not: a body that breaks Zuora's contract, an endless listing or
    an oversized response comes back the same minutes later."""
    return JobRetryPolicy(
        settings.retry_base_seconds,
        settings.retry_cap_seconds,
        retriable=(ZuoraRetriableError, JobTimeoutError),
    )


def circuit_policy(settings: Settings) -> CircuitPolicy:
    return CircuitPolicy(
        settings.circuit_failure_threshold,
        settings.circuit_cooldown_seconds,
        settings.circuit_cooldown_max_seconds,
    )


def execute_run(
    runtime: Runtime,
    run_id: int,
    *,
    worker_id: str,
    requeue: Requeue,
    shutdown: Shutdown | None = None,
    retry: bool = True,
    session: JobSession | None = None,
) -> RunOutcome:
    """Run `run_id` if it can be claimed; a duplicate or early delivery does nothing harmful.

    When `shutdown` is requested while Zuora is being read, the job gets its grace period to
    finish; past it, the fetch is cancelled and the lease given back (the run is queued again
    with the same attempt count, and re-enqueued), so no other worker waits for a lease to expire.
    An attempt that fails with a retriable error, while attempts are left, queues the run again
    after a jittered delay and re-enqueues its job through `requeue`; `retry=False` (inline
    runs, which have no queue to come back through) fails it at once instead. `session`: the
    worker thread's loop and connections, kept for its next job (else the job makes its own);
    when it `finishes_later`, the ledger transaction of a successful read is left to its
    finisher thread and the outcome returned is "finishing".
    """
    claimed, customer = _claim(runtime, run_id, worker_id)
    if claimed is None:
        return _not_claimed(runtime, run_id, requeue)
    if customer is None:  # removed since dispatch; its runs went with it
        return RunOutcome(run_id, claimed.customer_id, "skipped", SyncCounts(), 0.0)
    ending = _Ending(runtime, claimed, customer, requeue, retry, time.monotonic())
    try:
        result = _read_zuora(runtime, claimed, customer, shutdown, job_session=session)
    except Exception as exc:  # any failure ends the attempt, never a crash of the worker
        return ending.failed(exc)
    if session is not None and session.finishes_later:
        # The thread takes its next job while the session's finisher stores this one.
        session.finish_later(partial(_store_and_end, ending, result))
        return RunOutcome(claimed.run_id, customer.id, "finishing", SyncCounts(), ending.took())
    return _store_and_end(ending, result)


def _claim(
    runtime: Runtime, run_id: int, worker_id: str
) -> tuple[ClaimedRun | None, Customer | None]:
    """The claim and its customer's row in one transaction: one connection check-out and one
    commit before the first request to Zuora, not two."""
    with writing(runtime.engine) as conn:
        claimed = runtime.ledger.claim(run_id, worker_id, runtime.settings.lease_seconds, bind=conn)
        if claimed is None:
            return None, None
        return claimed, runtime.customers.get(claimed.customer_id, bind=conn)


@dataclass(frozen=True, slots=True)
class _Ending:
    """How an attempt ends, once Zuora has been read or has failed."""

    runtime: Runtime
    claimed: ClaimedRun
    customer: Customer
    requeue: Requeue
    retry: bool
    started: float

    def took(self) -> float:
        return time.monotonic() - self.started

    def failed(self, exc: Exception) -> RunOutcome:
        runtime, claimed, customer, took = self.runtime, self.claimed, self.customer, self.took()
        if isinstance(exc, LeaseLostError):
            return _lease_lost(claimed, customer, took)
        if isinstance(exc, JobInterruptedError):
            return _released(runtime, claimed, customer, self.requeue, took)
        if isinstance(exc, OperationalError | PoolTimeoutError):
            # The database itself failed (restart, lost connection, no free connection in the
            # pool): the customer did nothing wrong, so record nothing (it would count towards
            # its circuit breaker); the lease expires and the reaper re-queues the run.
            return _database_failed(claimed, customer, exc, took)
        if self.retry:
            retried = _retried(runtime, claimed, customer, exc, self.requeue, took)
            if retried is not None:
                return retried
        return _failed(runtime, claimed, customer, exc, took)


def _store_and_end(ending: _Ending, result: FetchResult) -> RunOutcome:
    """The fenced transaction of a successful read, then the attempt's outcome."""
    try:
        counts, previous = _store(ending.runtime, ending.claimed, ending.customer, result)
    except Exception as exc:
        return ending.failed(exc)
    return _succeeded(
        ending.runtime, ending.claimed, ending.customer, counts, previous, ending.took()
    )


def _read_zuora(
    runtime: Runtime,
    claimed: ClaimedRun,
    customer: Customer,
    shutdown: Shutdown | None,
    *,
    job_session: JobSession | None,
) -> FetchResult:
    secret = runtime.keyring.decrypt(customer.client_secret_encrypted)
    SECRETS.register(secret.get_secret_value())
    fetch = _fetch(runtime, claimed, customer, secret.get_secret_value(), job_session)
    work = _interruptible(fetch, shutdown)
    return asyncio.run(work) if job_session is None else job_session.run(work)


def _store(
    runtime: Runtime, claimed: ClaimedRun, customer: Customer, result: FetchResult
) -> tuple[SyncCounts, PreviousState | None]:
    with Session(runtime.engine) as session, session.begin():
        runtime.ledger.fence(session, claimed.run_id, claimed.attempt)
        counts = apply_sync(
            session,
            customer.id,
            claimed.run_id,
            result.fetched,
            result.listed_ids,
            True,  # fetch_workflows returns only after a complete listing
            datetime.now(UTC),
        )
        counts = result.with_requests(counts)
        previous = runtime.customers.record_success(session.connection(), customer.id)
        runtime.ledger.finish_succeeded(session, claimed.run_id, claimed.attempt, counts)
    return counts, previous


async def _fetch(
    runtime: Runtime,
    claimed: ClaimedRun,
    customer: Customer,
    secret: str,
    session: JobSession | None,
) -> FetchResult:
    settings = runtime.settings
    track_id = f"zws-run-{claimed.run_id}-{claimed.attempt}"
    try:
        async with asyncio.timeout(settings.job_timeout_seconds):
            async with tenant_client(
                settings,
                customer,
                secret,
                keyring=runtime.keyring,
                track_id=track_id,
                session=session,
            ) as client:
                # An incremental sync reads what it knows while the listing is on its way.
                known = (
                    None
                    if claimed.full_export
                    else asyncio.ensure_future(asyncio.to_thread(_known, runtime, customer.id))
                )
                return await fetch_workflows(
                    client, known, export_concurrency=settings.export_concurrency
                )
    except TimeoutError:
        raise JobTimeoutError(
            f"the sync took longer than the job timeout of {settings.job_timeout_seconds:g}s"
        ) from None


def _known(runtime: Runtime, customer_id: int) -> dict[int, KnownWorkflow]:
    return {
        zuora_id: KnownWorkflow(state.active_version, state.zuora_updated_at, state.alive)
        for zuora_id, state in runtime.workflows.incremental_state(customer_id).items()
    }


async def _interruptible(
    work: Coroutine[Any, Any, FetchResult], shutdown: Shutdown | None
) -> FetchResult:
    """Await `work`, unless a shutdown is requested and its grace period runs out first."""
    if shutdown is None:
        return await work
    task = asyncio.create_task(work)
    watcher = asyncio.create_task(_grace_expired(shutdown))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise JobInterruptedError("the worker shut down before the sync finished")
    return task.result()


async def _grace_expired(shutdown: Shutdown) -> None:
    while not shutdown.requested.is_set():
        await asyncio.sleep(0.1)
    await asyncio.sleep(shutdown.grace_seconds)


def _released(
    runtime: Runtime, claimed: ClaimedRun, customer: Customer, requeue: Requeue, took: float
) -> RunOutcome:
    """Give the lease back and put the job on the queue again for another worker."""
    if runtime.ledger.release(claimed.run_id, claimed.attempt):
        requeue(claimed.run_id, 0.0)
        status = "released"
    else:
        status = "lease_lost"
    logger.warning(
        "run %s attempt %s interrupted by shutdown: lease %s",
        claimed.run_id,
        claimed.attempt,
        "given back" if status == "released" else "already lost",
        extra={"run_id": claimed.run_id, "customer_id": customer.id, "outcome": status},
    )
    return RunOutcome(claimed.run_id, customer.id, status, SyncCounts(), took)


def _not_claimed(runtime: Runtime, run_id: int, requeue: Requeue) -> RunOutcome:
    run = runtime.ledger.get(run_id)
    if run is not None and run.status is RunStatus.QUEUED:
        wait = (run.not_before_at - datetime.now(UTC)).total_seconds()
        if wait > 0:  # delivered early (clock difference): come back when it is due
            requeue(run_id, wait + 0.5)
            return RunOutcome(run_id, run.customer_id, "requeued", SyncCounts(), 0.0)
    status = run.status.value if run is not None else "missing"
    logger.info(
        "run %s not claimed (status %s): nothing to do", run_id, status, extra={"run_id": run_id}
    )
    return RunOutcome(run_id, run.customer_id if run else None, "not_claimed", SyncCounts(), 0.0)


def _succeeded(
    runtime: Runtime,
    claimed: ClaimedRun,
    customer: Customer,
    counts: SyncCounts,
    previous: PreviousState | None,
    took: float,
) -> RunOutcome:
    _log_attempt(claimed, customer, "succeeded", took, counts)
    if previous is not None:
        runtime.failure_alerts().after_success(
            customer.id, customer.name, previous.consecutive_failures, previous.circuit
        )
    return RunOutcome(claimed.run_id, customer.id, "succeeded", counts, took)


def _retried(
    runtime: Runtime,
    claimed: ClaimedRun,
    customer: Customer,
    exc: Exception,
    requeue: Requeue,
    took: float,
) -> RunOutcome | None:
    """Queue the run again for a later attempt when the policy says so; None when it does not.

    The customer's failures are not counted: only a run's final failure counts (and can open
    its circuit). The ledger write is fenced; the job is re-enqueued only after it.
    """
    decision = job_retry_policy(runtime.settings).decide(
        exc, claimed.attempt, claimed.max_attempts, random.Random()
    )
    if not decision.retry:
        return None
    reason = _reason(exc)
    delay = decision.delay_seconds
    if not runtime.ledger.retry_later(
        claimed.run_id, claimed.attempt, delay, type(exc).__name__, reason
    ):
        return _lease_lost(claimed, customer, took)
    try:
        requeue(claimed.run_id, delay)
    except WorkflowSyncError as requeue_error:
        # The run is queued in the ledger: the reaper re-enqueues it once it is stale.
        logger.warning(
            "run %s: could not re-enqueue its retry (%s); the reaper will",
            claimed.run_id,
            type(requeue_error).__name__,
            extra={"run_id": claimed.run_id, "customer_id": customer.id},
        )
    _log_attempt(claimed, customer, "retrying", took, SyncCounts(), error=reason, exc=exc)
    return RunOutcome(claimed.run_id, customer.id, "retrying", SyncCounts(), took, reason)


def _failed(
    runtime: Runtime, claimed: ClaimedRun, customer: Customer, exc: Exception, took: float
) -> RunOutcome:
    """End the run failed, count the customer's failure and move its circuit, in one
    transaction; alert when that opened the circuit."""
    reason = _reason(exc)
    try:
        with writing(runtime.engine) as conn:
            runtime.ledger.fail_attempt(
                conn, claimed.run_id, claimed.attempt, type(exc).__name__, reason
            )
            recorded = runtime.customers.record_failure(
                conn,
                customer.id,
                circuit_policy(runtime.settings),
                datetime.now(UTC),
                hold=isinstance(exc, AuthenticationError | PermissionDeniedError),
                attention=_attention_reason(exc),
            )
    except LeaseLostError:
        return _lease_lost(claimed, customer, took)
    _log_attempt(claimed, customer, "failed", took, SyncCounts(), error=reason, exc=exc)
    if recorded is not None:
        _alert_failure(runtime, customer, recorded, reason)
    return RunOutcome(claimed.run_id, customer.id, "failed", SyncCounts(), took, reason)


def _alert_failure(
    runtime: Runtime, customer: Customer, recorded: RecordedFailure, reason: str
) -> None:
    change = recorded.change
    if change.event is not None:
        logger.warning(
            "circuit of customer %s %s: %s",
            customer.id,
            change.event.value,
            change.circuit.describe(datetime.now(UTC)),
            extra={"event": "circuit_" + change.event.value, "customer_id": customer.id},
        )
    runtime.failure_alerts().after_failure(
        customer.id, customer.name, recorded.consecutive_failures, reason, change
    )


def _reason(exc: Exception) -> str:
    return clean(str(exc) or type(exc).__name__)[:_MAX_ERROR_CHARS]


def _database_failed(
    claimed: ClaimedRun, customer: Customer, exc: SQLAlchemyError, took: float
) -> RunOutcome:
    cause = getattr(exc, "orig", None)
    logger.warning(
        "run %s attempt %s stopped by a database error (%s); the reaper will retry it",
        claimed.run_id,
        claimed.attempt,
        type(cause).__name__ if cause is not None else type(exc).__name__,
        extra={"run_id": claimed.run_id, "customer_id": customer.id},
    )
    return RunOutcome(claimed.run_id, customer.id, "database_error", SyncCounts(), took)


def _lease_lost(claimed: ClaimedRun, customer: Customer, took: float) -> RunOutcome:
    logger.warning(
        "run %s attempt %s lost its lease; its results were discarded",
        claimed.run_id,
        claimed.attempt,
        extra={"run_id": claimed.run_id, "customer_id": customer.id},
    )
    return RunOutcome(claimed.run_id, customer.id, "lease_lost", SyncCounts(), took)


def _attention_reason(exc: Exception) -> str | None:
    if isinstance(exc, PermissionDeniedError):
        return "the Zuora user lacks Workflow View Access"
    if isinstance(exc, AuthenticationError):
        return "Zuora rejected the client credentials"
    return None


def _log_attempt(
    claimed: ClaimedRun,
    customer: Customer,
    outcome: str,
    took: float,
    counts: SyncCounts,
    *,
    error: str | None = None,
    exc: Exception | None = None,
) -> None:
    """The one structured line per attempt that the specification's monitoring asks for."""
    metrics.run_finished(outcome, took)
    level = {"succeeded": logging.INFO, "retrying": logging.WARNING}.get(outcome, logging.ERROR)
    logger.log(
        level,
        "sync run %s for customer %s %s",
        claimed.run_id,
        customer.id,
        outcome,
        extra={
            "event": "sync_run_finished",
            "run_id": claimed.run_id,
            "customer_id": customer.id,
            "attempt": claimed.attempt,
            "outcome": outcome,
            "duration_seconds": round(took, 3),
            "counts": asdict(counts),
            "error_class": type(exc).__name__ if exc is not None else None,
            "error": error,
        },
    )
