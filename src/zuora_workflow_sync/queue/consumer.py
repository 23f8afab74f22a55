"""Huey's thread consumer for one queue, for a worker whose main thread owns the signals.

Changed from Huey's: no signal handlers; a jittered backoff after storage errors (Huey retries in
lock-step, a traceback each time); a count of the jobs in hand, which `--drain` needs.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from huey.consumer import Consumer
from huey.exceptions import HueyException

from zuora_workflow_sync.queue.app import JobQueue
from zuora_workflow_sync.queue.serializer import UnsafePayloadError

logger = logging.getLogger(__name__)

ThreadContext = Callable[[], AbstractContextManager[object]]

IDLE_POLL_MIN_SECONDS = 0.1
IDLE_POLL_MAX_SECONDS = 1.0
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class ActivitySnapshot:
    """Jobs in hand now, and jobs finished so far (changes whenever one ends)."""

    active: int
    finished: int


class Activity:
    """Counts the jobs this process's consumer threads hold, from dequeue to the end of execution.

    Shared by every queue of one worker; `--drain` reads it to know nothing is executing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._finished = 0

    def begin(self) -> None:
        with self._lock:
            self._active += 1

    def end(self) -> None:
        with self._lock:
            self._active -= 1
            self._finished += 1

    def snapshot(self) -> ActivitySnapshot:
        with self._lock:
            return ActivitySnapshot(self._active, self._finished)


def backoff_seconds(failures: int, *, rng: random.Random | None = None) -> float:
    """Wait after the `failures`-th storage error in a row: doubling, capped, equal jitter.

    Half the delay is fixed (no busy loop), half random (workers do not reconnect in step).
    """
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** min(max(failures, 1) - 1, 16))
    return (rng or random).uniform(ceiling / 2, ceiling)


class StorageBackoff:
    """Waits of one consumer thread after consecutive storage errors: one log line per try."""

    def __init__(self, queue: JobQueue, stop_flag: threading.Event, role: str) -> None:
        self._queue = queue
        self._stop_flag = stop_flag
        self._role = role
        self.failures = 0

    def wait_after(self, exc: Exception) -> None:
        self.failures += 1
        delay = backoff_seconds(self.failures)
        logger.warning(
            "queue %s unavailable (%s); %s retry %d in %.1f s",
            self._queue.name,
            self._queue.describe_error(exc),
            self._role,
            self.failures,
            delay,
        )
        self._stop_flag.wait(delay)

    def reset(self) -> None:
        if self.failures:
            logger.info("queue %s reachable again (%d errors)", self._queue.name, self.failures)
            self.failures = 0


