"""Admin changes to workflows are visible to the next Zuora call."""

from __future__ import annotations

import httpx
import pytest

from zuora_workflow_sync.simulator import SimulatorAdmin, SimulatorAdminError, TenantCredentials


def _export(http: httpx.Client, auth: dict[str, str], workflow_id: int) -> httpx.Response:
    return http.get(f"/workflows/{workflow_id}/export", headers=auth)


def test_new_version_becomes_the_export_when_activated(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin, tenant: TenantCredentials
) -> None:
    workflow_id = sim_admin.workflows(tenant.name)[0]["id"]
    before = _export(http, auth, workflow_id).json()
    changed = sim_admin.add_version(tenant.name, workflow_id, activate=True)
    after = _export(http, auth, workflow_id).json()
    assert after["workflow"]["id"] == changed["new_version"]["id"] != before["workflow"]["id"]
    assert after["workflow"]["version"] == changed["latest_version"]["version"]
    versions = http.get(f"/workflows/{workflow_id}/versions", headers=auth).json()["data"]
    assert versions[-1]["id"] == changed["new_version"]["id"]


def test_new_version_leaves_the_active_export_when_not_activated(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin, tenant: TenantCredentials
) -> None:
    workflow_id = sim_admin.workflows(tenant.name)[0]["id"]
    before = _export(http, auth, workflow_id).content
    sim_admin.add_version(tenant.name, workflow_id)
    assert _export(http, auth, workflow_id).content == before
    latest = http.get(f"/workflows/{workflow_id}/export?version=latest", headers=auth)
    assert latest.content != before


def test_edit_changes_export_and_updated_at_when_definition_is_edited(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin, tenant: TenantCredentials
) -> None:
    workflow_id = sim_admin.workflows(tenant.name)[0]["id"]
    definition = http.get(f"/workflows/{workflow_id}", headers=auth).json()
    sim_admin.advance_clock(5)
    sim_admin.edit_workflow(tenant.name, workflow_id, description="Now also sends reminders")
    edited = http.get(f"/workflows/{workflow_id}", headers=auth).json()
    assert edited["updatedAt"] > definition["updatedAt"]
    assert edited["description"] == "Now also sends reminders"
    exported = _export(http, auth, workflow_id).json()
    assert exported["workflow"]["description"] == "Now also sends reminders"
    listed = http.get("/workflows", headers=auth).json()["data"]
    assert next(w for w in listed if w["id"] == workflow_id)["updatedAt"] == edited["updatedAt"]


def test_edit_is_refused_when_no_known_field_is_given(
    sim_admin: SimulatorAdmin, tenant: TenantCredentials
) -> None:
    workflow_id = sim_admin.workflows(tenant.name)[0]["id"]
    with pytest.raises(SimulatorAdminError, match="400"):
        sim_admin.edit_workflow(tenant.name, workflow_id, colour="blue")


def test_deleted_workflow_is_gone_when_listed_or_fetched(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin, tenant: TenantCredentials
) -> None:
    workflow_id = sim_admin.workflows(tenant.name)[0]["id"]
    sim_admin.delete_workflow(tenant.name, workflow_id)
    listed = http.get("/workflows", params={"page_length": 50}, headers=auth).json()["data"]
    assert workflow_id not in {w["id"] for w in listed}
    assert _export(http, auth, workflow_id).status_code == 404


def test_added_workflow_is_listed_last_when_created(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin, tenant: TenantCredentials
) -> None:
    added = sim_admin.add_workflow(tenant.name, name="Brand new workflow")
    listed = http.get("/workflows", params={"page_length": 50}, headers=auth).json()["data"]
    assert listed[-1]["id"] == added["id"] and listed[-1]["name"] == "Brand new workflow"
    assert _export(http, auth, added["id"]).status_code == 200


def test_created_tenant_can_authenticate_when_added_at_runtime(
    http: httpx.Client, sim_admin: SimulatorAdmin
) -> None:
    view = sim_admin.create_tenant("tenant-new", workflows=3, tenant_type="api_sandbox")
    assert view["quotas"] == {"minute": 2500, "hour": 5000, "day": 10000}
    form = {
        "client_id": view["client_id"],
        "client_secret": view["client_secret"],
        "grant_type": "client_credentials",
    }
    token = http.post("/oauth/token", data=form).json()["access_token"]
    listed = http.get("/workflows", headers={"Authorization": f"Bearer {token}"}).json()
    assert len(listed["data"]) == 3


def test_reset_restores_the_seeded_state_when_called(
    sim_admin: SimulatorAdmin, tenant: TenantCredentials
) -> None:
    before = sim_admin.workflows(tenant.name)
    sim_admin.set_workflow_count(tenant.name, 2)
    sim_admin.add_fault("drop")
    sim_admin.reset()
    assert sim_admin.workflows(tenant.name) == before
    assert sim_admin.faults() == []
    assert sim_admin.stats()["totals"]["requests"] == 0


def test_settings_are_refused_with_400_when_values_are_bad(sim_admin: SimulatorAdmin) -> None:
    for fields in ({"token_ttl_seconds": -1}, {"nope": 1}, {"concurrency_headers": "yes"}):
        with pytest.raises(SimulatorAdminError, match="400"):
            sim_admin.update_settings(**fields)
    assert sim_admin.settings()["token_ttl_seconds"] == 3599
