"""How one attempt of a sync run ends: the fenced ledger write of each outcome, and its log line.

Succeeded, retried later, deferred (pacing alone held it back: no attempt is counted and the
customer's circuit does not move), failed (the customer's failure is counted with its circuit;
not when the encryption keys could not open its secret: that is the operator's problem),
released (a shutdown), or dropped without a write (its lease was lost, or the database failed).
Every write presents the attempt, so an attempt that lost its run writes nothing.
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict, dataclass, field

from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from zuora_workflow_sync.domain.circuit import CircuitPolicy
from zuora_workflow_sync.domain.clock import SYSTEM_CLOCK, Clock
from zuora_workflow_sync.domain.models import ClaimedRun, Customer, OutcomeStatus, SyncCounts
from zuora_workflow_sync.domain.retry import JobRetryPolicy
from zuora_workflow_sync.errors import (
    AuthenticationError,
    BadRequestError,
    PacedTooLongError,
    PermissionDeniedError,
    WorkflowSyncError,
    ZuoraError,
    ZuoraRetriableError,
)
from zuora_workflow_sync.monitoring import metrics
from zuora_workflow_sync.monitoring.logs import clean
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.store.circuit import PreviousState, RecordedFailure
from zuora_workflow_sync.store.engine import writing
from zuora_workflow_sync.store.runs import LeaseLostError
from zuora_workflow_sync.store.secrets import SecretsError
from zuora_workflow_sync.sync.heartbeat import HeldRun, Requeue
from zuora_workflow_sync.sync.progress import JobProgress

logger = logging.getLogger("zuora_workflow_sync.sync.job")

_MAX_ERROR_CHARS = 1000


class JobTimeoutError(WorkflowSyncError):
    """No Zuora reply for too long, or a sync over its cap (pacing waits excluded from both)."""


class JobInterruptedError(WorkflowSyncError):
    """The worker is shutting down and the sync did not finish within the grace period."""


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What happened to one run, for the caller's summary."""

    run_id: int
    customer_id: int | None
    status: OutcomeStatus
    counts: SyncCounts
    duration_seconds: float
    error: str | None = None


