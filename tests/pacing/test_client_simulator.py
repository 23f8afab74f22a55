"""The real ZuoraClient through a pacing gate against the simulator: the tenant never sees
more requests in flight than the gate's cap."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from zuora_workflow_sync.pacing import GateCounters, open_pacer
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.zuora import (
    TenantCredentials,
    TokenCache,
    TransportLimits,
    ZuoraClient,
    new_http_client,
)

from .conftest import limits


@pytest.fixture
def slow_simulator(sim_admin: SimulatorAdmin) -> Iterator[SimulatorAdmin]:
    sim_admin.update_settings(latency_ms=50)
    try:
        yield sim_admin
    finally:
        sim_admin.update_settings(latency_ms=0)


def single_entity_tenant(admin: SimulatorAdmin) -> str:
    return next(str(t["name"]) for t in admin.tenants() if not t["multi_entity"])


def test_simulator_sees_at_most_cap_in_flight_when_client_uses_gate(
    slow_simulator: SimulatorAdmin, settings: Settings
) -> None:
    tenant = single_entity_tenant(slow_simulator)
    view = slow_simulator.credentials(tenant)
    ids = [int(w["id"]) for w in slow_simulator.workflows(tenant)][:10]
    credentials = TenantCredentials(
        base_url=view.base_url,
        client_id=view.client_id,
        client_secret=SecretStr(view.client_secret),
        entity_id=None,
    )

    async def main() -> tuple[list[int], GateCounters]:
        async with open_pacer(settings) as pacer, new_http_client(TransportLimits()) as http:
            gate = pacer.gate(limits(max_in_flight=2))
            client = ZuoraClient(credentials, http=http, token_cache=TokenCache(), gate=gate)
            results = await asyncio.gather(*(client.get_workflow(i) for i in ids))
            return [r.value.id for r in results], gate.counters

    got, counters = asyncio.run(main())
    assert got == ids and len(ids) == 10
    assert counters.requests == 10
    assert counters.waits >= 1
    stats = slow_simulator.stats()["tenants"][tenant]
    assert 1 <= stats["max_in_flight"] <= 2
