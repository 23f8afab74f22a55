"""The scheduler: exactly one per fleet, enforced by the `scheduler` lease in the database.

Whoever holds the lease dispatches every due customer when the cron expression fires (the same
`Dispatcher` as `sync-workflows`) and runs a repair pass every reaper interval; the others stand
by and take over once the holder's lease expires. A cron tick is claimed in the lease row before
its dispatch and marked finished after it, so a tick is never dispatched twice, not even across
a handover; a tick whose holder died midway is resumed, which records only what is missing.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType

from cronsim import CronSim, CronSimError

from zuora_workflow_sync.domain.models import RunTrigger
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.store.leases import LeaseKeeper, LeaseRepository
from zuora_workflow_sync.store.secrets import SecretsError
from zuora_workflow_sync.sync.dispatch import (
    Dispatcher,
    DispatchOptions,
    DispatchResult,
    QueueUnavailableAtDispatchError,
    Say,
)
from zuora_workflow_sync.sync.long_wait import check_long_wait
from zuora_workflow_sync.sync.repair import QueueOpener, RepairReport, repair

logger = logging.getLogger(__name__)

_TOLERANCE_SHARE = 0.25
_MAX_TOLERANCE_SECONDS = 900.0


def schedule_tolerance(settings: Settings) -> float:
    """How much earlier than the sync window a scheduled dispatch counts a customer as due.

    A customer dispatched at one tick is synced a little later (its stagger, the queue, the
    sync itself), so with an hourly cron and a one-hour window it would not yet be due at the
    next tick and would be synced every two hours. A quarter of the window, at most 15 minutes,
    absorbs that; `sync-workflows` by hand keeps the exact window.
    """
    return min(settings.sync_window_seconds * _TOLERANCE_SHARE, _MAX_TOLERANCE_SECONDS)


SCHEDULER_LEASE = "scheduler"
Clock = Callable[[], datetime]
_MIN_WAIT_SECONDS = 0.1


class CronSchedule:
    """A 5-field cron expression, evaluated in UTC."""

    def __init__(self, expression: str) -> None:
        fields = expression.split()
        if len(fields) != 5:
            raise ConfigurationError(
                f"invalid ZWS_SCHEDULE_CRON {expression[:80]!r}: expected 5 fields "
                "(minute hour day-of-month month day-of-week)"
            )
        try:
            CronSim(expression, datetime(2000, 1, 1, tzinfo=UTC))
        except CronSimError as exc:
            raise ConfigurationError(
                f"invalid ZWS_SCHEDULE_CRON {expression[:80]!r}: {exc}"
            ) from None
        self.expression = " ".join(fields)

    def latest(self, at: datetime) -> datetime:
        """The newest firing time at or before `at`."""
        start = at.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
        return next(CronSim(self.expression, start, reverse=True))

    def next_after(self, at: datetime) -> datetime:
        """The first firing time after `at`."""
        return next(CronSim(self.expression, at.astimezone(UTC)))


@dataclass(frozen=True, slots=True)
class StepReport:
    """What one scheduler step did; `holder` is the lease's owner (this one or another)."""

    holds: bool
    holder: str | None
    tick_at: datetime | None = None
    dispatch: DispatchResult | None = None
    repair: RepairReport | None = None


