"""Fixtures for the shared token store: a keyring, and a coordination target on each backend.

The backends are tests/backends.py's `coordination_url`: a SQLite file, or a Redis database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
import redis

from zuora_workflow_sync.coordination.connect import CoordinationTarget, parse_coordination_url
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.store.secrets import Keyring


@pytest.fixture
def keyring() -> Keyring:
    return Keyring([Keyring.generate_key()])


@pytest.fixture
def target(coordination_url: str) -> CoordinationTarget:
    """The coordination store on each backend in turn."""
    return parse_coordination_url(coordination_url)


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
