"""The `sync-workflows` use-case: decide who is due, record runs in the ledger, enqueue them.

The ledger is written first, then the queue: a run that never reaches the queue is still in
the ledger (and is abandoned with the reason, or run inline). Customers are streamed in batches
and runs recorded and enqueued per batch, so memory does not grow with the fleet. Messages are
the specification's, word for word; they go through `say` so the caller decides where.
"""

from __future__ import annotations

import gc
import logging
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Generic, Protocol, TypeVar

from zuora_workflow_sync.domain.models import (
    Customer,
    CustomerStatus,
    DueCustomer,
    RecordedRun,
    RunRequest,
    RunTrigger,
)
from zuora_workflow_sync.errors import ConfigurationError, WorkflowSyncError
from zuora_workflow_sync.runtime import Runtime

logger = logging.getLogger(__name__)

Say = Callable[[str], None]
T = TypeVar("T")


class RunQueue(Protocol):
    """What dispatch needs of a queue (implemented by `queue.app.JobQueue`)."""

    def ping(self) -> None: ...

    def enqueue(self, run_id: int, delay_seconds: float = 0.0) -> None: ...

    def enqueue_many(self, items: Iterable[tuple[int, float]]) -> None: ...


class UnreachableQueue:
    """Stands in for a queue that could not even be opened, so dispatch can fall back."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    def ping(self) -> None:
        raise self._error

    def enqueue(self, run_id: int, delay_seconds: float = 0.0) -> None:
        raise self._error

    def enqueue_many(self, items: Iterable[tuple[int, float]]) -> None:
        raise self._error

    def close(self) -> None:
        """Nothing to close."""


@dataclass(frozen=True, slots=True)
class DispatchOptions:
    """What the operator asked for."""

    customer_id: int | None
    force: bool = False
    queue: str = "workflows"
    full: bool = False
    fallback: bool = True
    inline: bool = False
    trigger: RunTrigger = RunTrigger.COMMAND
    dispatched_by: str = "unknown"


SAMPLE_SIZE = 100


@dataclass
class Tally(Generic[T]):
    """How many items were counted (`len`), and the first `SAMPLE_SIZE` of them.

    A dispatch of 100,000 customers must not keep 100,000 objects to report on them.
    """

    count: int = 0
    sample: list[T] = field(default_factory=list)

    def add(self, items: Sequence[T]) -> None:
        self.count += len(items)
        self.sample.extend(items[: SAMPLE_SIZE - len(self.sample)])

    def __len__(self) -> int:
        return self.count


@dataclass
class DispatchResult:
    """What dispatch did: runs sent to the queue, runs to execute here, customers skipped.

    `queued` and `skipped_active` are tallies (a count and a sample): they do not grow with the
    fleet. `inline` holds every run this process must execute.
    """

    queued: Tally[RecordedRun] = field(default_factory=Tally)
    inline: list[RecordedRun] = field(default_factory=list)
    skipped_active: Tally[int] = field(default_factory=Tally)
    recently_synced: bool = False
    queue_error: str | None = None

    @property
    def dispatched(self) -> int:
        return len(self.queued) + len(self.inline)


class Dispatcher:
    """Records and enqueues runs for one command invocation."""

    def __init__(
        self,
        runtime: Runtime,
        queue: RunQueue,
        queue_errors: tuple[type[Exception], ...],
        *,
        say: Say,
        rng: random.Random | None = None,
        now: datetime | None = None,
    ) -> None:
        self._runtime = runtime
        self._queue = queue
        self._queue_errors = queue_errors
        self._say = say
        self._rng = rng or random.Random()
        self._now = now or datetime.now(UTC)

    def dispatch(self, options: DispatchOptions) -> DispatchResult:
        """Dispatch one customer or every due customer; WorkflowSyncError on bad input."""
        if options.customer_id is not None:
            return self._one(options, _require_customer(self._runtime, options.customer_id))
        return self._all(options)

    def _one(self, options: DispatchOptions, customer: Customer) -> DispatchResult:
        if not options.force and self._recently_synced(customer):
            self._say(f"Customer {customer.name} was synced recently. Use --force to override.")
            return DispatchResult(recently_synced=True)
        self._say(f"Syncing workflows for customer: {customer.name}")
        result = DispatchResult()
        self._send(options, [DueCustomer(customer.id, customer.name)], result, stagger=False)
        if result.skipped_active:
            self._say(f"Customer {customer.name} already has a sync queued or running.")
        else:
            self._say(f"Sync job dispatched for customer: {customer.name}")
        return result

    def _all(self, options: DispatchOptions) -> DispatchResult:
        settings = self._runtime.settings
        window = settings.sync_window_seconds
        total = self._runtime.customers.count_due(self._now, window, force=options.force)
        if total == 0:
            self._say("No customers need syncing.")
            return DispatchResult()
        self._say(f"Dispatching sync jobs for {total} customers")
        result = DispatchResult()
        due = self._runtime.customers.iter_due(
            self._now, window, force=options.force, batch_size=settings.dispatch_batch_size
        )
        with _collector_paused():
            for batch in _batches(due, settings.dispatch_batch_size):
                self._send(options, batch, result, stagger=True)
        if result.skipped_active:
            self._say(
                f"Skipped {len(result.skipped_active)} customers that already have a sync "
                "queued or running"
            )
        self._say(f"Sync jobs dispatched for {result.dispatched} customers")
        return result

    def _send(
        self,
        options: DispatchOptions,
        customers: list[DueCustomer],
        result: DispatchResult,
        *,
        stagger: bool,
    ) -> None:
        """Record one batch, then enqueue it in one round trip (or keep it for inline execution).

        A batch the queue refuses was not sent at all: it is abandoned and run inline, or
        refused (QueueUnavailableAtDispatchError) when fallback is off.
        """
        here = options.inline or self._queue_is_down(options, result)
        delays = {c.id: self._delay(stagger and not here) for c in customers}
        recorded = self._record(options, customers, delays)
        result.skipped_active.add(recorded.skipped_customer_ids)
        if result.queue_error is not None and not options.fallback:
            self._refuse(recorded.recorded, result.queue_error)
        if here:
            result.inline.extend(recorded.recorded)
            return
        jobs = [(run.run_id, delays[run.customer_id]) for run in recorded.recorded]
        try:
            self._queue.enqueue_many(jobs)
        except self._queue_errors as exc:
            self._lost_queue(options, recorded.recorded, result, exc)
            return
        result.queued.add(recorded.recorded)

    def _record(
        self, options: DispatchOptions, customers: list[DueCustomer], delays: dict[int, float]
    ) -> _Recorded:
        requests = [
            RunRequest(c.id, self._now + timedelta(seconds=delays[c.id]), options.full)
            for c in customers
        ]
        recorded = self._runtime.ledger.record_batch(
            requests,
            queue=options.queue,
            trigger=options.trigger,
            dispatched_by=options.dispatched_by,
            max_attempts=self._runtime.settings.max_attempts,
            batch_size=self._runtime.settings.dispatch_batch_size,
        )
        return _Recorded(recorded.recorded, recorded.skipped_customer_ids)

    def _queue_is_down(self, options: DispatchOptions, result: DispatchResult) -> bool:
        """Check the queue once per command; remember why it is down."""
        if result.queue_error is not None:
            return True
        try:
            self._queue.ping()
        except self._queue_errors as exc:
            self._fall_back(options, result, str(exc))
            return True
        return False

    def _refuse(self, runs: list[RecordedRun], reason: str) -> None:
        """No queue and no fallback: the ledger keeps the runs as abandoned, with the reason."""
        self._runtime.ledger.abandon_undispatched(
            [run.run_id for run in runs], f"queue unavailable: {reason}"
        )
        raise QueueUnavailableAtDispatchError(reason)

    def _lost_queue(
        self,
        options: DispatchOptions,
        unsent: list[RecordedRun],
        result: DispatchResult,
        exc: Exception,
    ) -> None:
        """The queue refused a batch: abandon what it did not take, then fall back or fail."""
        reason = str(exc)
        self._fall_back(options, result, reason)
        if not options.fallback:
            self._refuse(unsent, reason)
        self._runtime.ledger.abandon_undispatched(
            [run.run_id for run in unsent], f"queue unavailable: {reason}"
        )
        again = self._record(
            options,
            [DueCustomer(run.customer_id, "") for run in unsent],
            {run.customer_id: 0.0 for run in unsent},
        )
        result.inline.extend(again.recorded)

    def _fall_back(self, options: DispatchOptions, result: DispatchResult, reason: str) -> None:
        result.queue_error = reason
        logger.error(
            "queue unavailable at dispatch: %s",
            reason,
            extra={"event": "dispatch_failed", "queue": options.queue},
        )
        if options.fallback:
            self._say(f"Queue unavailable ({reason}); running sync inline")

    def _delay(self, stagger: bool) -> float:
        if not stagger:
            return 0.0
        settings = self._runtime.settings
        return self._rng.uniform(settings.stagger_min_seconds, settings.stagger_max_seconds)

    def _recently_synced(self, customer: Customer) -> bool:
        window = timedelta(seconds=self._runtime.settings.sync_window_seconds)
        synced = customer.last_synced_at
        return synced is not None and synced > self._now - window


@dataclass(frozen=True, slots=True)
class _Recorded:
    recorded: list[RecordedRun]
    skipped_customer_ids: list[int]


class QueueUnavailableAtDispatchError(WorkflowSyncError):
    """The queue could not be reached and the inline fallback was turned off."""

    def __init__(self, reason: str) -> None:
        super().__init__("queue unavailable")
        self.reason = reason


def _require_customer(runtime: Runtime, customer_id: int) -> Customer:
    customer = runtime.customers.get(customer_id)
    if customer is None:
        raise ConfigurationError(f"no customer with id {customer_id}")
    if customer.sync_status is CustomerStatus.DISABLED:
        raise ConfigurationError(
            f"customer {customer.name} is disabled; "
            f"run: workflow-sync customers set-status {customer_id} active"
        )
    return customer


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block (reference counting still frees).

    A dispatch allocates ~10 short-lived objects per customer, without reference cycles; the
    collector's passes over the process's long-lived objects, set off by those allocations,
    took about a fifth of a 100,000-customer dispatch (timed with and without them).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _batches(items: Iterator[DueCustomer], size: int) -> Iterator[list[DueCustomer]]:
    while batch := list(islice(items, size)):
        yield batch
