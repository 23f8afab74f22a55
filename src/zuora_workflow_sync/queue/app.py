"""`open_queue`: one named job queue on SQLite or Redis, through Huey; jobs carry a run id only.

The ledger is the source of truth and the queue only transport: a lost job is found again from
the ledger, so every storage failure surfaces as a short `QueueUnavailableError`.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import huey

from zuora_workflow_sync.drivers import missing_extra
from zuora_workflow_sync.errors import ConfigurationError, WorkflowSyncError
from zuora_workflow_sync.queue.bulk import JobMessages, write_jobs
from zuora_workflow_sync.queue.huey_drivers import lend_redis
from zuora_workflow_sync.queue.serializer import JsonSerializer

logger = logging.getLogger(__name__)

TASK_NAME = "sync_run"
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_USERINFO = re.compile(r"(?<=://)[^@/]*@")
_MAX_REASON_CHARS = 200
# Seconds a SQLite writer waits for another's lock before the call fails (reliability F11).
_SQLITE_BUSY_TIMEOUT_SECONDS = 15.0
# A Redis command (or connect) that gets no answer this long fails as the queue being down.
REDIS_SOCKET_TIMEOUT_SECONDS = 10.0
_REVOCATION_PREFIX = "r:"  # huey.api.Task.revoke_id

T = TypeVar("T")
Handler = Callable[[int], None]


class QueueUnavailableError(WorkflowSyncError):
    """The queue's storage cannot be opened, reached or written.

    The message (also `reason`) is short, one line and free of secrets, e.g. `unable to open
    database file`: callers print it as `Queue unavailable (<reason>)`.
    """

    def __init__(self, reason: str, *, queue: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.queue = queue


class JobQueue:
    """One named queue: enqueue run ids, count what waits, and (for the worker) run jobs.

    Build it with `open_queue`. Safe to share between threads.
    """

    def __init__(self, backend: Any, *, url: str, handler: Handler) -> None:
        self._huey = backend
        self._url = url
        self._errors = _storage_errors(redis=isinstance(backend, _RedisHuey))
        task = _job(backend.name, handler)
        self._task = backend.task(retries=0, name=TASK_NAME)(task)
        self._messages = JobMessages(backend, self._task)

    @property
    def name(self) -> str:
        return str(self._huey.name)

    @property
    def url(self) -> str:
        """The storage URL with any credentials masked: safe to print or log."""
        return redact_url(self._url)

    @property
    def huey(self) -> Any:
        """The Huey instance, for `queue.consumer` only."""
        return self._huey

    def enqueue(self, run_id: int, delay_seconds: float = 0.0) -> None:
        """Send a job for `run_id`, to run at once or after `delay_seconds`."""
        _check_job(run_id, delay_seconds)
        with self.unavailable_as_error():
            if delay_seconds > 0:
                self._task.schedule(args=(run_id,), delay=delay_seconds)
            else:
                self._task(run_id)

    def enqueue_many(self, items: Iterable[tuple[int, float]]) -> None:
        """Send a job per `(run_id, delay_seconds)`, the whole batch in one storage round trip.

        One SQLite transaction or one Redis MULTI/EXEC (`queue.bulk`: Huey has no bulk enqueue),
        so a failure means the batch was not sent: QueueUnavailableError. An invalid item raises
        ValueError before anything is written.
        """
        jobs = list(items)
        for run_id, delay_seconds in jobs:
            _check_job(run_id, delay_seconds)
        if not jobs:
            return
        immediate, delayed = self._messages.build(jobs)
        with self.unavailable_as_error():
            write_jobs(self._huey.storage, immediate, delayed)

    def pending_count(self) -> int:
        """Jobs waiting to be taken (delayed jobs not yet moved to the schedule included)."""
        return int(self._call(self._huey.pending_count))

    def scheduled_count(self) -> int:
        """Jobs waiting for their time in the schedule."""
        return int(self._call(self._huey.scheduled_count))

    def ping(self) -> None:
        """Raise QueueUnavailableError unless the storage answers."""
        self._call(self._huey.pending_count)

    def close(self) -> None:
        storage = self._huey.storage
        storage.close()
        pool = getattr(storage, "pool", None)
        if pool is not None:
            pool.disconnect()

    def describe_error(self, exc: BaseException) -> str:
        """A short, one-line reason for a storage failure, with the URL's password masked."""
        return _short_reason(exc, self._url)

    @contextmanager
    def unavailable_as_error(self) -> Iterator[None]:
        """Turn a storage failure inside the block into a QueueUnavailableError."""
        try:
            yield
        except self._errors as exc:
            raise QueueUnavailableError(self.describe_error(exc), queue=self.name) from exc

    def _call(self, action: Callable[[], T]) -> T:
        with self.unavailable_as_error():
            return action()

    def __repr__(self) -> str:
        return f"JobQueue(name={self.name!r}, url={self.url!r})"


def open_queue(queue_url: str, name: str, handler: Handler | None = None) -> JobQueue:
    """Open the queue `name` on `queue_url` (`sqlite:///PATH`, `redis://...`, `rediss://...`).

    `handler(run_id)` runs each job in a worker; a queue opened without one only enqueues.
    Raises ConfigurationError for a bad URL or name, QueueUnavailableError when the storage
    cannot be opened.
    """
    check_queue_name(name)
    scheme = _scheme(queue_url)
    try:
        if scheme == "sqlite":
            backend = _open_sqlite(queue_url, name)
        elif scheme in ("redis", "rediss"):
            backend = _open_redis(queue_url, name)
        else:
            raise ConfigurationError(
                f"unsupported queue URL {redact_url(queue_url)!r}: "
                "use sqlite:///PATH, redis://HOST[:PORT]/DB or rediss://..."
            )
    except _storage_errors(redis=scheme in ("redis", "rediss")) as exc:
        raise QueueUnavailableError(_short_reason(exc, queue_url), queue=name) from exc
    return JobQueue(backend, url=queue_url, handler=handler or _enqueue_only(name))


