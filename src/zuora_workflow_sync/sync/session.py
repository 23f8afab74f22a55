"""`JobSession`: what one worker thread keeps from one sync job to the next.

An event loop, the HTTP connection pool and the coordination store's Redis client (shared by
the pacer and the token cache), or on the embedded default the coordination file's pacing and
token stores (`sync.coordination_file`). A job without a session makes its own and closes
them: a new loop, four to six new connections to Zuora, two Redis connections and their
set-up. On loopback against the simulator that is ~2 ms of a 350 ms sync; against Zuora every
new connection is also a TLS handshake (a round trip or two to the data centre, and CPU), for
every job. The customers of one Zuora environment share its host, so the pool's connections
serve them in turn.

Nothing of a customer outlives its job here: the pool keeps no cookies (see
`zuora.transport`), tokens live in the shared token cache, and any task a job leaves behind is
cancelled when it ends (as `asyncio.run` does). One session per thread (`thread_session`);
asyncio objects belong to the loop that made them.

A session that `finishes_later` (a worker's) also has a finisher thread: once a job has read
Zuora, its ledger transaction (fenced, as always; ~10 ms of a 350 ms sync) runs there while
the worker thread takes its next job. It starts once that next job's coroutine is under way
(its claim and reads from the store done; it then mostly waits on Zuora), or after
`FINISH_WAIT_SECONDS` when no job comes: run at once, it competed with the next job's claim for
the interpreter and the database and delayed its first request by ~6 ms. One transaction at a
time: the next hand-over waits for the previous one, and closing the session waits for the
last. Until it commits, the run is `running` under the job's lease, as during the read.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from zuora_workflow_sync.coordination.connect import parse_coordination_url, redis_client
from zuora_workflow_sync.coordination.token_backends import SqliteTokenBackend
from zuora_workflow_sync.pacing.sqlite_store import SqlitePacingStore
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.sync.coordination_file import CoordinationFile
from zuora_workflow_sync.zuora import TransportLimits, new_http_client

if TYPE_CHECKING:
    import redis.asyncio as aioredis

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A handed-over transaction waits at most this long for the thread's next job to start
# (so it runs while that job waits on the network, not during its claim and reads).
FINISH_WAIT_SECONDS = 0.05


class JobSession:
    """A worker thread's event loop and the connections its jobs reuse; `close` when done."""

    def __init__(
        self,
        settings: Settings,
        *,
        finishes_later: bool = False,
        finish_wait_seconds: float = FINISH_WAIT_SECONDS,
    ) -> None:
        self.settings = settings
        self.finishes_later = finishes_later
        self._finish_wait_seconds = finish_wait_seconds
        self._coordination = parse_coordination_url(settings.resolved_coordination_url)
        self._runner = asyncio.Runner()
        self._http: httpx.AsyncClient | None = None
        self._redis: aioredis.Redis | None = None
        self._file = (
            CoordinationFile(self._coordination) if self._coordination.kind == "sqlite" else None
        )
        self._finisher: ThreadPoolExecutor | None = None
        self._finishing: Future[object] | None = None
        self._go = threading.Event()
        self._closed = False

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run one job's coroutine on the session's loop; tasks it left behind are cancelled.

        A transaction handed over by the previous job starts once this one first waits."""
        if self._closed:
            work.close()
            raise RuntimeError("this job session is closed")
        return self._runner.run(_cancelling_leftovers(work, self._go))

    def http(self, limits: TransportLimits, max_connections: int) -> httpx.AsyncClient:
        """The pool, made on first use with these bounds (the settings' own: they are the same
        for every job of the session)."""
        if self._http is None:
            self._http = new_http_client(limits, max_connections=max_connections)
        return self._http

    def redis(self) -> aioredis.Redis | None:
        """The coordination store's Redis client, or None when the store is a SQLite file."""
        if self._coordination.kind != "redis":
            return None
        if self._redis is None:
            self._redis = redis_client(self._coordination)
        return self._redis

    async def file_stores(self) -> tuple[SqlitePacingStore, SqliteTokenBackend] | None:
        """The coordination file's pacing and token stores (run on the session's loop), or
        None when the coordination store is Redis."""
        return None if self._file is None else await self._file.stores()

    def finish_later(self, finish: Callable[[], object]) -> None:
        """Run `finish` on the finisher thread once the previous one is done and the next job
        has started (or `finish_wait_seconds` have passed)."""
        if self._closed:
            raise RuntimeError("this job session is closed")
        self.wait_finished()
        if self._finisher is None:
            self._finisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zws-finish")
        self._go = go = threading.Event()
        self._finishing = self._finisher.submit(_when_told, go, self._finish_wait_seconds, finish)

    def wait_finished(self) -> None:
        """Wait for the transaction handed to the finisher, if any (its failure is logged)."""
        finishing, self._finishing = self._finishing, None
        if finishing is None:
            return
        self._go.set()
        try:
            finishing.result()
        except Exception:  # the job's own handlers record failures; this is a bug's last net
            logger.exception("finishing a sync run failed")

    def close(self) -> None:
        """Wait for the last hand-over, close the connections, then the loop; closing twice
        does nothing."""
        if self._closed:
            return
        self._closed = True
        self.wait_finished()
        if self._finisher is not None:
            self._finisher.shutdown(wait=True)
        try:
            if self._http is not None or self._redis is not None or self._file is not None:
                self._runner.run(self._close_connections())
        except Exception:  # a connection that cannot close cleanly is dropped with the loop
            logger.debug("closing a job session's connections failed", exc_info=True)
        finally:
            self._runner.close()

    async def _close_connections(self) -> None:
        http, self._http = self._http, None
        client, self._redis = self._redis, None
        if http is not None:
            await http.aclose()
        if client is not None:
            await client.aclose()
        if self._file is not None:
            await self._file.aclose()


def _when_told(go: threading.Event, wait_seconds: float, finish: Callable[[], T]) -> T:
    go.wait(wait_seconds)
    return finish()


async def _cancelling_leftovers(work: Coroutine[Any, Any, T], go: threading.Event) -> T:
    asyncio.get_running_loop().call_soon(go.set)
    try:
        return await work
    finally:
        current = asyncio.current_task()
        leftovers = [task for task in asyncio.all_tasks() if task is not current]
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.gather(*leftovers, return_exceptions=True)


_local = threading.local()


@contextmanager
def thread_session(settings: Settings, *, finishes_later: bool = True) -> Iterator[JobSession]:
    """A session for the calling thread, found by `current_session()` until the block ends."""
    session = JobSession(settings, finishes_later=finishes_later)
    _local.session = session
    try:
        yield session
    finally:
        _local.session = None
        session.close()


def current_session() -> JobSession | None:
    """The calling thread's session, if it runs inside `thread_session`."""
    session: JobSession | None = getattr(_local, "session", None)
    return session
