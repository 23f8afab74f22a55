"""The admin stats: requests by tenant, route and status; tokens; 429s; in-flight peaks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.polling import wait_until
from tests.simulator.conftest import token_form
from zuora_workflow_sync.simulator import SimulatorAdmin, SimulatorServer, TenantCredentials


def test_stats_count_requests_by_route_and_status_when_traffic_flows(
    http: httpx.Client, tenant: TenantCredentials, sim_admin: SimulatorAdmin
) -> None:
    token = http.post("/oauth/token", data=token_form(tenant)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    http.get("/workflows", headers=headers)
    http.get("/workflows", headers=headers)
    http.get("/workflows/999999", headers=headers)
    http.get("/workflows/1000/export", headers=headers)
    http.get("/workflows")
    stats = sim_admin.stats()
    mine = stats["tenants"][tenant.name]
    assert mine["requests"] == {
        "token": {"200": 1},
        "list": {"200": 2},
        "retrieve": {"404": 1},
        "export": {"200": 1},
    }
    assert mine["total"] == 5 and mine["tokens_issued"] == 1 and mine["max_in_flight"] == 1
    assert stats["tenants"]["-"]["requests"] == {"list": {"401": 1}}
    assert stats["totals"] == {"requests": 6, "tokens_issued": 1, "too_many_requests": 0}
    assert stats["in_flight"] == 0 and stats["max_in_flight"] >= 1


def test_stats_count_429s_when_quota_is_spent(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    sim_admin.set_quotas("tenant-001", minute=1, hour=10, day=10)
    for _ in range(3):
        http.get("/workflows", headers=auth)
    assert sim_admin.stats()["tenants"]["tenant-001"]["too_many_requests"] == 2


def test_stats_are_zero_when_reset(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    http.get("/workflows", headers=auth)
    sim_admin.reset_stats()
    assert sim_admin.stats()["totals"] == {
        "requests": 0,
        "tokens_issued": 0,
        "too_many_requests": 0,
    }


def test_a_request_in_flight_across_a_reset_is_not_counted_after_it(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin, simulator: SimulatorServer
) -> None:
    sim_admin.add_fault("latency", tenant="tenant-001", route="export", delay_ms=600)
    with ThreadPoolExecutor(1) as pool:
        late = pool.submit(
            httpx.get, f"{simulator.base_url}/workflows/1000/export", headers=auth, timeout=10
        )
        wait_until(lambda: sim_admin.stats()["in_flight"] == 1, timeout=5, what="in flight")
        sim_admin.reset_stats()
        assert late.result().status_code == 200
    http.get("/workflows", headers=auth)
    stats = sim_admin.stats()
    assert stats["tenants"]["tenant-001"]["requests"] == {"list": {"200": 1}}
    assert stats["in_flight"] == 0
