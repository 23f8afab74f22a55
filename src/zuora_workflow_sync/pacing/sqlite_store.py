"""Pacing state in the coordination SQLite file, shared by the processes of one machine.

Each step is one `BEGIN IMMEDIATE` transaction, so the file's write lock makes it atomic across
threads and processes, exactly like the Redis script it mirrors (`redis_store`). Calls run on a
thread of their own, so a transaction waiting for the lock never blocks the event loop. Times
are the machine's wall clock in integer microseconds (every process shares it), read once the
lock is held, so each step sees a later time than the step before it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from zuora_workflow_sync.coordination import CoordinationTarget, connect_sqlite
from zuora_workflow_sync.coordination.connect import retry_busy
from zuora_workflow_sync.pacing.aimd import Assessment, LimitState, Signal, adjust
from zuora_workflow_sync.pacing.store import (
    Admission,
    Outcome,
    Refusal,
    SlotRequest,
    TenantSnapshot,
)

T = TypeVar("T")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS pacing_slots (
        tenant TEXT NOT NULL, token TEXT NOT NULL, expires_at_us INTEGER NOT NULL,
        PRIMARY KEY (tenant, token)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS pacing_tenants (
        tenant TEXT PRIMARY KEY, current_limit REAL, decreased_at_us INTEGER NOT NULL,
        pause_until_us INTEGER NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS pacing_quotas (
        tenant TEXT NOT NULL, window_us INTEGER NOT NULL, window_start_us INTEGER NOT NULL,
        used INTEGER NOT NULL, PRIMARY KEY (tenant, window_us)) WITHOUT ROWID""",
)


def _now_us() -> int:
    return time.time_ns() // 1000


