"""`GET /workflows`: pages, `next_page`, `page_length` limits, filters and query errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.simulator.conftest import bearer, get_token
from zuora_workflow_sync.simulator import SimulatorAdmin, SimulatorServer, TenantCredentials


def _walk(http: httpx.Client, headers: dict[str, str], page_length: int) -> list[dict[str, Any]]:
    """Follow `next_page` from page 1; returns every page body."""
    pages = [http.get("/workflows", params={"page_length": page_length}, headers=headers).json()]
    while "next_page" in pages[-1]["pagination"]:
        pages.append(http.get(pages[-1]["pagination"]["next_page"], headers=headers).json())
    return pages


@pytest.mark.parametrize(
    ("count", "page_sizes"),
    [(0, [0]), (1, [1]), (50, [50]), (51, [50, 1]), (1000, [50] * 20)],
)
def test_pages_cover_all_workflows_when_tenant_has_count_workflows(
    http: httpx.Client,
    tenant: TenantCredentials,
    sim_admin: SimulatorAdmin,
    count: int,
    page_sizes: list[int],
) -> None:
    sim_admin.set_workflow_count(tenant.name, count)
    pages = _walk(http, bearer(get_token(http, tenant)), 50)
    assert [p["pagination"]["page_length"] for p in pages] == page_sizes
    assert [p["pagination"]["page"] for p in pages] == list(range(1, len(pages) + 1))
    ids = [item["id"] for page in pages for item in page["data"]]
    assert ids == sorted(ids) and len(set(ids)) == count
    assert "next_page" not in pages[-1]["pagination"]


def test_next_page_is_absolute_url_on_request_host_when_more_pages_exist(
    http: httpx.Client, auth: dict[str, str], simulator: SimulatorServer
) -> None:
    body = http.get("/workflows", params={"page_length": 5}, headers=auth).json()
    assert body["pagination"] == {
        "page": 1,
        "page_length": 5,
        "next_page": f"{simulator.base_url}/workflows?page=2&page_length=5",
    }


def test_page_length_defaults_to_20_when_absent(
    http: httpx.Client, tenant: TenantCredentials, sim_admin: SimulatorAdmin
) -> None:
    sim_admin.set_workflow_count(tenant.name, 25)
    body = http.get("/workflows", headers=bearer(get_token(http, tenant))).json()
    assert body["pagination"]["page_length"] == 20 and len(body["data"]) == 20


def test_page_length_is_clamped_to_50_when_over_max(
    http: httpx.Client, tenant: TenantCredentials, sim_admin: SimulatorAdmin
) -> None:
    sim_admin.set_workflow_count(tenant.name, 60)
    body = http.get(
        "/workflows", params={"page_length": 80}, headers=bearer(get_token(http, tenant))
    ).json()
    assert len(body["data"]) == 50
    assert body["pagination"]["next_page"].endswith("/workflows?page=2&page_length=50")


def test_page_length_over_max_gets_400_when_reject_policy_is_set(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    sim_admin.update_settings(page_length_over_max="reject")
    response = http.get("/workflows", params={"page_length": 51}, headers=auth)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "invalid"


@pytest.mark.parametrize(
    "params", [{"page": "0"}, {"page": "x"}, {"page_length": "-1"}, {"callout_trigger": "maybe"}]
)
def test_list_gets_400_errors_body_when_query_is_invalid(
    http: httpx.Client, auth: dict[str, str], params: dict[str, str]
) -> None:
    response = http.get("/workflows", params=params, headers=auth)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["status"] == 400 and error["code"] == "invalid" and error["title"]


def test_page_past_the_end_is_empty_when_requested(
    http: httpx.Client, auth: dict[str, str]
) -> None:
    body = http.get("/workflows", params={"page": 99}, headers=auth).json()
    assert body == {"data": [], "pagination": {"page": 99, "page_length": 0}}


def test_filters_keep_matching_workflows_when_given(
    http: httpx.Client, auth: dict[str, str]
) -> None:
    everything = http.get("/workflows", params={"page_length": 50}, headers=auth).json()["data"]
    params = {"page_length": "50", "scheduled_trigger": "true"}
    scheduled = http.get("/workflows", params=params, headers=auth).json()["data"]
    assert [w["id"] for w in scheduled] == [w["id"] for w in everything if w["scheduledTrigger"]]
    name = everything[3]["name"]
    named = http.get("/workflows", params={"name": name}, headers=auth).json()["data"]
    assert [w["name"] for w in named] == [name]


def test_list_item_has_documented_keys_when_listed(
    http: httpx.Client, auth: dict[str, str]
) -> None:
    item = http.get("/workflows", headers=auth).json()["data"][0]
    assert set(item) == {
        "id", "name", "description", "status", "calloutTrigger", "ondemandTrigger",
        "scheduledTrigger", "interval", "timezone", "createdAt", "updatedAt",
        "active_version", "latest_inactive_verisons",
    }  # fmt: skip
    assert set(item["active_version"]) == {"id", "description", "version", "type", "status"}
