"""Same seed, same tenants and documents; the tenants file round-trips."""

from __future__ import annotations

import json
from pathlib import Path

from zuora_workflow_sync.simulator import SimulatorAdmin, SimulatorConfig, SimulatorServer
from zuora_workflow_sync.simulator.generation import ensure_documents, generate_universe
from zuora_workflow_sync.simulator.tenants import (
    dump_universe,
    load_universe,
    universe_to_dict,
)


def _materialised(seed: int) -> str:
    universe = generate_universe(seed, tenants=3, workflows_per_tenant=6)
    for tenant in universe.tenants.values():
        for workflow in tenant.workflows.values():
            ensure_documents(workflow)
    return json.dumps(universe_to_dict(universe), sort_keys=True)


def test_generation_is_identical_when_seed_is_the_same() -> None:
    assert _materialised(7) == _materialised(7)


def test_generation_differs_when_seed_differs() -> None:
    assert _materialised(7) != _materialised(8)


def test_generated_credentials_have_zuora_shapes_when_generated() -> None:
    universe = generate_universe(3, tenants=8, workflows_per_tenant=0)
    names = list(universe.tenants)
    assert names[:2] == ["tenant-001", "tenant-002"]
    for tenant in universe.tenants.values():
        assert len(tenant.client_id) == 36 and len(tenant.client_secret) <= 42
    assert any(t.multi_entity for t in universe.tenants.values())
    assert len({t.client_id for t in universe.tenants.values()}) == 8


def test_tenants_file_round_trips_when_dumped_and_loaded(tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    universe = generate_universe(11, tenants=2, workflows_per_tenant=4)
    for tenant in universe.tenants.values():
        for workflow in tenant.workflows.values():
            ensure_documents(workflow)
    dump_universe(universe, path)
    assert universe_to_dict(load_universe(path)) == universe_to_dict(universe)


def test_server_serves_the_file_tenants_when_started_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    universe = generate_universe(12, tenants=2, workflows_per_tenant=3)
    dump_universe(universe, path)
    config = SimulatorConfig(tenants_file=path)
    with SimulatorServer(config) as server, SimulatorAdmin(server.base_url) as admin:
        views = admin.tenants()
        assert [v["client_id"] for v in views] == [t.client_id for t in universe.tenants.values()]
        assert [v["workflow_count"] for v in views] == [3, 3]


def test_lazy_documents_rebuild_identically_when_dumped_before_first_use(tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    universe = generate_universe(13, tenants=1, workflows_per_tenant=5)
    dump_universe(universe, path)
    loaded = load_universe(path)
    for source in (universe, loaded):
        for tenant in source.tenants.values():
            for workflow in tenant.workflows.values():
                ensure_documents(workflow)
    assert universe_to_dict(loaded) == universe_to_dict(universe)
