"""Fixtures for the shared token store: a keyring, and a coordination target on each backend.

SQLite: a file in tmp_path. Redis: database 10 of `ZWS_TEST_TOKENS_REDIS_URL`, reserved for these
tests, flushed before and after each (sessions on one machine take turns through a lock file); it
skips when Redis is unreachable, or fails with REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.backends import reserved_redis
from zuora_workflow_sync.coordination.connect import CoordinationTarget, parse_coordination_url
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.store.secrets import Keyring

TOKENS_REDIS_URL = os.environ.get("ZWS_TEST_TOKENS_REDIS_URL", "redis://127.0.0.1:6379/10")


@pytest.fixture
def keyring() -> Keyring:
    return Keyring([Keyring.generate_key()])


@pytest.fixture
def tokens_redis_url() -> Iterator[str]:
    """Redis database 10, empty before and after the test, for this session alone."""
    with reserved_redis(TOKENS_REDIS_URL) as url:
        yield url


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
    ]
)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> CoordinationTarget:
    """The coordination store on each backend in turn."""
    if request.param == "sqlite":
        return parse_coordination_url(f"sqlite:///{tmp_path / 'coordination.sqlite3'}")
    url: str = request.getfixturevalue("tokens_redis_url")
    return parse_coordination_url(url)


def raw_contents(target: CoordinationTarget) -> list[str]:
    """Every key name and value the store holds, as text, exactly as at rest."""
    if target.kind == "redis":
        client = redis.Redis.from_url(target.url)
        try:
            found: list[str] = []
            for name in client.scan_iter():  # tokens, and the pacing's hashes and sorted sets
                found.extend((_text(name), _text(_redis_value(client, name))))
            return found
        finally:
            client.close()
    if not target.path.exists():
        return []
    connection = sqlite3.connect(target.path)
    try:
        tables = [
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        rows = [row for table in tables for row in connection.execute(f'SELECT * FROM "{table}"')]
    finally:
        connection.close()
    return [str(cell) for row in rows for cell in row]


def _redis_value(client: redis.Redis, name: bytes) -> object:
    """The value of any kind of key, whole."""
    kind = _text(client.type(name))
    if kind == "hash":
        return client.hgetall(name)
    if kind == "zset":
        return client.zrange(name, 0, -1, withscores=True)
    if kind == "list":
        return client.lrange(name, 0, -1)
    if kind == "set":
        return client.smembers(name)
    return client.get(name)


def _text(raw: object) -> str:
    return raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)


@pytest.fixture
def sim(sim_admin: SimulatorAdmin) -> Iterator[SimulatorAdmin]:
    """`sim_admin`, and the session-wide simulator put back to its start-up state afterwards."""
    try:
        yield sim_admin
    finally:
        sim_admin.reset()
