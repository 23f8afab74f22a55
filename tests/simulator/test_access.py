"""Bearer auth on data calls, tenant isolation, Workflow View Access and entity headers."""

from __future__ import annotations

import httpx
import pytest

from tests.simulator.conftest import bearer, get_token
from zuora_workflow_sync.simulator import SimulatorAdmin, TenantCredentials

DATA_PATHS = ("/workflows", "/workflows/1000", "/workflows/1000/versions", "/workflows/1000/export")


@pytest.mark.parametrize("path", DATA_PATHS)
def test_data_call_gets_401_when_token_is_missing(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 401
    assert response.json() == {"message": "Authentication error"}
    assert len(response.headers["Zuora-Request-Id"]) == 36


def test_data_call_gets_401_when_token_is_unknown(http: httpx.Client) -> None:
    response = http.get("/workflows", headers=bearer("0" * 32))
    assert response.status_code == 401


def test_tenant_sees_only_its_own_workflows_when_two_tenants_share_the_server(
    http: httpx.Client, sim_admin: SimulatorAdmin
) -> None:
    first, second = sim_admin.credentials("tenant-001"), sim_admin.credentials("tenant-002")
    first_ids = {w["id"] for w in sim_admin.workflows(first.name)}
    second_ids = {w["id"] for w in sim_admin.workflows(second.name)}
    assert first_ids.isdisjoint(second_ids)
    headers = bearer(get_token(http, first))
    listed = http.get("/workflows", params={"page_length": 50}, headers=headers).json()["data"]
    assert {item["id"] for item in listed} == first_ids
    foreign = min(second_ids)
    for suffix in ("", "/versions", "/export"):
        assert http.get(f"/workflows/{foreign}{suffix}", headers=headers).status_code == 404


def test_data_call_gets_403_when_user_lacks_workflow_view_access(
    http: httpx.Client, tenant: TenantCredentials, sim_admin: SimulatorAdmin
) -> None:
    headers = bearer(get_token(http, tenant))
    sim_admin.forbid(tenant.name)
    response = http.get("/workflows", headers=headers)
    assert response.status_code == 403
    body = response.json()
    assert isinstance(body["code"], int) and "Workflow View Access" in body["message"]
    assert "RateLimit-Limit" in response.headers
    sim_admin.forbid(tenant.name, forbidden=False)
    assert http.get("/workflows", headers=headers).status_code == 200


def test_data_call_gets_403_when_entity_header_names_a_foreign_entity(
    http: httpx.Client, tenant: TenantCredentials
) -> None:
    headers = bearer(get_token(http, tenant))
    foreign = {**headers, "Zuora-Entity-Ids": "11111111-2222-4333-8444-555555555555"}
    response = http.get("/workflows", headers=foreign)
    assert response.status_code == 403
    assert "Zuora-Entity-Ids" in response.json()["message"]
    own = {**headers, "Zuora-Entity-Ids": tenant.entity_ids[0]}
    assert http.get("/workflows", headers=own).status_code == 200


def test_data_call_gets_400_when_multi_entity_tenant_sends_no_entity(
    http: httpx.Client, sim_admin: SimulatorAdmin
) -> None:
    credentials = sim_admin.credentials("tenant-004")
    headers = bearer(get_token(http, credentials))
    response = http.get("/workflows", headers=headers)
    assert response.status_code == 400
    assert "Zuora-Entity-Ids" in response.json()["message"]
    chosen = {**headers, "Zuora-Entity-Ids": credentials.entity_ids[1]}
    assert http.get("/workflows", headers=chosen).status_code == 200


def test_unknown_route_gets_json_404_when_path_is_not_zuoras(http: httpx.Client) -> None:
    response = http.get("/v2/nothing")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "message" in response.json()


def test_known_path_gets_405_when_method_is_wrong(http: httpx.Client, auth: dict[str, str]) -> None:
    assert http.delete("/workflows/1000", headers=auth).status_code == 405
