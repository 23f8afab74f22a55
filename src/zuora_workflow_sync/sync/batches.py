"""The batches of a dispatch: when each customer's job may start (`Stagger`), and the
`Pipeline` that records one batch in the ledger while the queue takes the batch before.
"""

from __future__ import annotations

import random
from collections import deque
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

    Random: the N due customers' delays are N independent uniform draws in [low, high], handed
    out in ascending order, a batch's worth at a time, and shuffled among the customers of
    each batch. So every batch starts where the one before ended, and the ledger's
    (status, not_before_at) index and the queue's schedule index take each batch at their end
    instead of all over their range (a sixth of a 100,000-customer dispatch). Drawn in order
    without holding them all: the descending order statistics of N uniforms are
    U(N) = V^(1/N), U(k) = U(k+1) * V^(1/k) (Bentley and Saxe, 1980), and 1 - U is uniform.
    A customer's place in the window follows its id only batch by batch; within a batch (the
    whole dispatch below `dispatch_batch_size` customers) it is random.

    With a spread, the i-th of `total` customers (in dispatch order, counted across batches)
    waits i * spread / total seconds: the first at once, evenly spaced, none past the window.
    Customers beyond the `total` counted (they turned up meanwhile) get plain uniform draws.
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
        self._top = 1.0  # the largest complement not yet handed out

    def next(self, count: int) -> list[float]:
        """The delays of the next `count` customers, in seconds."""
        first, self._given = self._given, self._given + count
        if self._spread is not None:
            step, spread = self._spread / self._total, self._spread
            return [min(index * step, spread) for index in range(first, first + count)]
        delays = self._ascending(first, count)
        self._rng.shuffle(delays)
        return delays

    def _ascending(self, first: int, count: int) -> list[float]:
        rng, low, width = self._rng, self._low, self._high - self._low
        delays: list[float] = []
        top = self._top
        for remaining in range(self._total - first, self._total - first - count, -1):
            if remaining > 0:
                top *= rng.random() ** (1.0 / remaining)
                delays.append(low + width * (1.0 - top))
            else:
                delays.append(rng.uniform(low, self._high))
        self._top = top
        return delays


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
    """The ledger INSERTs of up to `recorders` batches and the queue write of the batch before,
    in background threads, while the caller reads and plans the next batch.

    The waits overlap: sqlite3, psycopg and redis release the GIL while the database or the
    queue works, and a SQLite ledger and a SQLite queue are separate files whose writers do
    not block each other. PostgreSQL takes two batches at once on two connections (it spends
    most of a batch checking the foreign key and filling five indexes, on one core a
    connection); SQLite has one writer, so one. Batches are collected in the order they were
    given, each before it is sent, so the ledger is always written first; one batch at most
    is on its way to the queue.
    """

    def __init__(
        self, enqueue_many: EnqueueMany, errors: tuple[type[Exception], ...], *, recorders: int = 1
    ) -> None:
        if recorders < 1:
            raise ValueError("recorders must be at least 1")
        self._enqueue_many = enqueue_many
        self._errors = errors
        self._recorders = recorders
        self._recorder = ThreadPoolExecutor(max_workers=recorders, thread_name_prefix="zws-record")
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zws-enqueue")
        self._recording: deque[tuple[BatchPlan, Future[RecordResult]]] = deque()
        self._sending: tuple[list[RecordedRun], Future[None]] | None = None

    @property
    def recorders_busy(self) -> bool:
        """Whether every recorder has a batch: collect the oldest before recording another."""
        return len(self._recording) >= self._recorders

    @property
    def recording(self) -> bool:
        return bool(self._recording)

    def record(self, plan: BatchPlan, action: Callable[[], RecordResult]) -> None:
        if self.recorders_busy:
            raise RuntimeError("every recorder already has a batch")
        self._recording.append((plan, self._recorder.submit(action)))

    def recorded(self) -> Recorded | None:
        """The oldest batch being recorded, once recorded (its error, if any, is raised here)."""
        if not self._recording:
            return None
        plan, future = self._recording.popleft()
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
