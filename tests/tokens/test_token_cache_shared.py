"""TokenCache over the shared store: jobs share one token, a refused token is renewed once for
all, and the per-process layer renews on the shared (wall-clock) schedule."""

from __future__ import annotations

import asyncio

from pydantic import SecretStr

from zuora_workflow_sync.coordination.connect import CoordinationTarget, redis_client
from zuora_workflow_sync.coordination.token_backends import RedisTokenBackend, SqliteTokenBackend
from zuora_workflow_sync.coordination.tokens import SharedTokens, shared_tokens
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.zuora.auth import TenantCredentials, TokenCache

BASE_URL = "https://rest.test.zuora.com"
KEY = TenantCredentials(BASE_URL, "client", SecretStr("s3cret-value")).cache_key


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Fetcher:
    def __init__(self, expires_in: float = 3599.0) -> None:
        self.calls = 0
        self.expires_in = expires_in

    async def __call__(self) -> tuple[SecretStr, float]:
        self.calls += 1
        await asyncio.sleep(0.01)
        return SecretStr(f"token-{self.calls}-long-enough"), self.expires_in


def test_jobs_share_one_token_when_they_use_the_same_store(
    target: CoordinationTarget, keyring: Keyring
) -> None:
    fetch = Fetcher()

    async def job() -> str:
        async with shared_tokens(target, keyring) as store:
            cache = TokenCache(shared=store)
            tokens = await asyncio.gather(*(cache.get(KEY, fetch) for _ in range(20)))
            return tokens[0].get_secret_value()

    assert [asyncio.run(job()) for _ in range(3)] == ["token-1-long-enough"] * 3
    assert fetch.calls == 1


def test_refused_token_is_renewed_once_when_two_jobs_see_the_401(
    target: CoordinationTarget, keyring: Keyring
) -> None:
    fetch = Fetcher()

    async def scenario() -> list[str]:
        async with shared_tokens(target, keyring) as one, shared_tokens(target, keyring) as two:
            first, second = TokenCache(shared=one), TokenCache(shared=two)
            old = await first.get(KEY, fetch)
            assert (await second.get(KEY, fetch)).get_secret_value() == old.get_secret_value()
            first.invalidate(KEY, old)  # Zuora answered 401 to both
            renewed_first = await first.get(KEY, fetch)
            second.invalidate(KEY, old)
            renewed_second = await second.get(KEY, fetch)
            return [renewed_first.get_secret_value(), renewed_second.get_secret_value()]

    assert asyncio.run(scenario()) == ["token-2-long-enough"] * 2
    assert fetch.calls == 2


def test_local_layer_renews_when_the_shared_token_is_due(
    target: CoordinationTarget, keyring: Keyring
) -> None:
    wall, monotonic = Clock(1_700_000_000.0), Clock(50.0)
    fetch = Fetcher()

    async def scenario() -> list[str]:
        backend = (
            RedisTokenBackend(redis_client(target))
            if target.kind == "redis"
            else SqliteTokenBackend(target)
        )
        store = SharedTokens(backend, keyring, clock=wall)
        cache = TokenCache(shared=store, clock=monotonic, wall_clock=wall)
        seen = []
        try:
            for step in (0.0, 3599 - 301, 2.0):
                wall.now += step
                monotonic.now += step
                seen.append((await cache.get(KEY, fetch)).get_secret_value())
        finally:
            await store.close()
        return seen

    assert asyncio.run(scenario()) == [
        "token-1-long-enough",
        "token-1-long-enough",
        "token-2-long-enough",
    ]


def test_cache_key_changes_when_the_secret_does() -> None:
    other = TenantCredentials(BASE_URL, "client", SecretStr("another-one"))
    assert other.cache_key != KEY
    assert KEY[:2] == (BASE_URL, "client")
    assert "s3cret" not in "".join(KEY)
    assert "s3cret" not in repr(TokenCache())
