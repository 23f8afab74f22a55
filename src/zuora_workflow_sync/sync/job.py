"""Executing one sync run: claim, fetch from Zuora, then one fenced transaction, or a failure.

Nothing partial is ever written: workflows, history, tasks, tombstones, `last_synced_at` and the
run's own success are committed together, and only while the run's attempt (the fencing token)
still holds the lease, which the process's heartbeat renews while the job is alive. A failure
is recorded with a redacted reason and no workflow rows (`sync.ending`).

The fetch is watched: it stops when the heartbeat finds the run lost, when a shutdown's grace
runs out, when no Zuora reply came for `ZWS_JOB_IDLE_TIMEOUT_SECONDS`, or when it ran longer
than its cap (`ZWS_JOB_MAX_SECONDS` + `ZWS_JOB_SECONDS_PER_WORKFLOW` per workflow listed);
time that pacing alone held it back counts towards neither (`sync.progress`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Coroutine
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from zuora_workflow_sync.domain.clock import SYSTEM_CLOCK, Clock
from zuora_workflow_sync.domain.models import (
    ClaimedRun,
    Customer,
    OutcomeStatus,
    RunStatus,
    SyncCounts,
)
from zuora_workflow_sync.monitoring.logs import SECRETS
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.store.circuit import PreviousState
from zuora_workflow_sync.store.engine import writing
from zuora_workflow_sync.store.runs import LeaseLostError
from zuora_workflow_sync.store.workflows import apply_sync
from zuora_workflow_sync.sync.client_factory import tenant_client
from zuora_workflow_sync.sync.ending import (
    AttemptEnd,
    JobInterruptedError,
    JobTimeoutError,
    RunOutcome,
    circuit_policy,
    job_retry_policy,
    lease_lost,
)
from zuora_workflow_sync.sync.fetch import FetchResult, KnownWorkflow, fetch_workflows
from zuora_workflow_sync.sync.heartbeat import HeldRun, LeaseHeartbeat, Requeue
from zuora_workflow_sync.sync.pause_points import pause_point
from zuora_workflow_sync.sync.progress import JobProgress
from zuora_workflow_sync.sync.session import JobSession

__all__ = [
    "JobInterruptedError",
    "JobTimeoutError",
    "RunOutcome",
    "Shutdown",
    "circuit_policy",
    "execute_run",
    "job_retry_policy",
]

logger = logging.getLogger(__name__)

# How often a running fetch checks its lease, the shutdown, and its timeouts.
WATCH_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class Shutdown:
    """How a worker's shutdown reaches a running job: its stop flag and the job's grace."""

    requested: threading.Event
    grace_seconds: float


def execute_run(
    runtime: Runtime,
    run_id: int,
    *,
    worker_id: str,
    requeue: Requeue,
    shutdown: Shutdown | None = None,
    retry: bool = True,
    session: JobSession | None = None,
    heartbeat: LeaseHeartbeat | None = None,
    clock: Clock = SYSTEM_CLOCK,
    rng: random.Random | None = None,
) -> RunOutcome:
    """Run `run_id` if it can be claimed; a duplicate or early delivery does nothing harmful.

    The claimed lease is renewed by `heartbeat` (the worker process's) or, without one, by a
    heartbeat of this job's own, until the attempt ends. When `shutdown` is requested while
    Zuora is being read, the job gets its grace period to finish; past it, the fetch is
    cancelled and the lease given back (the run is queued again and re-enqueued), so no other
    worker waits for a lease to expire. An attempt that fails with a retriable error, while
    attempts are left, queues the run again after a jittered delay and re-enqueues its job
    through `requeue`; `retry=False` (inline runs, which have no queue to come back through)
    fails it at once instead. `session`: the worker thread's loop and connections, kept for its
    next job (else the job makes its own); when it `finishes_later`, the ledger transaction of
    a successful read is left to its finisher thread and the outcome returned is "finishing".
    `clock` and `rng` are the times the run records and the jitter of its retry delay (tests
    pass their own; leases stay on the database's clock).
    """
    claimed, customer = _claim(runtime, run_id, worker_id)
    if claimed is None:
        return _not_claimed(runtime, run_id, requeue, clock)
    if customer is None:  # removed since dispatch; its runs went with it
        return RunOutcome(run_id, claimed.customer_id, OutcomeStatus.SKIPPED, SyncCounts(), 0.0)
    lease = _Lease.hold(runtime, heartbeat, claimed, requeue)
    end = AttemptEnd(
        runtime,
        claimed,
        customer,
        requeue,
        retry,
        clock.monotonic(),
        lease.held,
        JobProgress(),
        clock,
        rng or random.Random(),
    )
    with ExitStack() as stack:
        stack.callback(lease.end)
        try:
            result = _read_zuora(runtime, end, shutdown, job_session=session, scope=stack)
        except Exception as exc:  # any failure ends the attempt, never a crash of the worker
            return end.failed(exc)
        if session is not None and session.finishes_later:
            # The thread takes its next job while the session's finisher stores this one; the
            # finisher ends the lease and drops the secret from the log redaction.
            session.finish_later(partial(_store_and_end_later, end, result, stack.pop_all()))
            return RunOutcome(
                claimed.run_id, customer.id, OutcomeStatus.FINISHING, SyncCounts(), end.took()
            )
        return _store_and_end(end, result)


@dataclass(frozen=True, slots=True)
class _Lease:
    """A claimed run kept alive by a heartbeat: the process's, or one of the job's own."""

    heartbeat: LeaseHeartbeat
    held: HeldRun
    own: bool

    @classmethod
    def hold(
        cls,
        runtime: Runtime,
        heartbeat: LeaseHeartbeat | None,
        claimed: ClaimedRun,
        requeue: Requeue,
    ) -> _Lease:
        own = heartbeat is None
        if heartbeat is None:
            heartbeat = new_heartbeat(runtime)
        return cls(heartbeat, heartbeat.hold(claimed, requeue), own)

    def end(self) -> None:
        self.heartbeat.drop(self.held)
        if self.own:
            self.heartbeat.close()


def new_heartbeat(runtime: Runtime) -> LeaseHeartbeat:
    """A heartbeat renewing leases of `runtime`'s ledger at the settings' lease and interval."""
    settings = runtime.settings
    return LeaseHeartbeat(
        runtime.ledger,
        lease_seconds=settings.lease_seconds,
        interval_seconds=settings.resolved_heartbeat_seconds,
    )


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


def _store_and_end_later(end: AttemptEnd, result: FetchResult, scope: ExitStack) -> RunOutcome:
    with scope:
        return _store_and_end(end, result)


def _store_and_end(end: AttemptEnd, result: FetchResult) -> RunOutcome:
    """The fenced transaction of a successful read, then the attempt's outcome."""
    end.held.ending = True
    if end.held.lost.is_set():  # the heartbeat found the run taken over: the fence would refuse
        return lease_lost(end)
    pause_point("before_commit", end.claimed.run_id)
    try:
        counts, previous = _store(end, result)
    except Exception as exc:
        return end.failed(exc)
    outcome = end.succeeded(counts, previous)
    pause_point("after_commit", end.claimed.run_id)
    return outcome


def _read_zuora(
    runtime: Runtime,
    end: AttemptEnd,
    shutdown: Shutdown | None,
    *,
    job_session: JobSession | None,
    scope: ExitStack,
) -> FetchResult:
    """Decrypt the client secret (masked in the log until `scope` closes: the job's end), then
    read Zuora under the watch."""
    secret = runtime.keyring.decrypt(end.customer.client_secret_encrypted)
    scope.enter_context(SECRETS.scoped(secret.get_secret_value()))
    fetch = _fetch(runtime, end, secret.get_secret_value(), job_session)
    work = _watched(fetch, _Watch(runtime.settings, end, shutdown))
    return asyncio.run(work) if job_session is None else job_session.run(work)


def _store(end: AttemptEnd, result: FetchResult) -> tuple[SyncCounts, PreviousState | None]:
    runtime, claimed, customer = end.runtime, end.claimed, end.customer
    with Session(runtime.engine) as session, session.begin():
        runtime.ledger.fence(session, claimed.run_id, claimed.attempt)
        counts = apply_sync(
            session,
            customer.id,
            claimed.run_id,
            result.fetched,
            result.listed_ids,
            True,  # fetch_workflows returns only after a complete listing
            end.clock.now(),
        )
        counts = result.with_requests(counts)
        previous = runtime.customers.record_success(session.connection(), customer.id)
        runtime.ledger.finish_succeeded(
            session,
            claimed.run_id,
            claimed.attempt,
            counts,
            pacing_wait_seconds=end.pacing_wait(),
        )
    return counts, previous


async def _fetch(
    runtime: Runtime, end: AttemptEnd, secret: str, session: JobSession | None
) -> FetchResult:
    settings, claimed, customer, progress = (
        runtime.settings,
        end.claimed,
        end.customer,
        end.progress,
    )
    async with tenant_client(
        settings,
        customer,
        secret,
        keyring=runtime.keyring,
        track_id=f"zws-run-{claimed.run_id}-{claimed.attempt}",
        session=session,
        progress=progress,
    ) as client:
        # An incremental sync reads what it knows while the listing is on its way.
        known = (
            None
            if claimed.full_export
            else asyncio.ensure_future(asyncio.to_thread(_known, runtime, customer.id))
        )
        return await fetch_workflows(
            client,
            known,
            export_concurrency=settings.export_concurrency,
            on_listed=progress.listed,
        )


def _known(runtime: Runtime, customer_id: int) -> dict[int, KnownWorkflow]:
    return {
        zuora_id: KnownWorkflow(state.active_version, state.zuora_updated_at, state.alive)
        for zuora_id, state in runtime.workflows.incremental_state(customer_id).items()
    }


class _Watch:
    """Why a running fetch must stop now, if it must: checked every `WATCH_SECONDS`."""

    def __init__(self, settings: Settings, end: AttemptEnd, shutdown: Shutdown | None) -> None:
        self._settings = settings
        self._held = end.held
        self._progress = end.progress
        self._shutdown = shutdown
        self._shutdown_seen: float | None = None

    def stop_reason(self) -> Exception | None:
        if self._held.lost.is_set():
            return LeaseLostError(self._held.run_id, self._held.attempt)
        if self._grace_over():
            return JobInterruptedError("the worker shut down before the sync finished")
        return self._timed_out()

    def _grace_over(self) -> bool:
        if self._shutdown is None or not self._shutdown.requested.is_set():
            return False
        now = time.monotonic()
        if self._shutdown_seen is None:
            self._shutdown_seen = now
        return now - self._shutdown_seen >= self._shutdown.grace_seconds

    def _timed_out(self) -> JobTimeoutError | None:
        settings, progress = self._settings, self._progress
        idle = progress.idle_seconds()
        if idle > settings.job_idle_timeout_seconds:
            return JobTimeoutError(
                f"no reply from Zuora for {idle:.1f}s (ZWS_JOB_IDLE_TIMEOUT_SECONDS="
                f"{settings.job_idle_timeout_seconds:g}; time waiting for pacing excluded)"
            )
        cap = settings.job_max_seconds + settings.job_seconds_per_workflow * progress.workflows
        if progress.active_seconds() > cap:
            return JobTimeoutError(
                f"the sync took longer than its cap of {cap:.0f}s for {progress.workflows} "
                "workflows (ZWS_JOB_MAX_SECONDS + ZWS_JOB_SECONDS_PER_WORKFLOW each; time "
                "waiting for pacing excluded)"
            )
        return None


async def _watched(work: Coroutine[Any, Any, FetchResult], watch: _Watch) -> FetchResult:
    """Await `work` unless `watch` finds a reason to stop it first: then cancel it and raise."""
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            await asyncio.wait((task,), timeout=WATCH_SECONDS)
            reason = None if task.done() else watch.stop_reason()
            if reason is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                raise reason
    except asyncio.CancelledError:
        task.cancel()
        raise
    return task.result()


def _not_claimed(runtime: Runtime, run_id: int, requeue: Requeue, clock: Clock) -> RunOutcome:
    run = runtime.ledger.get(run_id)
    if run is not None and run.status is RunStatus.QUEUED:
        wait = (run.not_before_at - clock.now()).total_seconds()
        if wait > 0:  # delivered early (clock difference): come back when it is due
            requeue(run_id, wait + 0.5)
            return RunOutcome(run_id, run.customer_id, OutcomeStatus.REQUEUED, SyncCounts(), 0.0)
    status = run.status.value if run is not None else "missing"
    logger.info(
        "run %s not claimed (status %s): nothing to do", run_id, status, extra={"run_id": run_id}
    )
    return RunOutcome(
        run_id, run.customer_id if run else None, OutcomeStatus.NOT_CLAIMED, SyncCounts(), 0.0
    )
