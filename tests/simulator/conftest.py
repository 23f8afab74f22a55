"""Helpers for the simulator's own tests: a plain httpx client and token helpers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from zuora_workflow_sync.simulator import SimulatorAdmin, SimulatorServer, TenantCredentials


def token_form(credentials: TenantCredentials) -> dict[str, str]:
    return {
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
        "grant_type": "client_credentials",
    }


def get_token(http: httpx.Client, credentials: TenantCredentials) -> str:
    response = http.post("/oauth/token", data=token_form(credentials))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def http(simulator: SimulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=simulator.base_url, timeout=10.0) as client:
        yield client


@pytest.fixture
def tenant(sim_admin: SimulatorAdmin) -> TenantCredentials:
    """tenant-001: production, single entity, 12 workflows."""
    return sim_admin.credentials("tenant-001")


@pytest.fixture
def auth(http: httpx.Client, tenant: TenantCredentials) -> dict[str, str]:
    """Authorization headers with a fresh token of tenant-001."""
    return bearer(get_token(http, tenant))
