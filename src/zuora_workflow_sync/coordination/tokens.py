"""Access tokens shared by every worker process, encrypted at rest, renewed by one at a time.

An entry is named by a hash of its token key (no client id in clear) and holds the token with its
wall-clock renewal and expiry, sealed with the installation's Fernet keys. When the token is
missing or due, one process takes a short lock (Redis `SET NX PX`, or a lock row written inside
`BEGIN IMMEDIATE`) and fetches; the others poll briefly and read what it wrote, or keep using the
old token while it is still valid. A lock whose holder died expires. An entry that cannot be
decrypted counts as missing; an unreachable store degrades to this process's own cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from pydantic import SecretStr

from zuora_workflow_sync.coordination.connect import CoordinationTarget, redis_client
from zuora_workflow_sync.coordination.token_backends import (
    RedisTokenBackend,
    SqliteTokenBackend,
    TokenBackend,
)
from zuora_workflow_sync.store.secrets import Keyring, SecretsError
from zuora_workflow_sync.zuora.auth import SharedToken, SharedTokenFetcher, TokenKey

if TYPE_CHECKING:
    import redis.asyncio as aioredis

logger = logging.getLogger(__name__)

T = TypeVar("T")

LOCK_SECONDS = 30.0  # longer than a healthy token call; a dead holder blocks no one for longer
DOWN_SECONDS = 30.0  # after a store failure, how long this store stops trying it
_POLL_SECONDS = (0.05, 0.2)


class _StoreDownError(Exception):
    """The coordination store failed; the caller falls back to Zuora directly."""


def entry_name(key: TokenKey) -> str:
    """A stable name for `key` that reveals neither the client id nor anything about it."""
    return hashlib.sha256("\0".join(("zws-token-v1", *key)).encode("utf-8")).hexdigest()


class SharedTokens:
    """The fleet's token store (a `zuora.auth.SharedTokenStore`) over Redis or SQLite."""

    def __init__(
        self,
        backend: TokenBackend,
        keyring: Keyring,
        *,
        where: str = "",
        lock_seconds: float = LOCK_SECONDS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._backend = backend
        self._keyring = keyring
        self._where = where
        self._lock_seconds = lock_seconds
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._down_until = 0.0

    async def obtain(self, key: TokenKey, fetch: SharedTokenFetcher) -> SharedToken:
        """A token usable now: the shared one, or one fetched by a single process for all."""
        if self._down():
            return await fetch()
        try:
            return await self._single_flight(entry_name(key), fetch)
        except _StoreDownError:  # raised only before `fetch` was called
            return await fetch()

    async def discard(self, key: TokenKey, token: SecretStr) -> None:
        """Forget the shared entry of `key` if it still holds `token` (Zuora refused it)."""
        if self._down():
            return
        name = entry_name(key)
        try:
            sealed = await self._guard(self._backend.load(name))
            current = self._open(sealed)
            if sealed is None or current is None:
                return
            if current.value.get_secret_value() == token.get_secret_value():
                await self._guard(self._backend.remove_if(name, sealed))
        except _StoreDownError:
            return

    async def close(self) -> None:
        await self._backend.close()

    def _down(self) -> bool:
        return time.monotonic() < self._down_until

    async def _single_flight(self, name: str, fetch: SharedTokenFetcher) -> SharedToken:
        owner = uuid.uuid4().hex
        give_up_at = time.monotonic() + 1.5 * self._lock_seconds
        while True:
            current = await self._read(name)
            if current is not None and current.usable(self._clock()):
                return current
            if await self._guard(
                self._backend.try_lock(name, owner, self._lock_seconds, self._clock())
            ):
                return await self._fetch_locked(name, owner, fetch)
            if current is not None and self._clock() < current.expires_at:
                return current  # still valid while another process renews it
            if time.monotonic() > give_up_at:  # a store that never lets go: fetch regardless
                logger.warning("token lock on %s not released in time; fetching anyway", self)
                return await fetch()
            await self._sleep(self._rng.uniform(*_POLL_SECONDS))

    async def _fetch_locked(self, name: str, owner: str, fetch: SharedTokenFetcher) -> SharedToken:
        release = True
        try:
            current = await self._read(name)  # another process may have renewed meanwhile
            if current is not None and current.usable(self._clock()):
                return current
            try:
                fresh = await fetch()
            except Exception as error:
                if current is None:
                    raise
                # Early renewal failed (token endpoint 429, 5xx): keep the lock until it expires
                # so the fleet retries once per lock period, and use the still valid token.
                release = False
                logger.warning("token renewal failed (%s); using the current token", error)
                return current
            await self._write(name, fresh)
            return fresh
        finally:
            if release:
                with contextlib.suppress(_StoreDownError):  # else the lock expires by itself
                    await self._guard(self._backend.unlock(name, owner))

    async def _read(self, name: str) -> SharedToken | None:
        token = self._open(await self._guard(self._backend.load(name)))
        if token is None or self._clock() >= token.expires_at:
            return None
        return token

    async def _write(self, name: str, token: SharedToken) -> None:
        try:
            await self._guard(
                self._backend.save(name, self._seal(token), token.expires_at, self._clock())
            )
        except _StoreDownError:
            return  # this process keeps its token; the others fetch their own

    async def _guard(self, operation: Awaitable[T]) -> T:
        """`operation`, or _StoreDownError (logged) when the store cannot be reached."""
        try:
            return await operation
        except self._backend.errors as error:
            self._down_until = time.monotonic() + DOWN_SECONDS
            logger.warning(
                "token store %s unavailable (%s: %s); using this process's tokens for %gs",
                self._where,
                type(error).__name__,
                str(error)[:200],
                DOWN_SECONDS,
            )
            raise _StoreDownError from None

    def _seal(self, token: SharedToken) -> str:
        document = {
            "access_token": token.value.get_secret_value(),
            "renew_at": token.renew_at,
            "expires_at": token.expires_at,
        }
        return self._keyring.encrypt(SecretStr(json.dumps(document)))

    def _open(self, sealed: str | None) -> SharedToken | None:
        """The token in `sealed`, or None if it is absent, corrupted or under an unknown key."""
        if sealed is None:
            return None
        try:
            document = json.loads(self._keyring.decrypt(sealed).get_secret_value())
            return SharedToken(
                SecretStr(str(document["access_token"])),
                float(document["renew_at"]),
                float(document["expires_at"]),
            )
        except (SecretsError, ValueError, KeyError, TypeError):
            logger.info("ignoring a shared token that cannot be decrypted; fetching a new one")
            return None

    def __repr__(self) -> str:
        return f"SharedTokens({self._where})"


@contextlib.asynccontextmanager
async def shared_tokens(
    target: CoordinationTarget,
    keyring: Keyring,
    *,
    redis: aioredis.Redis | None = None,
    backend: TokenBackend | None = None,
) -> AsyncIterator[SharedTokens]:
    """The token store at `target`, for one event loop; closed on exit.

    Opening does no I/O: an unreachable store shows on first use, as a warning and a fallback.
    `redis`: a client of `target` to use (and leave open) instead of a new one; `backend`: a
    store of `target` to use (and leave open) instead of opening one.
    """
    if backend is not None:
        yield SharedTokens(backend, keyring, where=repr(target))
        return
    if target.kind == "redis":
        backend = (
            RedisTokenBackend(redis_client(target))
            if redis is None
            else RedisTokenBackend(redis, owned=False)
        )
    else:
        backend = SqliteTokenBackend(target)
    store = SharedTokens(backend, keyring, where=repr(target))
    try:
        yield store
    finally:
        try:
            await store.close()
        except backend.errors:
            logger.debug("closing the token store failed", exc_info=True)
