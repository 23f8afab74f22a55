"""`run_worker`: run the jobs of one or more queues on Huey's thread consumer until told to stop.

The calling thread owns signals: SIGINT/SIGTERM stop gracefully (nothing new is taken, running
jobs get `grace_seconds`), a second one stops at once (after `on_abandon`, which gives the
running jobs' leases back); `until_idle` makes it return when drained.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

from zuora_workflow_sync.queue.app import JobQueue, QueueUnavailableError
from zuora_workflow_sync.queue.consumer import Activity, JobConsumer, ThreadContext

logger = logging.getLogger(__name__)

HEALTH_CHECK_SECONDS = 10.0
# A draining worker whose queue storage stays unreachable this long gives up: a drain is a
# batch step (cron, CI), and waiting forever would hide the outage from whoever runs it.
DRAIN_GIVE_UP_SECONDS = 60.0
_JOIN_SLICE_SECONDS = 0.1
_MAX_CONCURRENCY = 256


def run_worker(
    queues: list[JobQueue],
    *,
    concurrency: int,
    until_idle: Callable[[], bool] | None = None,
    poll_seconds: float = 0.5,
    grace_seconds: float = 30.0,
    stop: threading.Event | None = None,
    thread_context: ThreadContext | None = None,
    on_abandon: Callable[[], None] | None = None,
    drain_give_up_seconds: float = DRAIN_GIVE_UP_SECONDS,
) -> None:
    """Execute jobs of `queues` with `concurrency` threads each; return once stopped.

    Stops gracefully when `stop` is set, on SIGINT/SIGTERM (only when called on the main
    thread), or, with `until_idle`, once it returns True while no queue holds a job and none is
    executing. Handler failures are logged by the job and never stop the worker. Each job
    thread runs inside `thread_context()` (entered as it starts, left as it ends), if given.
    `on_abandon` is called when it returns with jobs still running (a second signal, or the
    grace is over). A drain whose queues stay unreachable for `drain_give_up_seconds` stops
    the same way, then raises QueueUnavailableError.
    """
    _check_arguments(queues, concurrency, poll_seconds, grace_seconds)
    stop = stop if stop is not None else threading.Event()
    at_once = threading.Event()
    activity = Activity()
    consumers = [
        JobConsumer(queue, workers=concurrency, activity=activity, thread_context=thread_context)
        for queue in queues
    ]
    drain = (
        None
        if until_idle is None
        else DrainWatch(queues, activity, until_idle, give_up_seconds=drain_give_up_seconds)
    )
    with _signals_handled(stop, at_once):
        for consumer in consumers:
            consumer.start()
        try:
            _wait_for_stop(consumers, stop, drain, poll_seconds)
        finally:
            _shut_down(consumers, activity, grace_seconds, at_once, on_abandon)


class DrainWatch:
    """Decides when a draining worker may stop: idle on two polls in a row, nothing in between.

    Idle means `until_idle()` is True, every queue's pending and scheduled counts are 0, and
    no job is in hand. Two observations whose finished-job counts match close the small windows
    in which a job moves between places (just dequeued, or moved by the scheduler).
    """

    def __init__(
        self,
        queues: Sequence[JobQueue],
        activity: Activity,
        until_idle: Callable[[], bool],
        *,
        give_up_seconds: float = DRAIN_GIVE_UP_SECONDS,
    ) -> None:
        self._queues = queues
        self._activity = activity
        self._until_idle = until_idle
        self._give_up_seconds = give_up_seconds
        self._last: int | None = None
        self._down_since: float | None = None

    def drained(self) -> bool:
        generation = self._idle_generation()
        done = generation is not None and generation == self._last
        self._last = generation
        return done

    def _idle_generation(self) -> int | None:
        before = self._activity.snapshot()
        if before.active or not self._queues_empty() or not self._caller_idle():
            return None
        after = self._activity.snapshot()
        return after.finished if after == before else None

    def _queues_empty(self) -> bool:
        """Whether every queue is empty; False while one cannot be read, which raises once that
        has lasted `give_up_seconds` (a warning when it starts, not one per poll)."""
        try:
            empty = all(q.pending_count() == 0 and q.scheduled_count() == 0 for q in self._queues)
        except QueueUnavailableError as exc:
            now = time.monotonic()
            if self._down_since is None:
                self._down_since = now
                logger.warning(
                    "drain check: queue %s unavailable (%s); giving up after %g s",
                    exc.queue,
                    exc.reason,
                    self._give_up_seconds,
                )
            elif now - self._down_since >= self._give_up_seconds:
                raise QueueUnavailableError(
                    f"queue {exc.queue} unavailable ({exc.reason}) for "
                    f"{self._give_up_seconds:g} s while draining; nothing was lost: the ledger "
                    "keeps every queued run",
                    queue=exc.queue,
                ) from exc
            return False
        if self._down_since is not None:
            logger.info("drain check: the queues answer again")
            self._down_since = None
        return empty

    def _caller_idle(self) -> bool:
        try:
            return self._until_idle()
        except Exception:
            # A flaky ledger read must not end a worker: try again at the next poll.
            logger.warning("drain check failed; will retry", exc_info=True)
            return False


def _check_arguments(
    queues: Sequence[JobQueue], concurrency: int, poll_seconds: float, grace_seconds: float
) -> None:
    if not queues:
        raise ValueError("run_worker needs at least one queue")
    if len({queue.name for queue in queues}) != len(queues):
        raise ValueError("run_worker got the same queue twice")
    if not 1 <= concurrency <= _MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be 1..{_MAX_CONCURRENCY}, not {concurrency}")
    if poll_seconds <= 0 or grace_seconds < 0:
        raise ValueError("poll_seconds must be > 0 and grace_seconds >= 0")


@contextmanager
def _signals_handled(stop: threading.Event, at_once: threading.Event) -> Iterator[None]:
    """On the main thread: first SIGINT/SIGTERM sets `stop`, the next `at_once`; restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        (at_once if stop.is_set() else stop).set()

    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _wait_for_stop(
    consumers: Sequence[JobConsumer],
    stop: threading.Event,
    drain: DrainWatch | None,
    poll_seconds: float,
) -> None:
    next_health_check = time.monotonic() + HEALTH_CHECK_SECONDS
    while not stop.wait(poll_seconds):
        if drain is not None and drain.drained():
            logger.info("worker drained: no job queued, scheduled or running")
            return
        if time.monotonic() >= next_health_check:
            next_health_check = time.monotonic() + HEALTH_CHECK_SECONDS
            for consumer in consumers:
                consumer.check_worker_health()
    logger.info("worker stopping: no new jobs are taken")