def job_retry_policy(settings: Settings) -> JobRetryPolicy:
    """Which failed attempts are retried, and when: Zuora's retriable errors and the job
    timeouts. A ProtocolError is not: a body that breaks Zuora's contract, an endless listing or
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


@dataclass(frozen=True, slots=True)
class AttemptEnd:
    """One claimed attempt, once Zuora has been read or has failed: how it ends."""

    runtime: Runtime
    claimed: ClaimedRun
    customer: Customer
    requeue: Requeue
    retry: bool
    started: float
    held: HeldRun
    progress: JobProgress
    clock: Clock = SYSTEM_CLOCK
    rng: random.Random = field(default_factory=random.Random)

    def took(self) -> float:
        return self.clock.monotonic() - self.started

    def pacing_wait(self) -> float:
        return self.progress.pacing_wait_seconds()

    def failed(self, exc: Exception) -> RunOutcome:
        self.held.ending = True
        if isinstance(exc, LeaseLostError):
            return lease_lost(self)
        if isinstance(exc, JobInterruptedError):
            return _released(self)
        if isinstance(exc, OperationalError | PoolTimeoutError):
            # The database itself failed (restart, lost connection, no free connection in the
            # pool): the customer did nothing wrong, so record nothing (it would count towards
            # its circuit breaker); the lease expires and the reaper re-queues the run.
            return _database_failed(self, exc)
        if isinstance(exc, SecretsError):
            return _key_problem(self, exc)
        if isinstance(exc, PacedTooLongError):
            return _deferred(self, exc) if self.retry else _failed(self, exc, counted=False)
        if self.retry:
            retried = _retried(self, exc)
            if retried is not None:
                return retried
        return _failed(self, exc, counted=True)

    def succeeded(self, counts: SyncCounts, previous: PreviousState | None) -> RunOutcome:
        _log_attempt(self, OutcomeStatus.SUCCEEDED, counts)
        if previous is not None:
            self.runtime.failure_alerts().after_success(
                self.customer.id,
                self.customer.name,
                previous.consecutive_failures,
                previous.circuit,
            )
        return self.outcome(OutcomeStatus.SUCCEEDED, counts)

    def outcome(
        self, status: OutcomeStatus, counts: SyncCounts | None = None, error: str | None = None
    ) -> RunOutcome:
        counts = counts or SyncCounts()
        return RunOutcome(self.claimed.run_id, self.customer.id, status, counts, self.took(), error)


def lease_lost(end: AttemptEnd) -> RunOutcome:
    why = "was given back at a hard stop" if end.held.given_back else "lost its lease"
    logger.warning(
        "run %s attempt %s %s; its results were discarded",
        end.claimed.run_id,
        end.claimed.attempt,
        why,
        extra={"run_id": end.claimed.run_id, "customer_id": end.customer.id},
    )
    return end.outcome(OutcomeStatus.RELEASED if end.held.given_back else OutcomeStatus.LEASE_LOST)


def _released(end: AttemptEnd) -> RunOutcome:
    """Give the lease back and put the job on the queue again for another worker."""
    claimed = end.claimed
    wait = end.pacing_wait()
    if end.runtime.ledger.release(claimed.run_id, claimed.attempt, pacing_wait_seconds=wait):
        end.requeue(claimed.run_id, 0.0)
        status = OutcomeStatus.RELEASED
    else:
        status = OutcomeStatus.LEASE_LOST
    logger.warning(
        "run %s attempt %s interrupted by shutdown: lease %s",
        claimed.run_id,
        claimed.attempt,
        "given back" if status is OutcomeStatus.RELEASED else "already lost",
        extra={"run_id": claimed.run_id, "customer_id": end.customer.id, "outcome": status},
    )
    return end.outcome(status)


def _database_failed(end: AttemptEnd, exc: SQLAlchemyError) -> RunOutcome:
    cause = getattr(exc, "orig", None)
    logger.warning(
        "run %s attempt %s stopped by a database error (%s); the reaper will retry it",
        end.claimed.run_id,
        end.claimed.attempt,
        type(cause).__name__ if cause is not None else type(exc).__name__,
        extra={"run_id": end.claimed.run_id, "customer_id": end.customer.id},
    )
    return end.outcome(OutcomeStatus.DATABASE_ERROR)


def _deferred(end: AttemptEnd, exc: PacedTooLongError) -> RunOutcome:
    """Queue the run again once the tenant's pause or quota window is over, its attempt given
    back: pacing is not the customer failing. Spread like a retry after `Retry-After`."""
    settings, claimed = end.runtime.settings, end.claimed
    delay = (exc.retry_after_seconds or 0.0) + random.uniform(0.0, settings.retry_base_seconds)
    reason = _reason(exc)
    if not end.runtime.ledger.defer(
        claimed.run_id,
        claimed.attempt,
        delay,
        type(exc).__name__,
        reason,
        pacing_wait_seconds=end.pacing_wait() + delay,
    ):
        return lease_lost(end)
    _requeue(end, delay)
    _log_attempt(end, OutcomeStatus.DEFERRED, SyncCounts(), error=reason, exc=exc)
    return end.outcome(OutcomeStatus.DEFERRED, error=reason)


def _retried(end: AttemptEnd, exc: Exception) -> RunOutcome | None:
    """Queue the run again for a later attempt when the policy says so; None when it does not.

    The customer's failures are not counted: only a run's final failure counts (and can open
    its circuit). The ledger write is fenced; the job is re-enqueued only after it.
    """
    claimed = end.claimed
    decision = job_retry_policy(end.runtime.settings).decide(
        exc, claimed.attempt, claimed.max_attempts, end.rng
    )
    if not decision.retry:
        return None
    reason = _reason(exc)
    delay = decision.delay_seconds
    if not end.runtime.ledger.retry_later(
        claimed.run_id,
        claimed.attempt,
        delay,
        type(exc).__name__,
        reason,
        pacing_wait_seconds=end.pacing_wait(),
    ):
        return lease_lost(end)
    _requeue(end, delay)
    _log_attempt(end, OutcomeStatus.RETRYING, SyncCounts(), error=reason, exc=exc)
    return end.outcome(OutcomeStatus.RETRYING, error=reason)


def _requeue(end: AttemptEnd, delay: float) -> None:
    try:
        end.requeue(end.claimed.run_id, delay)
    except WorkflowSyncError as requeue_error:
        # The run is queued in the ledger: the reaper re-enqueues it once it is stale.
        logger.warning(
            "run %s: could not re-enqueue it (%s); the reaper will",
            end.claimed.run_id,
            type(requeue_error).__name__,
            extra={"run_id": end.claimed.run_id, "customer_id": end.customer.id},
        )


def _failed(end: AttemptEnd, exc: Exception, *, counted: bool) -> RunOutcome:
    """End the run failed and, when `counted`, count the customer's failure and move its
    circuit, in one transaction; alert when that opened the circuit."""
    runtime, claimed, customer = end.runtime, end.claimed, end.customer
    reason = _reason(exc)
    recorded: RecordedFailure | None = None
    try:
        with writing(runtime.engine) as conn:
            runtime.ledger.fail_attempt(
                conn,
                claimed.run_id,
                claimed.attempt,
                type(exc).__name__,
                reason,
                pacing_wait_seconds=end.pacing_wait(),
            )
            if counted:
                recorded = runtime.customers.record_failure(
                    conn,
                    customer.id,
                    circuit_policy(runtime.settings),
                    end.clock.now(),
                    hold=isinstance(exc, AuthenticationError | PermissionDeniedError),
                    attention=_attention_reason(exc, customer.entity_id),
                )
    except LeaseLostError:
        return lease_lost(end)
    _log_attempt(end, OutcomeStatus.FAILED, SyncCounts(), error=reason, exc=exc)
    if recorded is not None:
        _alert_failure(end, recorded, reason)
    return end.outcome(OutcomeStatus.FAILED, error=reason)


def _key_problem(end: AttemptEnd, exc: SecretsError) -> RunOutcome:
    """The keys cannot open the customer's secret: the run fails with the operator's reason,
    every time, and the customer's failures and circuit do not move (nothing it did)."""
    logger.error(
        "run %s for customer %s: %s",
        end.claimed.run_id,
        end.customer.id,
        operator_reason(exc),
        extra={
            "event": "key_problem",
            "run_id": end.claimed.run_id,
            "customer_id": end.customer.id,
        },
    )
    return _failed(end, SecretsError(operator_reason(exc)), counted=False)


