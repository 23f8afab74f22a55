"""TokenCache: reuse until the renewal margin, single-flight fetches, safe invalidation."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.zuora.auth import (
    TenantCredentials,
    TokenCache,
    renewal_margin_seconds,
    validate_track_id,
)

KEY = ("https://rest.test.zuora.com", "client")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingFetcher:
    def __init__(self, expires_in: float) -> None:
        self.calls = 0
        self.expires_in = expires_in

    async def __call__(self) -> tuple[SecretStr, float]:
        self.calls += 1
        await asyncio.sleep(0.01)
        return SecretStr(f"token-{self.calls}"), self.expires_in


def test_token_is_reused_until_five_minutes_before_expiry() -> None:
    clock = FakeClock()
    cache = TokenCache(clock=clock)
    fetch = CountingFetcher(3599)

    async def scenario() -> list[str]:
        seen = [(await cache.get(KEY, fetch)).get_secret_value()]
        clock.now += 3599 - 301
        seen.append((await cache.get(KEY, fetch)).get_secret_value())
        clock.now += 2
        seen.append((await cache.get(KEY, fetch)).get_secret_value())
        return seen

    assert asyncio.run(scenario()) == ["token-1", "token-1", "token-2"]


def test_concurrent_callers_share_one_fetch_when_cache_is_empty() -> None:
    cache = TokenCache()
    fetch = CountingFetcher(3599)

    async def scenario() -> set[str]:
        tokens = await asyncio.gather(*(cache.get(KEY, fetch) for _ in range(50)))
        return {t.get_secret_value() for t in tokens}

    assert asyncio.run(scenario()) == {"token-1"}
    assert fetch.calls == 1


def test_invalidate_keeps_newer_token_when_another_caller_renewed() -> None:
    cache = TokenCache()
    fetch = CountingFetcher(3599)

    async def scenario() -> str:
        old = await cache.get(KEY, fetch)
        cache.invalidate(KEY, old)
        new = await cache.get(KEY, fetch)
        cache.invalidate(KEY, old)  # a late caller still holding the old token
        return (await cache.get(KEY, fetch)).get_secret_value() + "/" + new.get_secret_value()

    assert asyncio.run(scenario()) == "token-2/token-2"
    assert fetch.calls == 2


def test_margin_is_a_tenth_when_lifetime_is_short() -> None:
    assert renewal_margin_seconds(3599, 300) == 300
    assert renewal_margin_seconds(10, 300) == 1.0


def test_secret_is_hidden_when_credentials_are_printed() -> None:
    credentials = TenantCredentials("https://x", "client", SecretStr("hunter2-secret"))
    assert "hunter2" not in repr(credentials)
    assert "hunter2" not in str(credentials)
    assert "hunter2" not in repr(TokenCache())


@pytest.mark.parametrize(
    "track_id", ["", "a" * 65, "run:1", "run;1", 'run"1', "run'1", "ünï", "a\nb"]
)
def test_track_id_is_refused_when_zuora_would_reject_it(track_id: str) -> None:
    with pytest.raises(ConfigurationError):
        validate_track_id(track_id)


def test_track_id_is_accepted_when_plain_ascii() -> None:
    assert validate_track_id("run-123_attempt-2") == "run-123_attempt-2"
