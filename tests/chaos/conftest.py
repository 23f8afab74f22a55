"""Chaos fixtures: installations run by real processes, and private servers a test may kill.

`fleet` is one installation on the `backend` fixture (both configurations); `make_fleet` builds
one on any Backend (e.g. a private PostgreSQL or Redis). Every process a test starts is stopped at
teardown (SIGCONT, SIGTERM, then SIGKILL), before the database it used is dropped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.backends import Backend
from tests.chaos.fleet import Fleet, FleetFactory
from tests.chaos.servers import PrivatePostgres, PrivateRedis
from zuora_workflow_sync.runtime import build_runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.store.secrets import Keyring


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this test alone (a test may restart it), deleted after."""
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of this test alone, without persistence (a test may kill it)."""
    server = PrivateRedis(tmp_path / "redis")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_fleet(tmp_path: Path, sim_admin: SimulatorAdmin) -> Iterator[FleetFactory]:
    """Builds installations on a given Backend; stops their processes and runtimes after."""
    built: list[Fleet] = []

    def make(backend: Backend, **settings: str) -> Fleet:
        """`settings` (e.g. lease_seconds="5") go to the processes' ZWS_* and to `runtime`."""
        home = tmp_path / f"home-{len(built)}"
        home.mkdir()
        key = Keyring.generate_key()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZWS_") and k != "CI"}
        env.update(
            {
                "ZWS_HOME": str(home),
                "ZWS_SECRET_KEYS": key,
                "ZWS_HTTP_MAX_ATTEMPTS": "2",
                "ZWS_HTTP_BACKOFF_BASE_SECONDS": "0.01",
                "ZWS_HTTP_BACKOFF_CAP_SECONDS": "0.05",
                **backend.env,
                **{f"ZWS_{name.upper()}": value for name, value in settings.items()},
            }
        )
        values: dict[str, Any] = {"home": home, "secret_keys": SecretStr(key)}
        values.update({**backend.settings_fields, **settings})
        runtime = build_runtime(Settings(**values))
        fleet = Fleet(home, env, runtime, sim_admin, backend)
        built.append(fleet)
        return fleet

    try:
        yield make
    finally:
        for fleet in built:
            fleet.close()


@pytest.fixture
def fleet(backend: Backend, make_fleet: FleetFactory) -> Fleet:
    """An installation on each configuration in turn (SQLite; PostgreSQL + Redis)."""
    # `backend` is set up first, so torn down last: processes stop before their database goes.
    return make_fleet(backend)