def operator_reason(exc: SecretsError) -> str:
    return (
        f"encryption key problem, for the operator to fix (not counted against the customer): {exc}"
    )


def _alert_failure(end: AttemptEnd, recorded: RecordedFailure, reason: str) -> None:
    runtime, customer, change = end.runtime, end.customer, recorded.change
    if change.event is not None:
        logger.warning(
            "circuit of customer %s %s: %s",
            customer.id,
            change.event.value,
            change.circuit.describe(end.clock.now()),
            extra={"event": "circuit_" + change.event.value, "customer_id": customer.id},
        )
    runtime.failure_alerts().after_failure(
        customer.id, customer.name, recorded.consecutive_failures, reason, change
    )


def _reason(exc: Exception) -> str:
    return clean(str(exc) or type(exc).__name__)[:_MAX_ERROR_CHARS]


def _attention_reason(exc: Exception, entity_id: str | None) -> str | None:
    """What the operator must fix, when a failure says (the words of `customers check`)."""
    about_entity = isinstance(exc, ZuoraError) and "entit" in exc.message.lower()
    if isinstance(exc, BadRequestError) and about_entity and entity_id is None:
        return (
            "the tenant has several entities and the customer has no entity id "
            "(customers check lists them, customers set-entity sets one)"
        )
    # A 403 naming the entity: at the token call (an AuthenticationError) or at a data call.
    refused = isinstance(exc, PermissionDeniedError | AuthenticationError)
    if refused and about_entity and entity_id is not None:
        return f"Zuora refused the customer's entity id {entity_id[:64]}"
    if isinstance(exc, PermissionDeniedError):
        return "the Zuora user lacks Workflow View Access"
    if isinstance(exc, AuthenticationError):
        return "Zuora rejected the client credentials"
    return None


_LEVELS = {
    OutcomeStatus.SUCCEEDED: logging.INFO,
    OutcomeStatus.RETRYING: logging.WARNING,
    OutcomeStatus.DEFERRED: logging.WARNING,
}


def _log_attempt(
    end: AttemptEnd,
    outcome: OutcomeStatus,
    counts: SyncCounts,
    *,
    error: str | None = None,
    exc: Exception | None = None,
) -> None:
    """The one structured line per attempt that the specification's monitoring asks for."""
    metrics.run_finished(outcome, end.took())
    claimed, customer = end.claimed, end.customer
    logger.log(
        _LEVELS.get(outcome, logging.ERROR),
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
            "duration_seconds": round(end.took(), 3),
            "pacing_wait_seconds": round(end.pacing_wait(), 3),
            "lease_renewals": end.held.renewals,
            "counts": asdict(counts),
            "error_class": type(exc).__name__ if exc is not None else None,
            "error": error,
        },
    )
