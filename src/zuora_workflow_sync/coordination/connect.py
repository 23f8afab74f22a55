"""Opening the coordination store named by `Settings.resolved_coordination_url`.

Redis (`redis://`, `rediss://`) when the queue is on Redis: every host of the fleet sees it.
Otherwise a SQLite file (`sqlite:///PATH`): the embedded default runs on one machine, and a
file in WAL mode is shared by all of its processes without a server.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar
from urllib.parse import urlsplit

from zuora_workflow_sync.drivers import redis_class
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.queue.app import redact_url

if TYPE_CHECKING:
    import redis.asyncio as aioredis

T = TypeVar("T")

_SQLITE_BUSY_TIMEOUT_SECONDS = 10.0
_REDIS_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class CoordinationTarget:
    """A parsed coordination URL: its kind and where it points."""

    kind: Literal["redis", "sqlite"]
    url: str

    @property
    def path(self) -> Path:
        """The SQLite file (only for kind "sqlite")."""
        if self.kind != "sqlite":
            raise ValueError("only a sqlite coordination store has a path")
        return Path(self.url.split(":///", 1)[1])

    def __repr__(self) -> str:
        return f"CoordinationTarget({self.kind!r}, {redact_url(self.url)!r})"


def parse_coordination_url(url: str) -> CoordinationTarget:
    """`redis://...`, `rediss://...` or `sqlite:///PATH`; ConfigurationError otherwise."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme in ("redis", "rediss"):
        return CoordinationTarget("redis", url)
    if scheme == "sqlite" and url.lower().startswith("sqlite:///"):
        path = url.split(":///", 1)[1]
        if path and path != ":memory:":
            return CoordinationTarget("sqlite", url)
    raise ConfigurationError(
        f"invalid coordination URL {redact_url(url)!r}: use redis://HOST[:PORT]/DB, "
        "rediss://... or sqlite:///PATH to a file every process can open"
    )


def redis_client(target: CoordinationTarget) -> aioredis.Redis:
    """An asyncio Redis client (bytes in and out) with bounded connect and read times."""
    if target.kind != "redis":
        raise ValueError("not a redis coordination store")
    client: aioredis.Redis = redis_class().from_url(
        target.url,
        socket_timeout=_REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
        decode_responses=False,
        # No CLIENT SETINFO on connect: redis-py would read its own package metadata (an email
        # parser run) for every new connection, a few ms of CPU per sync job.
        driver_info=None,
    )
    return client


def connect_sqlite(target: CoordinationTarget) -> sqlite3.Connection:
    """A connection to the coordination file (created if missing), WAL, autocommit mode.

    Callers take `BEGIN IMMEDIATE` around each read-modify-write, so the file's write lock
    serializes them across threads and processes.
    """
    path = target.path
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(
        path,
        timeout=_SQLITE_BUSY_TIMEOUT_SECONDS,
        isolation_level=None,
        check_same_thread=False,
    )
    try:
        retry_busy(lambda: _use_wal(connection))
    except BaseException:
        connection.close()
        raise
    return connection


def retry_busy(operation: Callable[[], T]) -> T:
    """Run `operation`, again after a short random pause while SQLite says the file is locked.

    The busy timeout covers ordinary lock waits, but not all: switching a new file to WAL and
    recovering a WAL after a crash answer "database is locked" at once, which happens when many
    processes open the file together. Up to the busy timeout in all.
    """
    deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_SECONDS
    while True:
        try:
            return operation()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(random.uniform(0.005, 0.05))


def _use_wal(connection: sqlite3.Connection) -> None:
    mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    if str(mode).lower() != "wal":
        connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
