"""The batches of a dispatch: when each customer's job may start (`Stagger`), and the
`Pipeline` that records one batch in the ledger while the queue takes the batch before.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType

from zuora_workflow_sync.domain.models import RecordedRun, RunRequest
from zuora_workflow_sync.store.runs import RecordResult

Job = tuple[int, float]
EnqueueMany = Callable[[list[Job]], None]


class Stagger:
    """The delays of the jobs of an all-customers dispatch, batch after batch.

    Random in [low, high] per customer; or, with a spread, the i-th of `total` customers (in
    dispatch order, counted across batches) waits i * spread / total seconds: the first at once,
    evenly spaced, none past the window even if more customers turn up than were counted.
    """

    def __init__(
        self, rng: random.Random, low: float, high: float, spread: float | None, total: int
    ) -> None:
        self._rng = rng
        self._low = low
        self._high = high
        self._spread = spread
        self._total = max(total, 1)
        self._given = 0

    def next(self, count: int) -> list[float]:
        """The delays of the next `count` customers, in seconds."""
        first, self._given = self._given, self._given + count
        if self._spread is None:
            uniform, low, high = self._rng.uniform, self._low, self._high
            return [uniform(low, high) for _ in range(count)]
        step, spread = self._spread / self._total, self._spread
        return [min(index * step, spread) for index in range(first, first + count)]


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """One batch ready to record: its requests and each customer's delay.

    The requests are in the order the runs fall due, so the ledger's (status, not_before_at)
    index and the queue's schedule index take their entries in key order rather than at
    random places (a tenth of SQLite's insert time). `here`: run inline, without delay.
    """

    requests: list[RunRequest]
    delay_of: dict[int, float]
    here: bool


Recorded = tuple[BatchPlan, RecordResult]
Sent = tuple[list[RecordedRun], Exception | None]


class Pipeline:
    """The ledger INSERT of one batch and the queue write of the batch before, each in its
    own background thread, while the caller reads and plans the next batch.

    The waits overlap: sqlite3, psycopg and redis release the GIL while the database or the
    queue works, and a SQLite ledger and a SQLite queue are separate files whose writers do
    not block each other. At most one batch is being recorded and one sent at any time; the
    caller collects each before starting the next, so the ledger is always written first.
    """

    def __init__(self, enqueue_many: EnqueueMany, errors: tuple[type[Exception], ...]) -> None:
        self._enqueue_many = enqueue_many
        self._errors = errors
        self._recorder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zws-record")
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zws-enqueue")
        self._recording: tuple[BatchPlan, Future[RecordResult]] | None = None
        self._sending: tuple[list[RecordedRun], Future[None]] | None = None

    def record(self, plan: BatchPlan, action: Callable[[], RecordResult]) -> None:
        if self._recording is not None:
            raise RuntimeError("a batch is already being recorded")
        self._recording = (plan, self._recorder.submit(action))

    def recorded(self) -> Recorded | None:
        """The batch being recorded, once recorded (its error, if any, is raised here)."""
        if self._recording is None:
            return None
        plan, future = self._recording
        self._recording = None
        return plan, future.result()

    def send(self, runs: list[RecordedRun], jobs: list[Job]) -> None:
        if self._sending is not None:
            raise RuntimeError("a batch is already on its way to the queue")
        self._sending = (runs, self._sender.submit(self._enqueue_many, jobs))

    def sent(self) -> Sent | None:
        """The batch on its way to the queue, once taken, or refused with the queue error."""
        if self._sending is None:
            return None
        runs, future = self._sending
        self._sending = None
        try:
            future.result()
        except self._errors as exc:
            return runs, exc
        return runs, None

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        # After an error, work in flight still finishes: its runs are in the ledger.
        self._recorder.shutdown(wait=True)
        self._sender.shutdown(wait=True)
