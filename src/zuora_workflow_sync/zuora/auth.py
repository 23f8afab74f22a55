"""OAuth 2.0 client credentials for Zuora, and the token cache.

Tokens are cached per (base URL, client id, secret fingerprint) and renewed a few minutes before
`expires_in` (Zuora's tutorial renews 300 s early; zuora-api.md 1.1). Concurrent callers of one
key share a single token request, so a customer's sync asks for one token, however many calls are
in flight. With a `SharedTokenStore` (implemented by `coordination.tokens`), every process of the
fleet shares the token too: a customer needs about one token per token lifetime in all.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import SecretStr

from zuora_workflow_sync.errors import ConfigurationError

_TRACK_ID_FORBIDDEN = set(":;\"'")

TokenKey = tuple[str, ...]


@dataclass(frozen=True)
class TenantCredentials:
    """Where a customer's tenant lives and how to authenticate to it. The secret stays secret."""

    base_url: str
    client_id: str
    client_secret: SecretStr = field(repr=False)
    entity_id: str | None = None

    def __post_init__(self) -> None:
        if not self.client_id or len(self.client_id) > 256:
            raise ConfigurationError("the Zuora client id is empty or too long")
        if not self.client_secret.get_secret_value():
            raise ConfigurationError("the Zuora client secret is empty")

    @property
    def cache_key(self) -> TokenKey:
        """(base URL, client id, fingerprint of the secret): a changed secret gets its own token.

        Without the fingerprint, a customer given a wrong secret would keep syncing with a token
        that another process fetched with the right one, until that token expired.
        """
        secret = self.client_secret.get_secret_value().encode("utf-8")
        fingerprint = hashlib.sha256(b"zws-token-key\0" + secret).hexdigest()[:32]
        return (self.base_url, self.client_id, fingerprint)


def validate_track_id(track_id: str | None) -> str | None:
    """`Zuora-Track-Id`: at most 64 US-ASCII characters, none of `:;"'` (zuora-api.md 6)."""
    if track_id is None:
        return None
    if (
        not 0 < len(track_id) <= 64
        or not track_id.isascii()
        or not track_id.isprintable()
        or _TRACK_ID_FORBIDDEN & set(track_id)
    ):
        raise ConfigurationError(
            "a Zuora track id must be 1-64 printable ASCII characters without : ; \" '"
        )
    return track_id


@dataclass(frozen=True, slots=True)
class CachedToken:
    """An access token and the monotonic time after which it must not be used any more."""

    value: SecretStr
    renew_at: float
    expires_at: float

    def usable(self, now: float) -> bool:
        return now < self.renew_at


@dataclass(frozen=True, slots=True)
class SharedToken:
    """An access token as processes share it: renewal and expiry in wall-clock epoch seconds.

    Monotonic clocks are per process, so only the wall clock can cross a process boundary.
    """

    value: SecretStr
    renew_at: float
    expires_at: float

    def usable(self, now: float) -> bool:
        return now < self.renew_at

    def __repr__(self) -> str:
        return f"SharedToken(renew_at={self.renew_at:.0f}, expires_at={self.expires_at:.0f})"


SharedTokenFetcher = Callable[[], Awaitable[SharedToken]]


class SharedTokenStore(Protocol):
    """Tokens shared by every process of the fleet, with single-flight renewal across them.

    `obtain` returns a token usable now, calling `fetch` only when no process holds a usable
    one (and at most one process at a time); `discard` forgets `token` if it is still the
    shared one. Neither fails because the store is unreachable: the store degrades to `fetch`.
    """

    async def obtain(self, key: TokenKey, fetch: SharedTokenFetcher) -> SharedToken: ...

    async def discard(self, key: TokenKey, token: SecretStr) -> None: ...


def renewal_margin_seconds(expires_in: float, renew_before_seconds: float) -> float:
    """Renew `renew_before_seconds` early, but never more than a tenth of a short lifetime."""
    return min(renew_before_seconds, expires_in / 10.0)


TokenFetcher = Callable[[], Awaitable[tuple[SecretStr, float]]]


class TokenCache:
    """Access tokens by key, with single-flight renewal, per process or shared by the fleet.

    The per-process layer answers most calls without any I/O; when it needs a token it asks
    `shared` (if given) before Zuora, so the processes of a fleet share one token per key.
    A `TokenCache` belongs to one event loop (its locks are asyncio locks).
    """

    def __init__(
        self,
        *,
        renew_before_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedTokenStore | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._renew_before = renew_before_seconds
        self._clock = clock
        self._shared = shared
        self._wall_clock = wall_clock
        self._tokens: dict[TokenKey, CachedToken] = {}
        self._locks: dict[TokenKey, asyncio.Lock] = {}
        self._refused: dict[TokenKey, SecretStr] = {}

    async def get(self, key: TokenKey, fetch: TokenFetcher) -> SecretStr:
        """A usable token for `key`, fetching one (once, for all waiters) when needed."""
        cached = self._tokens.get(key)
        if cached is not None and cached.usable(self._clock()):
            return cached.value
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._tokens.get(key)
            if cached is not None and cached.usable(self._clock()):
                return cached.value
            if self._shared is None:
                cached = await self._fetch_local(fetch)
            else:
                cached = await self._obtain_shared(self._shared, key, fetch)
            self._tokens[key] = cached
            return cached.value

    def invalidate(self, key: TokenKey, token: SecretStr) -> None:
        """Forget `token` after Zuora refused it, unless another caller already replaced it.

        The shared entry is dropped (if it still holds `token`) by the next `get` of `key`,
        which a client makes right away to retry.
        """
        cached = self._tokens.get(key)
        if cached is not None and cached.value.get_secret_value() == token.get_secret_value():
            del self._tokens[key]
            if self._shared is not None:
                self._refused[key] = token

    async def _fetch_local(self, fetch: TokenFetcher) -> CachedToken:
        value, expires_in = await fetch()
        now = self._clock()
        margin = renewal_margin_seconds(expires_in, self._renew_before)
        return CachedToken(value, now + expires_in - margin, now + expires_in)

    async def _obtain_shared(
        self, shared: SharedTokenStore, key: TokenKey, fetch: TokenFetcher
    ) -> CachedToken:
        refused = self._refused.pop(key, None)
        if refused is not None:
            await shared.discard(key, refused)

        async def fetch_shared() -> SharedToken:
            value, expires_in = await fetch()
            now = self._wall_clock()
            margin = renewal_margin_seconds(expires_in, self._renew_before)
            return SharedToken(value, now + expires_in - margin, now + expires_in)

        token = await shared.obtain(key, fetch_shared)
        offset = self._clock() - self._wall_clock()  # wall-clock times to this process's clock
        return CachedToken(token.value, token.renew_at + offset, token.expires_at + offset)

    def __repr__(self) -> str:
        shared = ", shared" if self._shared is not None else ""
        return f"TokenCache(entries={len(self._tokens)}{shared})"
