"""OAuth 2.0 client credentials for Zuora, and the per-process token cache.

Tokens are cached per (base URL, client id) and renewed a few minutes before `expires_in`
(Zuora's tutorial renews 300 s early; zuora-api.md 1.1). Concurrent callers of one key share a
single token request, so a customer's sync asks for one token, however many calls are in flight.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pydantic import SecretStr

from zuora_workflow_sync.errors import ConfigurationError

_TRACK_ID_FORBIDDEN = set(":;\"'")


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
    def cache_key(self) -> tuple[str, str]:
        return (self.base_url, self.client_id)


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


def renewal_margin_seconds(expires_in: float, renew_before_seconds: float) -> float:
    """Renew `renew_before_seconds` early, but never more than a tenth of a short lifetime."""
    return min(renew_before_seconds, expires_in / 10.0)


TokenFetcher = Callable[[], Awaitable[tuple[SecretStr, float]]]


class TokenCache:
    """Per-process cache of access tokens by (base URL, client id), with single-flight renewal."""

    def __init__(
        self,
        *,
        renew_before_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._renew_before = renew_before_seconds
        self._clock = clock
        self._tokens: dict[tuple[str, str], CachedToken] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def get(self, key: tuple[str, str], fetch: TokenFetcher) -> SecretStr:
        """A usable token for `key`, fetching one (once, for all waiters) when needed."""
        cached = self._tokens.get(key)
        if cached is not None and cached.usable(self._clock()):
            return cached.value
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._tokens.get(key)
            if cached is not None and cached.usable(self._clock()):
                return cached.value
            value, expires_in = await fetch()
            now = self._clock()
            margin = renewal_margin_seconds(expires_in, self._renew_before)
            self._tokens[key] = CachedToken(value, now + expires_in - margin, now + expires_in)
            return value

    def invalidate(self, key: tuple[str, str], token: SecretStr) -> None:
        """Forget `token` after Zuora refused it, unless another caller already replaced it."""
        cached = self._tokens.get(key)
        if cached is not None and cached.value.get_secret_value() == token.get_secret_value():
            del self._tokens[key]

    def __repr__(self) -> str:
        return f"TokenCache(entries={len(self._tokens)})"
