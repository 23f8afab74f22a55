"""A faithful, multi-tenant Zuora Workflow API simulator (aiohttp) with an admin API and faults.

See docs/simulator.md. Public API: `SimulatorServer`, `SimulatorConfig`, `Settings`,
`SimulatorAdmin`, `TenantCredentials`.
"""

from __future__ import annotations

from zuora_workflow_sync.simulator.admin_client import (
    SimulatorAdmin,
    SimulatorAdminError,
    TenantCredentials,
)
from zuora_workflow_sync.simulator.config import OverMaxPolicy, Settings, SimulatorConfig
from zuora_workflow_sync.simulator.server import SimulatorServer
from zuora_workflow_sync.simulator.tenants import TenantType

__all__ = [
    "OverMaxPolicy",
    "Settings",
    "SimulatorAdmin",
    "SimulatorAdminError",
    "SimulatorConfig",
    "SimulatorServer",
    "TenantCredentials",
    "TenantType",
]
