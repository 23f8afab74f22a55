"""Shared fixtures: one simulator per test session on 127.0.0.1:0, reset before each test.

`simulator` yields the started `SimulatorServer` (seeded tenants, no faults, zero stats);
`sim_admin` is a `SimulatorAdmin` bound to it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from zuora_workflow_sync.monitoring.logs import SECRETS
from zuora_workflow_sync.simulator import SimulatorAdmin, SimulatorConfig, SimulatorServer

SIMULATOR_SEED = 20240601

# The `backend` fixture (SQLite, or PostgreSQL + Redis) and its helpers, for every suite.
# `synced` (customers synced from the simulator) for the read side's and the dashboard's suites.
# `scheduling` starts the `long` tests first, one per test process; `sockets` a silent port.
pytest_plugins = ["tests.backends", "tests.synced", "tests.scheduling", "tests.sockets"]


@pytest.fixture(scope="session")
def simulator_session() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(tenants=4, workflows=12, seed=SIMULATOR_SEED)
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture
def simulator(simulator_session: SimulatorServer) -> SimulatorServer:
    with SimulatorAdmin(simulator_session.base_url) as admin:
        admin.reset()
    return simulator_session


@pytest.fixture
def sim_admin(simulator: SimulatorServer) -> Iterator[SimulatorAdmin]:
    with SimulatorAdmin(simulator.base_url) as admin:
        yield admin


@pytest.fixture(autouse=True)
def _forget_registered_secrets() -> Iterator[None]:
    """Commands run in-process `register` their secrets for the life of the process: here a
    test's, so one test's registrations never mask (or unmask) another's."""
    held = SECRETS.snapshot()
    yield
    SECRETS.restore(held)


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """Commands run in-process install a log handler (a file under ZWS_HOME): close and undo it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
