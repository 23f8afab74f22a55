"""`POST /oauth/token`: form-only input, credentials, grant type, per-IP limit, expiry."""

from __future__ import annotations

import re

import httpx

from tests.simulator.conftest import bearer, get_token, token_form
from zuora_workflow_sync.simulator import SimulatorAdmin, TenantCredentials

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_token_is_issued_when_credentials_are_valid(
    http: httpx.Client, tenant: TenantCredentials
) -> None:
    response = http.post("/oauth/token", data=token_form(tenant))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "jti"}
    assert HEX32.fullmatch(body["access_token"]) and HEX32.fullmatch(body["jti"])
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3599
    assert re.fullmatch(r"user\.[0-9a-f]{32} entity\.[0-9a-f-]{36} tenant\.\d+", body["scope"])
    assert response.headers["X-RateLimit-Limit-minute"] == "100"
    assert response.headers["X-RateLimit-Remaining-minute"] == "99"
    assert len(response.headers["Zuora-Request-Id"]) == 36


def test_token_is_refused_with_401_when_secret_is_wrong(
    http: httpx.Client, tenant: TenantCredentials
) -> None:
    form = {**token_form(tenant), "client_secret": "not-the-secret"}
    response = http.post("/oauth/token", data=form)
    assert response.status_code == 401
    assert response.json() == {"message": "Authentication error"}


def test_token_is_refused_with_401_when_client_id_is_unknown(
    http: httpx.Client, tenant: TenantCredentials
) -> None:
    form = {**token_form(tenant), "client_id": "00000000-0000-4000-8000-000000000000"}
    assert http.post("/oauth/token", data=form).status_code == 401


def test_token_is_refused_with_400_when_grant_type_is_wrong(
    http: httpx.Client, tenant: TenantCredentials
) -> None:
    response = http.post("/oauth/token", data={**token_form(tenant), "grant_type": "password"})
    assert response.status_code == 400
    body = response.json()
    assert isinstance(body["code"], int) and "grant_type" in body["message"]


def test_token_is_refused_with_400_when_body_is_json(
    http: httpx.Client, tenant: TenantCredentials
) -> None:
    response = http.post("/oauth/token", json=token_form(tenant))
    assert response.status_code == 400
    assert isinstance(response.json()["code"], int)


def test_token_is_refused_with_429_when_ip_exceeds_its_minute_limit(
    http: httpx.Client, tenant: TenantCredentials, sim_admin: SimulatorAdmin
) -> None:
    sim_admin.update_settings(token_ip_limit_per_minute=3)
    statuses = [http.post("/oauth/token", data=token_form(tenant)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    last = http.post("/oauth/token", data=token_form(tenant))
    assert last.headers["X-RateLimit-Remaining-minute"] == "0"
    sim_admin.advance_clock(60)
    assert http.post("/oauth/token", data=token_form(tenant)).status_code == 200


def test_token_expires_when_simulated_clock_passes_its_ttl(
    http: httpx.Client, tenant: TenantCredentials, sim_admin: SimulatorAdmin
) -> None:
    sim_admin.update_settings(token_ttl_seconds=30)
    response = http.post("/oauth/token", data=token_form(tenant))
    assert response.json()["expires_in"] == 30
    headers = bearer(response.json()["access_token"])
    assert http.get("/workflows", headers=headers).status_code == 200
    sim_admin.advance_clock(29)
    assert http.get("/workflows", headers=headers).status_code == 200
    sim_admin.advance_clock(2)
    expired = http.get("/workflows", headers=headers)
    assert expired.status_code == 401
    assert expired.json() == {"message": "Authentication error"}


def test_token_is_refused_when_credentials_are_revoked(
    http: httpx.Client, tenant: TenantCredentials, sim_admin: SimulatorAdmin
) -> None:
    headers = bearer(get_token(http, tenant))
    sim_admin.revoke(tenant.name)
    assert http.post("/oauth/token", data=token_form(tenant)).status_code == 401
    assert http.get("/workflows", headers=headers).status_code == 401
    sim_admin.revoke(tenant.name, revoked=False)
    assert http.get("/workflows", headers=headers).status_code == 401
    assert http.post("/oauth/token", data=token_form(tenant)).status_code == 200


def test_token_scope_lists_every_entity_when_tenant_is_multi_entity(
    http: httpx.Client, sim_admin: SimulatorAdmin
) -> None:
    credentials = sim_admin.credentials("tenant-004")
    assert len(credentials.entity_ids) == 3
    scope = http.post("/oauth/token", data=token_form(credentials)).json()["scope"]
    assert all(f"entity.{entity}" in scope for entity in credentials.entity_ids)
