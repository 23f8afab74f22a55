"""The reaper: finds lost runs in the ledger and sends them round again, or gives them up.

A running run whose lease expired lost its worker: it is re-enqueued (the next claim takes it as
the next attempt) or, out of attempts, failed with the reason. A queued run due for longer than
the grace period was probably lost by the broker (e.g. Redis restarted without persistence): it
is re-enqueued. Every ledger write re-checks attempt, status and expiry in its statement, and a
job carries only a run id, so a duplicate job is harmless (a claim is exclusive, a finished run
is not claimable) and a pass that stops halfway loses nothing: the next pass finds the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from zuora_workflow_sync.domain.models import SyncRun
from zuora_workflow_sync.errors import WorkflowSyncError
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.store.engine import writing
from zuora_workflow_sync.sync.dispatch import RunQueue
from zuora_workflow_sync.sync.job import circuit_policy

logger = logging.getLogger(__name__)

QueueOpener = Callable[[str], RunQueue]


@dataclass
class RepairReport:
    """Run ids by what one repair pass did to them."""

    requeued_expired: list[int] = field(default_factory=list)
    requeued_stale: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    enqueue_failed: list[int] = field(default_factory=list)
    moved_on: list[int] = field(default_factory=list)

    @property
    def acted(self) -> int:
        """Runs whose ledger row this pass changed."""
        return len(self.requeued_expired) + len(self.requeued_stale) + len(self.failed)


def exhausted_reason(attempts: int) -> str:
    return f"abandoned after {attempts} attempts: lease expired (worker lost)"


def repair(
    runtime: Runtime,
    open_queue_for: QueueOpener,
    *,
    stale_after_seconds: float,
    now: datetime | None = None,
    batch_size: int = 500,
) -> RepairReport:
    """One reaper pass over at most `batch_size` expired leases and `batch_size` stale runs.

    `now` is when leases count as expired; None (production) is the database clock. The
    ledger's writes re-check expiry on the database clock, so a wrong `now` can never fail or
    re-queue a run whose lease is still alive. A queue that cannot be reached is skipped for the
    rest of the pass; its runs wait one more grace period in the ledger.
    """
    if stale_after_seconds <= 0 or batch_size < 1:
        raise ValueError("stale_after_seconds must be positive and batch_size at least 1")
    pass_ = _Pass(runtime, open_queue_for, stale_after_seconds)
    for run in runtime.ledger.find_expired_leases(now, limit=batch_size):
        pass_.expired(run)
    for run in runtime.ledger.find_stale_queued(stale_after_seconds, limit=batch_size):
        pass_.stale(run)
    return pass_.report


class _Pass:
    """The state of one repair pass: queues opened or found down, and the report."""

    def __init__(
        self, runtime: Runtime, open_queue_for: QueueOpener, stale_after_seconds: float
    ) -> None:
        self._runtime = runtime
        self._open = open_queue_for
        self._stale_after_seconds = stale_after_seconds
        self._down: dict[str, str] = {}
        self.report = RepairReport()

    def expired(self, run: SyncRun) -> None:
        if run.attempt >= run.max_attempts:
            self._fail(run)
            return
        sent = self._enqueue(run)
        if self._runtime.ledger.requeue_expired(run.id, run.attempt):
            self.report.requeued_expired.append(run.id)
            _log(run, "run_requeued", "lease expired (worker lost); re-enqueued", enqueued=sent)
        else:
            self._moved_on(run)

    def stale(self, run: SyncRun) -> None:
        sent = self._enqueue(run)
        ledger = self._runtime.ledger
        if ledger.touch_stale_queued(run.id, run.attempt, self._stale_after_seconds):
            self.report.requeued_stale.append(run.id)
            _log(
                run, "run_requeued", "queued but never taken (job lost); re-enqueued", enqueued=sent
            )
        else:
            self._moved_on(run)

    def _fail(self, run: SyncRun) -> None:
        reason = exhausted_reason(run.attempt)
        if not self._runtime.ledger.fail_expired(run.id, run.attempt, reason):
            self._moved_on(run)
            return
        self.report.failed.append(run.id)
        _log(run, "run_failed", reason, level=logging.ERROR)
        runtime = self._runtime
        # The ledger counted the failure; the circuit moves in a second, short transaction.
        with writing(runtime.engine) as conn:
            recorded = runtime.customers.record_failure(
                conn,
                run.customer_id,
                circuit_policy(runtime.settings),
                datetime.now(UTC),
                counted=True,
            )
        customer = runtime.customers.get(run.customer_id)
        if recorded is not None and customer is not None:
            runtime.failure_alerts().after_failure(
                customer.id, customer.name, recorded.consecutive_failures, reason, recorded.change
            )

    def _enqueue(self, run: SyncRun) -> bool:
        """Send the run's job to its own queue; False (and logged) when the queue is down."""
        if run.queue not in self._down:
            try:
                self._open(run.queue).enqueue(run.id, 0.0)
            except WorkflowSyncError as exc:
                self._down[run.queue] = str(exc)
                logger.warning(
                    "repair: queue %s unavailable (%s); its runs wait in the ledger",
                    run.queue,
                    exc,
                    extra={"event": "repair_queue_unavailable", "queue": run.queue},
                )
            else:
                return True
        self.report.enqueue_failed.append(run.id)
        return False

    def _moved_on(self, run: SyncRun) -> None:
        # A worker claimed or finished it between the read and the write: nothing to repair.
        self.report.moved_on.append(run.id)


def _log(
    run: SyncRun,
    event: str,
    message: str,
    *,
    enqueued: bool | None = None,
    level: int = logging.WARNING,
) -> None:
    if enqueued is False:
        message += " once its queue is back (after the grace period)"
    logger.log(
        level,
        "repair: run %s of customer %s: %s",
        run.id,
        run.customer_id,
        message,
        extra={
            "event": event,
            "run_id": run.id,
            "customer_id": run.customer_id,
            "queue": run.queue,
            "attempt": run.attempt,
            "max_attempts": run.max_attempts,
            "enqueued": enqueued,
        },
    )