def check_queue_name(name: str) -> None:
    """Raise ConfigurationError unless `name` is 1-64 characters of [A-Za-z0-9_.-]."""
    if not _NAME.fullmatch(name):
        raise ConfigurationError(
            f"invalid queue name {name[:80]!r}: use 1-64 letters, digits, '_', '.' or '-'"
        )


def redact_url(url: str) -> str:
    """`redis://:secret@host/0` -> `redis://***@host/0`; other URLs unchanged."""
    return _USERINFO.sub("***@", url, count=1)


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        raise ConfigurationError(f"invalid queue URL {redact_url(url)!r}") from None


class _NoRevocation:
    """Huey reads a revocation flag from its storage before every job and deletes it after: two
    round trips to the queue between two jobs of a worker. Nothing here revokes a Huey job (a
    run is stopped or skipped in the ledger, which its job reads when it claims the run), so
    both are skipped. Only keys of revocation flags (`r:` + the job's id) are left alone."""

    def is_revoked(self, task: Any, timestamp: Any = None, peek: bool = True) -> bool:
        return False

    def delete(self, key: str) -> Any:
        if key.startswith(_REVOCATION_PREFIX):
            return False
        return super().delete(key)  # type: ignore[misc]  # Huey's own


class _SqliteHuey(_NoRevocation, huey.SqliteHuey):  # type: ignore[misc]  # huey has no hints
    pass


class _RedisHuey(_NoRevocation, huey.RedisHuey):  # type: ignore[misc]
    pass


def _open_sqlite(queue_url: str, name: str) -> Any:
    path = queue_url.split(":///", 1)[1] if ":///" in queue_url else ""
    if not path or path == ":memory:" or not queue_url.lower().startswith("sqlite:///"):
        raise ConfigurationError(
            f"invalid queue URL {queue_url!r}: use sqlite:///PATH to a file every process can open"
        )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return _SqliteHuey(
        name=name,
        filename=path,
        results=False,
        utc=True,
        serializer=JsonSerializer(),
        timeout=_SQLITE_BUSY_TIMEOUT_SECONDS,
    )


def _redis_pool(queue_url: str) -> Any:
    """redis-py's pool for `queue_url`, with socket timeouts: without them a Redis that stops
    answering (SIGSTOP, a partition without a reset) would hang a dispatch or a worker's
    dequeue forever instead of failing into the queue-unavailable path. Called after
    `lend_redis`, which has found redis-py (or named the missing extra)."""
    from redis import ConnectionPool

    return ConnectionPool.from_url(
        queue_url,
        socket_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
        # No CLIENT SETINFO on connect: redis-py would read its own package metadata.
        driver_info=None,
    )


def _open_redis(queue_url: str, name: str) -> Any:
    try:
        lend_redis()
    except ImportError:
        raise missing_extra("Redis", "redis") from None
    try:
        return _RedisHuey(
            name=name,
            connection_pool=_redis_pool(queue_url),
            # Huey's blocking dequeue waits this long per BRPOP: well inside the socket timeout.
            read_timeout=1,
            results=False,
            utc=True,
            serializer=JsonSerializer(),
            # Keep the name exact: Huey would otherwise drop '.' and '-', merging queues.
            clean_name=False,
        )
    except ValueError as exc:
        raise ConfigurationError(
            f"invalid queue URL {redact_url(queue_url)!r}: {_short_reason(exc, queue_url)}"
        ) from None


def _job(queue: str, handler: Handler) -> Handler:
    """The function Huey runs: hand the run id to `handler`; log, never raise, its failure.

    Huey must not retry (the ledger decides retries) and a failing job must not stop a worker.
    """

    def sync_run(run_id: int) -> None:
        if type(run_id) is not int or run_id < 1:
            logger.error("queue %s: dropped a job with an invalid run id", queue)
            return
        try:
            handler(run_id)
        except Exception:
            logger.exception("queue %s: job of run %d failed", queue, run_id)

    return sync_run


def _enqueue_only(queue: str) -> Handler:
    def refuse(run_id: int) -> None:
        raise RuntimeError(f"queue {queue} was opened to enqueue only; run {run_id} not run")

    return refuse


def _check_job(run_id: int, delay_seconds: float) -> None:
    if type(run_id) is not int or run_id < 1:
        raise ValueError(f"run_id must be a positive int, not {run_id!r}")
    if not 0 <= delay_seconds < float("inf"):
        raise ValueError(f"delay_seconds must be finite and >= 0, not {delay_seconds!r}")


def _storage_errors(*, redis: bool) -> tuple[type[BaseException], ...]:
    """Exceptions that mean the storage is unreachable or unusable (redis-py's on a Redis queue
    only: a SQLite queue's process need not import it)."""
    errors: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)
    if not redis:
        return errors
    try:
        from redis.exceptions import RedisError
    except ImportError:
        return errors
    return (*errors, RedisError)


def _short_reason(exc: BaseException, url: str) -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        text = f"{exc.strerror}: {exc.filename}"
    else:
        text = str(exc) or type(exc).__name__
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    text = text.replace(url, redact_url(url))
    if password:
        text = text.replace(password, "***")
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 3] + "..."
