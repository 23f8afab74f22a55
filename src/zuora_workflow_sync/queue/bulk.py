"""Bulk enqueue: a batch of jobs written to Huey's storage in one round trip, as Huey writes them.

Huey has no bulk enqueue: every `enqueue` or `schedule` is its own storage write (SqliteStorage
commits each one, ~0.3 ms), which made a 100,000-customer dispatch take ~30 s. Here a batch goes
in one SQLite transaction or one Redis MULTI/EXEC, into the rows and keys Huey's own storage
writes: immediate jobs into the queue (`task` table, or LPUSH), delayed jobs straight into the
schedule (`schedule` table, or ZADD) with their eta, as Huey's `add_schedule` stores them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from huey.storage import RedisStorage, SqliteStorage
from huey.utils import normalize_time

Job = tuple[int, float]
Scheduled = tuple[bytes, datetime]

# Probe values whose text cannot occur elsewhere in a serialized message (etas are naive, as
# Huey's are: UTC when `huey.utc`).
_PROBE = (
    "zws-probe-id-7c4e1f",
    datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=UTC).replace(tzinfo=None),
    918_273_645_546_372_819,
)
_CHECK = (
    "zws-check-id-2b9d30",
    datetime(2002, 3, 4, 5, 6, 7, 890123, tzinfo=UTC).replace(tzinfo=None),
    102_938_475_610_293_847,
)


class JobMessages:
    """Serialized job messages of one task, byte for byte what `huey.serialize_task` returns.

    Serializing through Huey (Task, registry Message, JSON serializer) costs ~20 us a job, the
    larger part of a 100,000-run dispatch. So one probe message per shape (with and without an
    eta) is serialized through Huey and cut at its task id, eta and run id, and each job's message
    is spliced from the pieces. A second probe checks that the splice reproduces Huey's bytes;
    if it does not (another serializer), every message is serialized through Huey instead.
    """

    def __init__(self, huey: Any, task: Any) -> None:
        self._huey = huey
        self._task = task
        self._immediate = self._pieces(with_eta=False)
        self._delayed = self._pieces(with_eta=True)

    def build(self, jobs: Sequence[Job]) -> tuple[list[bytes], list[Scheduled]]:
        """Messages of jobs to run now, and of delayed jobs with their eta (Huey's clock)."""
        now = normalize_time(delay=0, utc=self._huey.utc)  # Huey's clock for an eta
        immediate: list[bytes] = []
        delayed: list[Scheduled] = []
        message = self._message
        for (run_id, delay_seconds), task_id in zip(jobs, task_ids(len(jobs)), strict=True):
            if delay_seconds > 0:
                eta = now + timedelta(seconds=delay_seconds)
                delayed.append((message(task_id, run_id, eta), eta))
            else:
                immediate.append(message(task_id, run_id, None))
        return immediate, delayed

    def _message(self, task_id: str, run_id: int, eta: datetime | None) -> bytes:
        if eta is None and self._immediate is not None:
            head, middle, tail = self._immediate
            return f"{head}{task_id}{middle}{run_id}{tail}".encode()
        if eta is not None and self._delayed is not None:
            head, after_id, after_eta, tail = self._delayed
            return f"{head}{task_id}{after_id}{eta.isoformat()}{after_eta}{run_id}{tail}".encode()
        return self._through_huey(task_id, eta, run_id)

    def _through_huey(self, task_id: str, eta: datetime | None, run_id: int) -> bytes:
        task = self._task.task_class((run_id,), {}, id=task_id, eta=eta)
        data: bytes = self._huey.serialize_task(task)
        return data

    def _pieces(self, *, with_eta: bool) -> tuple[str, ...] | None:
        probe, check = (_Probe(*values, with_eta=with_eta) for values in (_PROBE, _CHECK))
        pieces = _cut(self._through_huey(*probe.fields), probe.texts)
        if pieces is None:
            return None
        spliced = _splice(pieces, check.texts)
        return pieces if spliced == self._through_huey(*check.fields) else None


class _Probe:
    """A task id, eta (or none) and run id; their text as a serialized message shows them."""

    def __init__(self, task_id: str, eta: datetime, run_id: int, *, with_eta: bool) -> None:
        self.fields = (task_id, eta if with_eta else None, run_id)
        self.texts = [task_id, *([eta.isoformat()] if with_eta else []), str(run_id)]


def task_ids(count: int) -> Iterator[str]:
    """`count` random version-4 UUIDs as text, the ids Huey's `Task.create_id` makes.

    From one `os.urandom` call: `str(uuid.uuid4())` costs ~2.5 us each, a tenth of a second per
    40,000 jobs.
    """
    digits = os.urandom(16 * count).hex()
    for start in range(0, 32 * count, 32):
        h = digits[start : start + 32]
        yield f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


# The RFC 4122 variant: the top two bits of the 17th hex digit are 10.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def write_jobs(storage: Any, immediate: list[bytes], delayed: list[Scheduled]) -> None:
    """Write a batch in one round trip: one SQLite transaction, or one Redis MULTI/EXEC."""
    if type(storage) is SqliteStorage:
        _write_sqlite(storage, immediate, delayed)
    elif type(storage) is RedisStorage:
        _write_redis(storage, immediate, delayed)
    else:
        for data in immediate:
            storage.enqueue(data)
        for data, eta in delayed:
            storage.add_to_schedule(data, eta)


def _write_sqlite(storage: Any, immediate: list[bytes], delayed: list[Scheduled]) -> None:
    # The statements and values of SqliteStorage.enqueue and .add_to_schedule (priority None
    # is stored as 0; a naive eta is converted by .timestamp() as read_schedule converts now).
    name, blob = storage.name, storage.to_blob
    with storage.db(commit=True) as cursor:
        if immediate:
            cursor.executemany(
                "insert into task (queue, data, priority) values (?, ?, ?)",
                [(name, blob(data), 0) for data in immediate],
            )
        if delayed:
            # eta.timestamp() of a naive eta is its whole second's, plus microseconds / 1e6.
            times = _timestamps(delayed, _naive_timestamp, _microseconds_over_1e6)
            cursor.executemany(
                "insert into schedule (queue, data, timestamp) values (?, ?, ?)",
                [(name, blob(data), at) for (data, _), at in zip(delayed, times, strict=True)],
            )


def _write_redis(storage: Any, immediate: list[bytes], delayed: list[Scheduled]) -> None:
    # RedisStorage.enqueue is LPUSH and .add_to_schedule ZADD; one LPUSH of many values pushes
    # them in order, exactly as one LPUSH each.
    with storage.conn.pipeline(transaction=True) as pipe:
        if immediate:
            pipe.lpush(storage.queue_key, *immediate)
        if delayed:
            # RedisStorage.convert_ts: mktime of the whole second, plus microseconds * 1e-6.
            times = _timestamps(delayed, storage.convert_ts, _microseconds_times_1e_6)
            scores = {data: at for (data, _), at in zip(delayed, times, strict=True)}
            pipe.zadd(storage.schedule_key, scores)
        pipe.execute()


def _timestamps(
    delayed: list[Scheduled],
    whole_second: Callable[[datetime], float],
    fraction: Callable[[int], float],
) -> list[float]:
    """The storage's timestamp of each eta: `whole_second(eta without microseconds)` plus
    `fraction(microseconds)`, the same arithmetic as the storage's own conversion.

    `whole_second` (mktime, ~2.5 us) is called once per distinct second: dispatch sends a
    batch in eta order, so consecutive etas mostly share their second (any order is correct).
    """
    if not delayed:
        return []
    seconds: dict[datetime, float] = {}
    times: list[float] = []
    base = 0.0
    start = limit = delayed[0][1]  # an empty range: the first eta computes its second
    for _, eta in delayed:
        if not start <= eta < limit:
            start = eta.replace(microsecond=0)
            limit = start + _ONE_SECOND
            known = seconds.get(start)
            base = seconds[start] = whole_second(start) if known is None else known
        times.append(base + fraction(eta.microsecond))
    return times


_ONE_SECOND = timedelta(seconds=1)


def _naive_timestamp(moment: datetime) -> float:
    return moment.timestamp()


def _microseconds_over_1e6(microseconds: int) -> float:
    return microseconds / 1e6


def _microseconds_times_1e_6(microseconds: int) -> float:
    return microseconds * 1e-6


def _cut(data: bytes, markers: list[str]) -> tuple[str, ...] | None:
    """`data` split at each marker, in order; None unless it is text where each occurs once."""
    try:
        text = rest = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    pieces: list[str] = []
    for marker in markers:
        if text.count(marker) != 1 or marker not in rest:
            return None
        head, rest = rest.split(marker)
        pieces.append(head)
    return (*pieces, rest)


def _splice(pieces: tuple[str, ...], values: list[str]) -> bytes:
    parts = [pieces[0]]
    for value, piece in zip(values, pieces[1:], strict=True):
        parts += (value, piece)
    return "".join(parts).encode()