class JobWorker:
    """One consumer thread's loop (the interface of Huey's `Worker`): take a job, execute it.

    A job taken after the stop flag was set is put back untouched: a stopping worker starts
    nothing new. A storage error backs off with jitter; an unreadable payload is dropped.
    `thread_context`, if given, is entered when the thread starts and left when it ends (what
    the thread's jobs share, e.g. a `sync.session.JobSession`).
    """

    def __init__(
        self,
        queue: JobQueue,
        stop_flag: threading.Event,
        activity: Activity,
        thread_context: ThreadContext | None = None,
    ) -> None:
        self.huey = queue.huey
        self.stop_flag = stop_flag
        self._queue = queue
        self._activity = activity
        self._backoff = StorageBackoff(queue, stop_flag, "worker")
        self._idle_seconds = IDLE_POLL_MIN_SECONDS
        self._thread_context = thread_context
        self._entered = ExitStack()

    def initialize(self) -> None:
        """Enter the thread context; Huey's process loop calls it in the new thread."""
        if self._thread_context is not None:
            self._entered.enter_context(self._thread_context())

    def shutdown(self) -> None:
        """Leave the thread context; Huey's process loop calls it as the thread ends."""
        try:
            self._entered.close()
        except Exception:
            logger.exception("queue %s: closing a worker thread's context failed", self._queue.name)

    def loop(self, now: datetime | None = None) -> None:
        task = self._take()
        if task is None:
            return
        if self.stop_flag.is_set():
            self._give_back(task)
            return
        self._activity.begin()
        try:
            self.huey.execute(task, now)
        except Exception:
            logger.exception("queue %s: job %s could not be executed", self._queue.name, task.id)
        finally:
            self._activity.end()

    def _take(self) -> Any:
        try:
            task = self.huey.dequeue()
        except (UnsafePayloadError, HueyException) as exc:
            logger.error("queue %s: dropped an unreadable job (%s)", self._queue.name, exc)
            return None
        except Exception as exc:
            self._backoff.wait_after(exc)
            return None
        self._backoff.reset()
        if task is None:
            self._wait_idle()
        else:
            self._idle_seconds = IDLE_POLL_MIN_SECONDS
        return task

    def _give_back(self, task: Any) -> None:
        try:
            self.huey.enqueue(task)
        except Exception as exc:
            # The ledger still shows the run queued; repair re-dispatches it.
            logger.warning(
                "queue %s: could not put back a job at stop (%s)",
                self._queue.name,
                self._queue.describe_error(exc),
            )

    def _wait_idle(self) -> None:
        # Blocking storages (Redis) already waited inside dequeue.
        if self.huey.storage.blocking:
            return
        self.stop_flag.wait(random.uniform(self._idle_seconds / 2, self._idle_seconds))
        self._idle_seconds = min(self._idle_seconds * 1.5, IDLE_POLL_MAX_SECONDS)


class JobScheduler:
    """The consumer's scheduler thread (the interface of Huey's `Scheduler`), periodic tasks off.

    Every `interval_seconds` it moves due delayed jobs to the queue; a job lost on the way (the
    storage failed between the two steps) is still queued in the ledger, which re-dispatches it.
    """

    def __init__(
        self, queue: JobQueue, stop_flag: threading.Event, interval_seconds: float
    ) -> None:
        self.huey = queue.huey
        self.stop_flag = stop_flag
        self._queue = queue
        self._interval_seconds = interval_seconds
        self._backoff = StorageBackoff(queue, stop_flag, "scheduler")

    def initialize(self) -> None:
        """Nothing to set up; Huey's process loop calls it."""

    def shutdown(self) -> None:
        """Nothing to release; Huey's process loop calls it."""

    def loop(self, now: datetime | None = None) -> None:
        try:
            for task in self.huey.read_schedule(now):
                self.huey.enqueue(task)
        except Exception as exc:
            self._backoff.wait_after(exc)
            return
        self._backoff.reset()
        self.stop_flag.wait(self._interval_seconds)


class JobConsumer(Consumer):  # type: ignore[misc]  # huey ships no type hints
    """Huey's consumer for one queue: `concurrency` JobWorker threads and a scheduler thread.

    `start()` starts the threads without touching signals; stop with `stop_flag.set()` and
    join `threads()`.
    """

    def __init__(
        self,
        queue: JobQueue,
        *,
        workers: int,
        activity: Activity,
        thread_context: ThreadContext | None = None,
    ) -> None:
        self._queue = queue
        self._activity = activity
        self._thread_context = thread_context
        super().__init__(
            queue.huey, workers=workers, periodic=False, worker_type="thread", scheduler_interval=1
        )

    def threads(self) -> list[threading.Thread]:
        return [self.scheduler, *(thread for _, thread in self.worker_threads)]

    def _create_worker(self) -> JobWorker:
        return JobWorker(self._queue, self.stop_flag, self._activity, self._thread_context)

    def _create_scheduler(self) -> JobScheduler:
        return JobScheduler(self._queue, self.stop_flag, float(self.scheduler_interval))

    def _create_process(self, process: Any, name: str) -> threading.Thread:
        # Thread names reach worker ids and lease owners: make them unique per queue.
        thread: threading.Thread = super()._create_process(process, f"{self._queue.name}:{name}")
        return thread

    def _set_signal_handlers(self) -> None:
        """Leave SIGINT and SIGTERM to `run_worker`, which owns the main thread."""
