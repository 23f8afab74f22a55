"""Where shared tokens are kept: Redis keys with expiries, or two tables in the SQLite file.

Backends store sealed (already encrypted) entries and short locks under opaque names, and know
nothing of tokens; `coordination.tokens` decides what to store and when. Each method may raise
one of the backend's `errors` when the store cannot be reached (redis-py's only for the Redis
backend: a process on the SQLite file never imports it).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol, TypeVar

from zuora_workflow_sync.coordination.connect import (
    CoordinationTarget,
    connect_sqlite,
    retry_busy,
)

if TYPE_CHECKING:
    import redis.asyncio as aioredis

T = TypeVar("T")

_SQLITE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)
_REDIS_PREFIX = "zws:token:"
_REDIS_LOCK_PREFIX = "zws:token-lock:"
# Delete a key only if it still holds the given value (the token entry, or the lock's owner).
_DELETE_IF_EQUAL = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)


class TokenBackend(Protocol):
    """Raw storage of sealed entries and locks; every method may raise one of `errors`."""

    errors: tuple[type[BaseException], ...]  # what a method raises when the store is down

    async def load(self, name: str) -> str | None: ...

    async def save(self, name: str, sealed: str, expires_at: float, now: float) -> None: ...

    async def remove_if(self, name: str, sealed: str) -> None: ...

    async def try_lock(self, name: str, owner: str, seconds: float, now: float) -> bool: ...

    async def unlock(self, name: str, owner: str) -> None: ...

    async def close(self) -> None: ...


class RedisTokenBackend:
    """Entries as `zws:token:<hash>` with a PX expiry; locks as `SET NX PX` keys.

    `owned`: `close` closes the client (False when it is borrowed from a `JobSession`).
    """

    def __init__(self, client: aioredis.Redis, *, owned: bool = True) -> None:
        from redis.exceptions import RedisError

        self._client = client
        self._owned = owned
        self.errors: tuple[type[BaseException], ...] = (RedisError, OSError)

    async def load(self, name: str) -> str | None:
        value = await self._client.get(_REDIS_PREFIX + name)
        # A value that is not ASCII cannot be a Fernet token: it fails to decrypt, not here.
        return value.decode("ascii", errors="replace") if isinstance(value, bytes) else None

    async def save(self, name: str, sealed: str, expires_at: float, now: float) -> None:
        milliseconds = int((expires_at - now) * 1000)
        if milliseconds > 0:
            await self._client.set(_REDIS_PREFIX + name, sealed.encode(), px=milliseconds)

    async def remove_if(self, name: str, sealed: str) -> None:
        await self._client.eval(_DELETE_IF_EQUAL, 1, _REDIS_PREFIX + name, sealed.encode())

    async def try_lock(self, name: str, owner: str, seconds: float, now: float) -> bool:
        milliseconds = max(1, int(seconds * 1000))
        taken = await self._client.set(_REDIS_LOCK_PREFIX + name, owner, nx=True, px=milliseconds)
        return bool(taken)

    async def unlock(self, name: str, owner: str) -> None:
        await self._client.eval(_DELETE_IF_EQUAL, 1, _REDIS_LOCK_PREFIX + name, owner)

    async def close(self) -> None:
        if self._owned:
            await self._client.aclose()


class SqliteTokenBackend:
    """Tables `token_cache` and `token_locks` in the coordination file; expired rows deleted.

    Calls run in a thread (a busy file can make a write wait); one connection per backend,
    serialized by a lock, so `BEGIN IMMEDIATE` never nests.
    """

    errors = _SQLITE_ERRORS

    def __init__(self, target: CoordinationTarget) -> None:
        self._target = target
        self._connection: sqlite3.Connection | None = None
        self._mutex = threading.Lock()

    async def load(self, name: str) -> str | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT sealed FROM token_cache WHERE name = ?", (name,)
            ).fetchone()
        )
        return str(row[0]) if row is not None else None

    async def save(self, name: str, sealed: str, expires_at: float, now: float) -> None:
        def save(db: sqlite3.Connection) -> None:
            with _immediate(db):
                db.execute("DELETE FROM token_cache WHERE expires_at <= ?", (now,))
                db.execute(
                    "INSERT INTO token_cache (name, sealed, expires_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE "
                    "SET sealed = excluded.sealed, expires_at = excluded.expires_at",
                    (name, sealed, expires_at),
                )

        await self._run(save)

    async def remove_if(self, name: str, sealed: str) -> None:
        await self._run(
            lambda db: db.execute(
                "DELETE FROM token_cache WHERE name = ? AND sealed = ?", (name, sealed)
            )
        )

    async def try_lock(self, name: str, owner: str, seconds: float, now: float) -> bool:
        def take(db: sqlite3.Connection) -> bool:
            with _immediate(db):
                db.execute("DELETE FROM token_locks WHERE expires_at <= ?", (now,))
                cursor = db.execute(
                    "INSERT OR IGNORE INTO token_locks (name, owner, expires_at) VALUES (?, ?, ?)",
                    (name, owner, now + seconds),
                )
                return cursor.rowcount == 1

        return await self._run(take)

    async def unlock(self, name: str, owner: str) -> None:
        await self._run(
            lambda db: db.execute(
                "DELETE FROM token_locks WHERE name = ? AND owner = ?", (name, owner)
            )
        )

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    async def _run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._locked, operation)

    def _locked(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        with self._mutex:
            if self._connection is None:
                self._connection = _open_sqlite(self._target)
            return operation(self._connection)

    def _close(self) -> None:
        with self._mutex:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


@contextlib.contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[None]:
    """`BEGIN IMMEDIATE` ... `COMMIT`, or `ROLLBACK` on error (autocommit connections)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _create_schema(connection: sqlite3.Connection) -> None:
    connection.execute(
        "CREATE TABLE IF NOT EXISTS token_cache "
        "(name TEXT PRIMARY KEY, sealed TEXT NOT NULL, expires_at REAL NOT NULL)"
    )
    connection.execute(
        "CREATE TABLE IF NOT EXISTS token_locks "
        "(name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL)"
    )


def _open_sqlite(target: CoordinationTarget) -> sqlite3.Connection:
    connection = connect_sqlite(target)
    try:
        retry_busy(lambda: _create_schema(connection))
    except sqlite3.Error:
        connection.close()
        raise
    return connection