def _shut_down(
    consumers: Sequence[JobConsumer],
    activity: Activity,
    grace_seconds: float,
    at_once: threading.Event,
    on_abandon: Callable[[], None] | None,
) -> None:
    """Stop taking jobs, then wait up to `grace_seconds` for running ones (less on `at_once`);
    `on_abandon` when some are still running then."""
    for consumer in consumers:
        consumer.stop_flag.set()
    threads = [thread for consumer in consumers for thread in consumer.threads()]
    deadline = time.monotonic() + grace_seconds
    while alive := [thread for thread in threads if thread.is_alive()]:
        remaining = deadline - time.monotonic()
        if at_once.is_set() or remaining <= 0:
            why = "second signal" if at_once.is_set() else f"grace of {grace_seconds:g} s over"
            logger.warning(
                "worker stopping (%s) with %d jobs still running",
                why,
                activity.snapshot().active,
            )
            _abandon(on_abandon)
            return
        alive[0].join(min(remaining, _JOIN_SLICE_SECONDS))
    logger.info("worker stopped: every job finished")


def _abandon(on_abandon: Callable[[], None] | None) -> None:
    if on_abandon is None:
        return
    try:
        on_abandon()
    except Exception:  # best effort: the leases then expire
        logger.exception("giving back the running jobs failed; their leases will expire")
