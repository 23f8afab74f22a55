"""The shared token store on SQLite and Redis: sealed at rest, one fetch across processes,
careful invalidation, undecryptable entries refetched, dead locks reclaimed, a dead store survived.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from pydantic import SecretStr

from tests.backends import UNREACHABLE_REDIS_URL, UNUSABLE_SQLITE_QUEUE_URL
from zuora_workflow_sync.coordination.connect import (
    CoordinationTarget,
    parse_coordination_url,
    redis_client,
)
from zuora_workflow_sync.coordination.token_backends import RedisTokenBackend, SqliteTokenBackend
from zuora_workflow_sync.coordination.tokens import SharedTokens, entry_name, shared_tokens
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.zuora.auth import SharedToken, TokenCache

from .conftest import raw_contents
from .processes import obtain_once

T = TypeVar("T")
CLIENT_ID = "5b3c1e0a-1f2d-4c1b-9a7e-client-id-42"
KEY = ("https://rest.test.zuora.com", CLIENT_ID, "fingerprint")


class Fetcher:
    """Hands out `token-1`, `token-2`, ... valid for `lifetime` seconds, renewable after 90%."""

    def __init__(self, lifetime: float = 3600.0, delay: float = 0.05) -> None:
        self.calls = 0
        self.lifetime = lifetime
        self.delay = delay
        self._lock = threading.Lock()

    async def __call__(self) -> SharedToken:
        with self._lock:
            self.calls += 1
            number = self.calls
        await asyncio.sleep(self.delay)
        now = time.time()
        value = SecretStr(f"token-{number}-a-long-secret-value")
        return SharedToken(value, now + 0.9 * self.lifetime, now + self.lifetime)


def with_store(
    target: CoordinationTarget,
    keyring: Keyring,
    scenario: Callable[[SharedTokens], Awaitable[T]],
) -> T:
    """Run `scenario` on a store opened on its own event loop, as a sync job does."""

    async def main() -> T:
        async with shared_tokens(target, keyring) as store:
            return await scenario(store)

    return asyncio.run(main())


def value_of(token: SharedToken) -> str:
    return token.value.get_secret_value()


def test_token_is_shared_and_sealed_at_rest_when_stored(
    target: CoordinationTarget, keyring: Keyring
) -> None:
    fetch = Fetcher()
    first = with_store(target, keyring, lambda store: store.obtain(KEY, fetch))
    again = with_store(target, keyring, lambda store: store.obtain(KEY, fetch))
    assert value_of(first) == value_of(again) == "token-1-a-long-secret-value"
    assert fetch.calls == 1
    raw = " ".join(raw_contents(target))
    assert entry_name(KEY) in raw
    assert "token-1" not in raw
    assert CLIENT_ID not in raw
    assert "client-id" not in raw


def test_one_fetch_when_eight_processes_ask_at_once(
    target: CoordinationTarget, keyring: Keyring
) -> None:
    key = Keyring.generate_key()
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    results = context.Queue()
    workers = [
        context.Process(target=obtain_once, args=(target.url, key, go, results)) for _ in range(8)
    ]
    for worker in workers:
        worker.start()
    try:
        ready = [results.get(timeout=60) for _ in workers]
        assert {message for _, _, message in ready} == {"ready"}
        go.set()
        answers = [results.get(timeout=60) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=30)
    fetchers = [pid for pid, fetched, _ in answers if fetched]
    assert len(fetchers) == 1
    assert {token for _, _, token in answers} == {f"token-of-{fetchers[0]}"}
    assert all(worker.exitcode == 0 for worker in workers)


def test_one_fetch_when_eight_threads_with_their_own_loops_ask_at_once(
    target: CoordinationTarget, keyring: Keyring
) -> None:
    fetch = Fetcher(delay=0.3)
    barrier = threading.Barrier(8)
    tokens: list[str] = []

    def worker() -> None:
        barrier.wait(10)
        tokens.append(value_of(with_store(target, keyring, lambda s: s.obtain(KEY, fetch))))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert fetch.calls == 1
    assert tokens == ["token-1-a-long-secret-value"] * 8


def test_discard_removes_the_entry_only_when_it_holds_that_token(
    target: CoordinationTarget, keyring: Keyring
) -> None:
    fetch = Fetcher()

    async def scenario(store: SharedTokens) -> list[str]:
        first = await store.obtain(KEY, fetch)
        await store.discard(KEY, SecretStr("some-other-token"))
        kept = await store.obtain(KEY, fetch)
        await store.discard(KEY, first.value)
        renewed = await store.obtain(KEY, fetch)
        await store.discard(KEY, first.value)  # a late caller still holding the old token
        return [value_of(t) for t in (first, kept, renewed, await store.obtain(KEY, fetch))]

    seen = with_store(target, keyring, scenario)
    assert [s.split("-")[1] for s in seen] == ["1", "1", "2", "2"]
    assert fetch.calls == 2


def test_entry_is_refetched_when_it_cannot_be_decrypted(
    target: CoordinationTarget, keyring: Keyring
) -> None:
    fetch = Fetcher()
    with_store(target, Keyring([Keyring.generate_key()]), lambda s: s.obtain(KEY, fetch))
    renewed = with_store(target, keyring, lambda s: s.obtain(KEY, fetch))
    assert value_of(renewed) == "token-2-a-long-secret-value"
    again = with_store(target, keyring, lambda s: s.obtain(KEY, fetch))
    assert value_of(again) == "token-2-a-long-secret-value"
    assert fetch.calls == 2


@pytest.mark.parametrize("garbage", ["not-a-fernet-token", "caf\u00e9 \u00ff\u2028"])
def test_entry_is_refetched_when_it_is_corrupted(
    target: CoordinationTarget, keyring: Keyring, garbage: str
) -> None:
    fetch = Fetcher()
    name = entry_name(KEY)

    async def corrupt_then_obtain(store: SharedTokens) -> SharedToken:
        raw = _backend(target)
        try:
            await raw.save(name, garbage, time.time() + 60, time.time())
        finally:
            await raw.close()
        return await store.obtain(KEY, fetch)

    assert value_of(with_store(target, keyring, corrupt_then_obtain)).startswith("token-1")
    assert fetch.calls == 1


def test_lock_is_reclaimed_when_its_holder_died(
    target: CoordinationTarget, keyring: Keyring
) -> None:
    fetch = Fetcher()
    name = entry_name(KEY)

    async def scenario() -> tuple[SharedToken, float]:
        dead = _backend(target)
        assert await dead.try_lock(name, "a-dead-process", 0.5, time.time())
        await dead.close()
        store = SharedTokens(_backend(target), keyring)
        started = time.monotonic()
        try:
            token = await store.obtain(KEY, fetch)
        finally:
            await store.close()
        return token, time.monotonic() - started

    token, waited = asyncio.run(scenario())
    assert value_of(token).startswith("token-1")
    assert fetch.calls == 1
    assert 0.4 <= waited < 5.0


def test_old_token_is_used_when_another_process_is_renewing_it(
    target: CoordinationTarget, keyring: Keyring
) -> None:
    due = Fetcher(lifetime=1.0)  # renewable after 0.9 s, valid for 1 s
    fetch = Fetcher()

    async def scenario(store: SharedTokens) -> SharedToken:
        await store.obtain(KEY, due)
        await asyncio.sleep(0.92)
        other = _backend(target)
        assert await other.try_lock(entry_name(KEY), "the-renewer", 30, time.time())
        await other.close()
        return await store.obtain(KEY, fetch)

    assert value_of(with_store(target, keyring, scenario)).startswith("token-1")
    assert fetch.calls == 0


def test_valid_token_is_kept_when_its_early_renewal_fails(
    target: CoordinationTarget, keyring: Keyring
) -> None:
    due = Fetcher(lifetime=1.0)
    fetch = Fetcher()

    async def refused() -> SharedToken:
        raise RuntimeError("token endpoint answered 429")

    async def scenario(store: SharedTokens) -> list[str]:
        await store.obtain(KEY, due)
        await asyncio.sleep(0.92)
        kept = await store.obtain(KEY, refused)
        again = await store.obtain(KEY, fetch)  # the failed renewer still holds the lock
        return [value_of(kept), value_of(again)]

    assert [t.split("-")[1] for t in with_store(target, keyring, scenario)] == ["1", "1"]
    assert fetch.calls == 0


def test_entries_expire_when_the_token_does(target: CoordinationTarget, keyring: Keyring) -> None:
    short = Fetcher(lifetime=0.3)
    with_store(target, keyring, lambda s: s.obtain(KEY, short))
    time.sleep(0.4)
    other_key = ("https://rest.test.zuora.com", "another-client", "fingerprint")
    with_store(target, keyring, lambda s: s.obtain(other_key, Fetcher()))
    names = " ".join(raw_contents(target))
    assert entry_name(KEY) not in names
    assert entry_name(other_key) in names


@pytest.mark.parametrize("url", [UNREACHABLE_REDIS_URL, UNUSABLE_SQLITE_QUEUE_URL])
def test_tokens_still_come_when_the_store_is_unreachable(
    url: str, keyring: Keyring, caplog: pytest.LogCaptureFixture
) -> None:
    target = parse_coordination_url(url)
    fetch = Fetcher()

    async def scenario(store: SharedTokens) -> list[str]:
        tokens = TokenCache(shared=store)  # the per-process layer keeps working on its own
        first = await tokens.get(KEY, _as_plain(fetch))
        second = await tokens.get(KEY, _as_plain(fetch))
        return [first.get_secret_value(), second.get_secret_value()]

    with caplog.at_level(logging.WARNING, logger="zuora_workflow_sync.coordination.tokens"):
        assert with_store(target, keyring, scenario) == ["token-1-a-long-secret-value"] * 2
    assert fetch.calls == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "unavailable" in warnings[0].getMessage()
    assert "token-1" not in caplog.text


def _as_plain(fetch: Fetcher) -> Callable[[], Awaitable[tuple[SecretStr, float]]]:
    async def plain() -> tuple[SecretStr, float]:
        token = await fetch()
        return token.value, fetch.lifetime

    return plain


def _backend(target: CoordinationTarget) -> RedisTokenBackend | SqliteTokenBackend:
    if target.kind == "redis":
        return RedisTokenBackend(redis_client(target))
    return SqliteTokenBackend(target)