class Scheduler:
    """The scheduled dispatch and the reaper, acting only while holding the scheduler lease.

    `queues(name)` opens (or returns the open) queue `name`; the caller closes them. `clock` tells
    when cron ticks and reaper passes are due (default: the database clock); leases always use
    the database clock.
    """

    def __init__(
        self,
        runtime: Runtime,
        owner: str,
        *,
        queues: QueueOpener,
        queue_errors: tuple[type[Exception], ...],
        cron: str | None = None,
        clock: Clock | None = None,
        say: Say | None = None,
    ) -> None:
        settings = runtime.settings
        self._runtime = runtime
        self._owner = owner
        self._queues = queues
        self._queue_errors = queue_errors
        self._cron = CronSchedule(cron if cron is not None else settings.schedule_cron)
        self._leases = LeaseRepository(runtime.engine)
        self._clock = clock or self._leases.now
        self._say: Say = say or logger.info
        self._keeper = LeaseKeeper(
            self._leases, SCHEDULER_LEASE, owner, settings.scheduler_lease_seconds
        )
        self._next_repair_at: datetime | None = None
        self._last_holder: str | None = None

    @property
    def owner(self) -> str:
        return self._owner

    def run(self, stop: threading.Event) -> None:
        """Step until `stop` is set, then release the lease; a failing step is logged, retried."""
        self._keeper.start()
        try:
            while not stop.is_set():
                stop.wait(self._safe_step())
        finally:
            self.close()

    def run_once(self) -> StepReport:
        """Acquire, then one repair pass and the dispatch of a due tick; release the lease."""
        self._keeper.start()
        try:
            return self.step()
        finally:
            self.close()

    def close(self, *, release: bool = True) -> None:
        """Stop renewing the lease and (by default) release it."""
        self._keeper.stop(release=release)

    def step(self) -> StepReport:
        """Take or keep the lease; if held, dispatch a due tick and run a due repair pass."""
        if not self._keeper.try_acquire():
            current = self._leases.holder(SCHEDULER_LEASE)
            self._note_holder(current.owner if current is not None else None)
            return StepReport(False, current.owner if current is not None else None)
        self._note_holder(self._owner)
        now = self._clock()
        tick_at, result = self._dispatch_if_due(now)
        return StepReport(True, self._owner, tick_at, result, self._repair_if_due(now))

    def _safe_step(self) -> float:
        """One step; the seconds to wait before the next."""
        try:
            report = self.step()
            return self._wait_from(self._clock()) if report.holds else self._idle_seconds
        except SecretsError as exc:  # the operator's keys: said plainly at every step
            logger.error(
                "scheduler step failed: %s; retrying",
                exc,
                extra={"event": "scheduler_error", "error": str(exc)},
            )
            return self._idle_seconds
        except Exception:  # a database or queue outage must not end the scheduler
            logger.exception("scheduler step failed; retrying", extra={"event": "scheduler_error"})
            return self._idle_seconds

    @property
    def _idle_seconds(self) -> float:
        return self._keeper.renew_every_seconds

    def _wait_from(self, now: datetime) -> float:
        due = [self._cron.next_after(now)]
        if self._next_repair_at is not None:
            due.append(self._next_repair_at)
        wait = min((moment - now).total_seconds() for moment in due)
        return min(max(wait, _MIN_WAIT_SECONDS), self._keeper.renew_every_seconds)

    def _dispatch_if_due(self, now: datetime) -> tuple[datetime | None, DispatchResult | None]:
        tick_at = self._cron.latest(now)
        if not self._tick_pending(tick_at):
            return None, None
        queue_name = self._runtime.settings.default_queue
        try:
            queue = self._queues(queue_name)
            queue.ping()
        except self._queue_errors as exc:
            logger.warning(
                "scheduled dispatch of %s waits: queue %s unavailable (%s)",
                tick_at.isoformat(),
                queue_name,
                exc,
                extra={"event": "scheduled_dispatch_waiting", "queue": queue_name},
            )
            return None, None
        if not self._leases.begin_tick(SCHEDULER_LEASE, self._owner, tick_at):
            return None, None
        dispatcher = Dispatcher(self._runtime, queue, self._queue_errors, say=self._say, now=now)
        result = self._dispatch(tick_at, dispatcher)
        return (None, None) if result is None else (tick_at, result)

    def _dispatch(self, tick_at: datetime, dispatcher: Dispatcher) -> DispatchResult | None:
        """Dispatch the claimed tick; None (tick left unfinished, to resume) if the queue fails."""
        options = DispatchOptions(
            customer_id=None,
            queue=self._runtime.settings.default_queue,
            fallback=False,  # never sync inline in the scheduler: the tick is retried instead
            trigger=RunTrigger.SCHEDULE,
            dispatched_by=f"scheduler {self._owner}",
            window_tolerance_seconds=schedule_tolerance(self._runtime.settings),
        )
        queue_failed: tuple[type[Exception], ...] = (
            QueueUnavailableAtDispatchError,
            *self._queue_errors,
        )
        try:
            result = dispatcher.dispatch(options)
        except queue_failed as exc:
            logger.error(
                "scheduled dispatch of %s stopped: queue unavailable (%s); it will be resumed",
                tick_at.isoformat(),
                exc,
                extra={"event": "scheduled_dispatch_failed", "queue": options.queue},
            )
            return None
        self._leases.finish_tick(SCHEDULER_LEASE, tick_at)
        logger.info(
            "scheduled dispatch of %s: %d runs queued",
            tick_at.isoformat(),
            len(result.queued),
            extra={
                "event": "scheduled_dispatch_finished",
                "tick_at": tick_at.isoformat(),
                "queued": len(result.queued),
                "skipped_active": len(result.skipped_active),
                "dispatched_by": options.dispatched_by,
            },
        )
        return result

    def _tick_pending(self, tick_at: datetime) -> bool:
        """Cheap pre-check of `begin_tick`, so an idle step does not ping the queue."""
        lease = self._leases.get(SCHEDULER_LEASE)
        if lease is None or lease.tick_at is None or lease.tick_at < tick_at:
            return True
        return lease.tick_at == tick_at and lease.tick_finished_at is None

    def _repair_if_due(self, now: datetime) -> RepairReport | None:
        if self._next_repair_at is not None and now < self._next_repair_at:
            return None
        settings = self._runtime.settings
        self._next_repair_at = now + timedelta(seconds=settings.reaper_interval_seconds)
        report = repair(
            self._runtime,
            self._queues,
            stale_after_seconds=settings.stale_queued_grace_seconds,
            batch_size=settings.reaper_batch_size,
        )
        check_long_wait(self._runtime, now)
        if report.acted or report.enqueue_failed:
            logger.info(
                "repair pass: %d re-enqueued after a lost worker, %d after a lost job, %d failed",
                len(report.requeued_expired),
                len(report.requeued_stale),
                len(report.failed),
                extra={"event": "repair_finished", "enqueue_failed": len(report.enqueue_failed)},
            )
        return report

    def _note_holder(self, holder: str | None) -> None:
        if holder == self._last_holder:
            return
        self._last_holder = holder
        if holder == self._owner:
            self._say("Holding the scheduler lease: this scheduler dispatches and repairs")
        else:
            who = holder if holder is not None else "nobody (it is being taken over)"
            self._say(f"Standing by: the scheduler lease is held by {who}")
        logger.info(
            "scheduler lease holder: %s",
            holder,
            extra={"event": "scheduler_lease", "holder": holder},
        )


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """On the main thread, SIGINT/SIGTERM set `stop`; a second signal acts as it did before."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.getsignal(signum) for signum in signals}

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()
        for number, handler in previous.items():
            signal.signal(number, handler)

    for signum in signals:
        signal.signal(signum, handle)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
