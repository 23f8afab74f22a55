"""`GET /workflows/{id}`, `/versions`, `/export` and `/workflows/metrics.json`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from zuora_workflow_sync.simulator import SimulatorAdmin, TenantCredentials

EXPORT_WORKFLOW_KEYS = {
    "id", "name", "description", "version", "type", "status", "priority", "parameters", "data",
    "original_workflow_id", "ondemand_trigger", "callout_trigger", "scheduled_trigger",
    "sync_trigger", "interval", "timezone", "finished_at", "started_at", "css", "notifications",
    "call_type", "delete_ttl", "task_summary",
}  # fmt: skip
TASK_KEYS = {
    "id", "name", "parameters", "action_type", "object", "object_id", "call_type", "task_id",
    "original_task_id", "original_workflow_id", "status", "error", "error_class",
    "error_details", "process_id", "css", "concurrent_limit", "iterate_row_reference",
    "object_batched_reference", "tags", "priority", "assignment",
}  # fmt: skip
LINKAGE_TYPES = {"Start", "Success", "Failure", "Iterate", "True", "False", "Approve", "Reject"}


def _multi_version_workflow(sim_admin: SimulatorAdmin, tenant: str) -> dict[str, Any]:
    """A workflow whose active version is not its latest (made so if none is)."""
    workflow = sim_admin.workflows(tenant)[0]
    sim_admin.add_version(tenant, workflow["id"], activate=False)
    return next(w for w in sim_admin.workflows(tenant) if w["id"] == workflow["id"])


def test_definition_has_active_version_when_retrieved(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin, tenant: TenantCredentials
) -> None:
    expected = sim_admin.workflows(tenant.name)[0]
    body = http.get(f"/workflows/{expected['id']}", headers=auth).json()
    assert body["id"] == expected["id"] and body["name"] == expected["name"]
    assert body["active_version"]["id"] == expected["active_version"]["id"]
    assert body["active_version"]["type"] == "Workflow::Setup"
    assert "latest_inactive_verisons" not in body and body["priority"] in {"High", "Medium", "Low"}


def test_definition_gets_404_errors_list_when_id_is_unknown(
    http: httpx.Client, auth: dict[str, str]
) -> None:
    response = http.get("/workflows/999999", headers=auth)
    assert response.status_code == 404
    message = response.json()["errors"][0]
    assert message.startswith("Invalid ID / Multiple objects returned - ")


def test_versions_are_listed_in_order_when_requested(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin, tenant: TenantCredentials
) -> None:
    workflow = _multi_version_workflow(sim_admin, tenant.name)
    body = http.get(f"/workflows/{workflow['id']}/versions", headers=auth).json()
    assert set(body) == {"data"}
    assert [v["version"] for v in body["data"]] == [v["version"] for v in workflow["versions"]]
    assert all(v["type"] == "Workflow::Setup" for v in body["data"])


def test_export_returns_active_version_when_version_is_absent(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin, tenant: TenantCredentials
) -> None:
    workflow = _multi_version_workflow(sim_admin, tenant.name)
    body = http.get(f"/workflows/{workflow['id']}/export", headers=auth).json()
    assert set(body) == {"workflow", "tasks", "linkages"}
    assert body["workflow"]["id"] == workflow["active_version"]["id"]
    assert body["workflow"]["version"] == workflow["active_version"]["version"]
    assert set(body["workflow"]) == EXPORT_WORKFLOW_KEYS


def test_export_returns_highest_version_when_version_is_latest(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin, tenant: TenantCredentials
) -> None:
    workflow = _multi_version_workflow(sim_admin, tenant.name)
    params = {"version": "latest"}
    body = http.get(f"/workflows/{workflow['id']}/export", params=params, headers=auth).json()
    assert body["workflow"]["version"] == workflow["latest_version"]["version"]
    assert body["workflow"]["version"] != workflow["active_version"]["version"]


def test_export_returns_that_version_when_number_is_given(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin, tenant: TenantCredentials
) -> None:
    workflow = _multi_version_workflow(sim_admin, tenant.name)
    first = workflow["versions"][0]
    params = {"version": first["version"]}
    body = http.get(f"/workflows/{workflow['id']}/export", params=params, headers=auth).json()
    assert body["workflow"]["id"] == first["id"]


def test_export_document_is_a_rooted_task_graph_when_exported(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin, tenant: TenantCredentials
) -> None:
    for workflow in sim_admin.workflows(tenant.name):
        body = http.get(f"/workflows/{workflow['id']}/export", headers=auth).json()
        tasks, linkages = body["tasks"], body["linkages"]
        assert 2 <= len(tasks) <= 12
        assert all(set(task) == TASK_KEYS for task in tasks)
        task_ids = {task["id"] for task in tasks}
        assert [edge["linkage_type"] for edge in linkages].count("Start") == 1
        assert linkages[0]["source_task_id"] is None and linkages[0]["linkage_type"] == "Start"
        assert {edge["target_task_id"] for edge in linkages} == task_ids
        assert {edge["linkage_type"] for edge in linkages} <= LINKAGE_TYPES
        assert all(edge["source_workflow_id"] == body["workflow"]["id"] for edge in linkages)


@pytest.mark.parametrize("version", ["1", "v1.0.0", "0.0", "latest1", ""])
def test_export_gets_400_when_version_is_malformed(
    http: httpx.Client, auth: dict[str, str], version: str
) -> None:
    response = http.get("/workflows/1000/export", params={"version": version}, headers=auth)
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "status": 400,
                "code": "invalid",
                "title": f"The input of version '{version}' is invalid.",
            }
        ]
    }


def test_export_gets_404_with_body_status_400_when_version_is_unknown(
    http: httpx.Client, auth: dict[str, str]
) -> None:
    response = http.get("/workflows/1000/export", params={"version": "9.9.9"}, headers=auth)
    assert response.status_code == 404
    assert response.json() == {
        "errors": [
            {"status": 400, "code": "invalid", "title": "Workflow version '9.9.9' is not found."}
        ]
    }


def test_metrics_returns_one_row_per_day_when_range_is_valid(
    http: httpx.Client, auth: dict[str, str]
) -> None:
    params = {"startDate": "2024-02-27", "endDate": "2024-03-01", "metrics": "taskCount"}
    body = http.get("/workflows/metrics.json", params=params, headers=auth).json()
    assert [row["date"] for row in body["metrics"]] == [
        "2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01",
    ]  # fmt: skip
    assert all(isinstance(row["values"]["taskCount"], int) for row in body["metrics"])


@pytest.mark.parametrize(
    "params",
    [
        {"startDate": "2024-01-01", "endDate": "2024-01-02"},
        {"startDate": "2024-01-01", "endDate": "2024-01-02", "metrics": "cpu"},
        {"startDate": "nope", "endDate": "2024-01-02", "metrics": "taskCount"},
    ],
)
def test_metrics_gets_400_when_parameters_are_wrong(
    http: httpx.Client, auth: dict[str, str], params: dict[str, str]
) -> None:
    response = http.get("/workflows/metrics.json", params=params, headers=auth)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "invalid"
