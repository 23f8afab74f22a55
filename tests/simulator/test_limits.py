"""Per-tenant rate quotas and the concurrency limit, each isolated to its tenant."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.simulator.conftest import bearer, get_token
from zuora_workflow_sync.simulator import SimulatorAdmin, SimulatorServer, TenantCredentials


def test_quota_gives_429_with_code_70_when_minute_quota_is_spent(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    sim_admin.set_quotas("tenant-001", minute=3, hour=100, day=1000)
    statuses = [http.get("/workflows", headers=auth).status_code for _ in range(3)]
    refused = http.get("/workflows", headers=auth)
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.headers["RateLimit-Remaining"] == "0"
    reset = int(refused.headers["RateLimit-Reset"])
    assert refused.headers["RateLimit-Limit"].startswith("3, 3;w=60")
    message = f"API Rate limit exceeded for the minute, retry after {reset} seconds"
    assert refused.json() == {"reasons": [{"code": 70, "message": message}]}


def test_quota_counts_failed_requests_when_they_reach_the_tenant(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    sim_admin.set_quotas("tenant-001", minute=2, hour=100, day=1000)
    assert http.get("/workflows/999999", headers=auth).status_code == 404
    assert http.get("/workflows/999999", headers=auth).status_code == 404
    assert http.get("/workflows", headers=auth).status_code == 429


def test_quota_refills_when_the_simulated_minute_passes(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    sim_admin.set_quotas("tenant-001", minute=1, hour=100, day=1000)
    assert http.get("/workflows", headers=auth).status_code == 200
    assert http.get("/workflows", headers=auth).status_code == 429
    sim_admin.advance_clock(60)
    assert http.get("/workflows", headers=auth).status_code == 200


def test_quota_of_one_tenant_leaves_others_alone_when_spent(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    sim_admin.set_quotas("tenant-001", minute=1, hour=100, day=1000)
    other = bearer(get_token(http, sim_admin.credentials("tenant-002")))
    http.get("/workflows", headers=auth)
    assert http.get("/workflows", headers=auth).status_code == 429
    assert http.get("/workflows", headers=other).status_code == 200


def _burst(simulator: SimulatorServer, headers: dict[str, str], count: int) -> list[httpx.Response]:
    def one(_: int) -> httpx.Response:
        with httpx.Client(base_url=simulator.base_url, timeout=10.0) as client:
            return client.get("/workflows", headers=headers)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_concurrency_gives_429_retry_after_120_when_over_the_tenant_limit(
    simulator: SimulatorServer,
    http: httpx.Client,
    tenant: TenantCredentials,
    sim_admin: SimulatorAdmin,
) -> None:
    headers = bearer(get_token(http, tenant))
    sim_admin.set_concurrency_limit(tenant.name, 2)
    sim_admin.update_settings(latency_ms=400)
    responses = _burst(simulator, headers, 6)
    refused = [r for r in responses if r.status_code == 429]
    assert sum(r.status_code == 200 for r in responses) == 2 and len(refused) == 4
    assert all(r.headers["Retry-After"] == "120" for r in refused)
    assert refused[0].json()["reasons"][0]["code"] == 50000070
    stats = sim_admin.stats()["tenants"][tenant.name]
    assert stats["max_in_flight"] == 2 and stats["too_many_requests"] == 4