@contextmanager
def _immediate(connection: sqlite3.Connection) -> Iterator[int]:
    """A write transaction; yields the time, read after the lock was taken."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield _now_us()
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _tenant_state(db: sqlite3.Connection, key: str, max_in_flight: int) -> tuple[LimitState, int]:
    row = db.execute(
        "SELECT current_limit, decreased_at_us, pause_until_us FROM pacing_tenants "
        "WHERE tenant = ?",
        (key,),
    ).fetchone()
    if row is None:
        return LimitState(float(max_in_flight), 0.0), 0
    limit = min(max(float(row[0]), 1.0), float(max_in_flight))
    return LimitState(limit, float(row[1])), int(row[2])


def _take_quotas(db: sqlite3.Connection, request: SlotRequest, now: int) -> Admission | None:
    """Count the request in every window, or return the refusal of the first one used up."""
    stored = {
        int(window): (int(start), int(used))
        for window, start, used in db.execute(
            "SELECT window_us, window_start_us, used FROM pacing_quotas WHERE tenant = ?",
            (request.key,),
        )
    }
    rows = []
    for window in request.windows:
        width = window.microseconds
        start = now - now % width
        old_start, used = stored.get(width, (start, 0))
        used = used if old_start == start else 0
        if used >= window.quota:
            wait = (start + width - now) / 1_000_000
            return Admission(False, now, wait, Refusal.QUOTA, f"{width / 1_000_000:g}s window")
        rows.append((request.key, width, start, used + 1))
    db.executemany("INSERT OR REPLACE INTO pacing_quotas VALUES (?, ?, ?, ?)", rows)
    return None


def _acquire_at(db: sqlite3.Connection, request: SlotRequest, now: int) -> Admission:
    reclaimed = db.execute(
        "DELETE FROM pacing_slots WHERE tenant = ? AND expires_at_us <= ?", (request.key, now)
    ).rowcount
    state, pause_until = _tenant_state(db, request.key, request.max_in_flight)
    if pause_until > now:
        wait = (pause_until - now) / 1_000_000
        return Admission(False, now, wait, Refusal.PAUSED, reclaimed=reclaimed)
    cap = max(1, min(request.max_in_flight, int(state.limit)))
    (held,) = db.execute(
        "SELECT count(*) FROM pacing_slots WHERE tenant = ?", (request.key,)
    ).fetchone()
    if held >= cap:
        return Admission(False, now, 0.0, Refusal.BUSY, reclaimed=reclaimed)
    refused = _take_quotas(db, request, now)
    if refused is not None:
        return Admission(
            False, now, refused.wait_seconds, refused.refusal, refused.detail, reclaimed
        )
    db.execute(
        "INSERT OR REPLACE INTO pacing_slots VALUES (?, ?, ?)",
        (request.key, request.token, now + request.slot_ttl_us),
    )
    return Admission(True, now, reclaimed=reclaimed)


def _finish_at(
    db: sqlite3.Connection,
    request: SlotRequest,
    started_at_us: int,
    assessment: Assessment,
    now: int,
) -> Outcome:
    db.execute(
        "DELETE FROM pacing_slots WHERE tenant = ? AND token = ?", (request.key, request.token)
    )
    before, pause_until = _tenant_state(db, request.key, request.max_in_flight)
    after = adjust(
        before,
        assessment.signal,
        started_at=float(started_at_us),
        now=float(now),
        max_in_flight=request.max_in_flight,
    )
    pause_us = round((assessment.pause_seconds or 0.0) * 1_000_000)
    paused = pause_us > 0 and pause_until <= now
    if pause_us > 0 and now + pause_us > pause_until:
        pause_until = now + pause_us
    if after != before or pause_until > now or assessment.signal is not Signal.HOLD:
        db.execute(
            "INSERT OR REPLACE INTO pacing_tenants VALUES (?, ?, ?, ?)",
            (request.key, after.limit, int(after.decreased_at), pause_until),
        )
    return Outcome(before.limit, after.limit, paused, max(0, pause_until - now) / 1_000_000)


def _acquire(db: sqlite3.Connection, request: SlotRequest) -> Admission:
    with _immediate(db) as now:
        return _acquire_at(db, request, now)


def _finish(
    db: sqlite3.Connection, request: SlotRequest, started_at_us: int, assessment: Assessment
) -> Outcome:
    with _immediate(db) as now:
        return _finish_at(db, request, started_at_us, assessment, now)


def _renew(
    db: sqlite3.Connection,
    released: SlotRequest,
    started_at_us: int,
    assessment: Assessment,
    request: SlotRequest,
) -> tuple[Outcome, Admission]:
    with _immediate(db) as now:
        outcome = _finish_at(db, released, started_at_us, assessment, now)
        return outcome, _acquire_at(db, request, now)


def _extend(db: sqlite3.Connection, key: str, tokens: list[str], ttl_us: int) -> int:
    with _immediate(db) as now:
        return sum(
            db.execute(
                "UPDATE pacing_slots SET expires_at_us = ? "
                "WHERE tenant = ? AND token = ? AND expires_at_us > ?",
                (now + ttl_us, key, token, now),
            ).rowcount
            for token in tokens
        )


def _snapshot(db: sqlite3.Connection, key: str, max_in_flight: int) -> TenantSnapshot:
    now = _now_us()
    state, pause_until = _tenant_state(db, key, max_in_flight)
    (held,) = db.execute(
        "SELECT count(*) FROM pacing_slots WHERE tenant = ? AND expires_at_us > ?", (key, now)
    ).fetchone()
    return TenantSnapshot(state.limit, int(held), max(0, pause_until - now) / 1_000_000)


def _create_schema(db: sqlite3.Connection) -> None:
    with _immediate(db):
        for statement in _SCHEMA:
            db.execute(statement)


class SqlitePacingStore:
    """`PacingStore` on a SQLite file: one connection, used from one thread of its own."""

    def __init__(self, connection: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self._db = connection
        self._executor = executor

    @classmethod
    async def open(cls, target: CoordinationTarget) -> SqlitePacingStore:
        """Connect and create the pacing tables if missing."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zws-pacing")
        try:
            connection = await asyncio.get_running_loop().run_in_executor(
                executor, connect_sqlite, target
            )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        store = cls(connection, executor)
        try:
            await store._run(retry_busy, lambda: _create_schema(connection))
        except BaseException:
            await store.aclose()
            raise
        return store

    async def _run(self, function: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)

    async def try_acquire(self, request: SlotRequest) -> Admission:
        return await self._run(_acquire, self._db, request)

    async def finish(
        self, request: SlotRequest, *, started_at_us: int, assessment: Assessment
    ) -> Outcome:
        return await self._run(_finish, self._db, request, started_at_us, assessment)

    async def renew(
        self,
        released: SlotRequest,
        *,
        started_at_us: int,
        assessment: Assessment,
        request: SlotRequest,
    ) -> tuple[Outcome, Admission]:
        return await self._run(_renew, self._db, released, started_at_us, assessment, request)

    async def extend(self, key: str, tokens: list[str], ttl_seconds: float) -> int:
        if not tokens:
            return 0
        ttl_us = max(1, round(ttl_seconds * 1_000_000))
        return await self._run(_extend, self._db, key, tokens, ttl_us)

    async def snapshot(self, key: str, max_in_flight: int) -> TenantSnapshot:
        return await self._run(_snapshot, self._db, key, max_in_flight)

    async def aclose(self) -> None:
        await self._run(self._db.close)
        self._executor.shutdown(wait=True)
