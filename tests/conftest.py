"""Shared fixtures: one simulator per test session on 127.0.0.1:0, reset before each test.

`simulator` yields the started `SimulatorServer` (seeded tenants, no faults, zero stats);
`sim_admin` is a `SimulatorAdmin` bound to it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from zuora_workflow_sync.simulator import SimulatorAdmin, SimulatorConfig, SimulatorServer

SIMULATOR_SEED = 20240601


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
