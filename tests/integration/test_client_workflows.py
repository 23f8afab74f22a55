"""ZuoraClient listing and export against the simulator: pagination, versions, headers, gzip."""

from __future__ import annotations

import pytest

from zuora_workflow_sync.errors import BadRequestError, NotFoundError
from zuora_workflow_sync.zuora import WorkflowListing, ZuoraClient
from zuora_workflow_sync.zuora.models import WorkflowExport

from .conftest import Harness


async def _list(client: ZuoraClient) -> WorkflowListing:
    return await client.list_workflows()


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (1, 1), (50, 1), (51, 2), (1000, 20)])
def test_listing_returns_every_workflow_when_tenant_has(
    harness: Harness, tenant: str, count: int, pages: int
) -> None:
    expected = {w["id"] for w in harness.admin.set_workflow_count(tenant, count)}
    listing = harness.run(tenant, _list)
    assert {w.id for w in listing.workflows} == expected
    assert len(listing.workflows) == count
    assert listing.pages == pages
    assert harness.route_count(tenant, "list", 200) == pages
    sent = [
        r.request.url.params.get("page_length") for r in harness.responses if r.status_code == 200
    ]
    assert set(sent) <= {"50", None}


def test_listing_exposes_request_id_and_rate_limit_when_zuora_sends_them(
    harness: Harness, tenant: str
) -> None:
    listing = harness.run(tenant, _list)
    meta = listing.responses[0]
    assert meta.request_id is not None and len(meta.request_id) == 36
    assert meta.rate_limit is not None
    assert meta.rate_limit.limit is not None and meta.rate_limit.remaining is not None
    assert meta.rate_limit.reset_seconds is not None
    assert {p.window_seconds for p in meta.rate_limit.policies} == {60, 3600, 86400}


def test_listing_fails_and_reports_page_when_a_page_errors(harness: Harness, tenant: str) -> None:
    harness.admin.set_workflow_count(tenant, 500)
    harness.admin.add_fault("status", tenant=tenant, route="list", page=7, status=404)
    with pytest.raises(NotFoundError):
        harness.run(tenant, _list)
    assert harness.route_count(tenant, "list", 200) == 6


def test_export_returns_active_latest_and_numbered_versions(harness: Harness, tenant: str) -> None:
    workflow = harness.admin.workflows(tenant)[0]
    added = harness.admin.add_version(tenant, workflow["id"], activate=False)
    view = next(w for w in harness.admin.workflows(tenant) if w["id"] == workflow["id"])
    active, latest = view["active_version"]["version"], view["latest_version"]["version"]
    assert active != latest, added
    oldest = view["versions"][0]["version"]

    async def scenario(client: ZuoraClient) -> list[WorkflowExport]:
        return [
            (await client.export_workflow(workflow["id"], version)).value
            for version in (None, "latest", oldest)
        ]

    exports = harness.run(tenant, scenario)
    assert [e.workflow.version for e in exports] == [active, latest, oldest]
    for export in exports:
        assert export.tasks, "a realistic export has tasks"
        assert export.document["workflow"]["version"] == export.workflow.version
        assert any(link.linkage_type == "Start" for link in export.linkages)
        assert all(task.action_type for task in export.tasks)


def test_export_is_refused_when_version_is_malformed_or_unknown(
    harness: Harness, tenant: str
) -> None:
    workflow_id = harness.admin.workflows(tenant)[0]["id"]

    async def malformed(client: ZuoraClient) -> object:
        return await client.export_workflow(workflow_id, "one")

    async def unknown(client: ZuoraClient) -> object:
        return await client.export_workflow(workflow_id, "9.9.9")

    async def missing(client: ZuoraClient) -> object:
        return await client.get_workflow(987654321)

    with pytest.raises(BadRequestError, match="The input of version"):
        harness.run(tenant, malformed)
    with pytest.raises(NotFoundError, match="is not found"):
        harness.run(tenant, unknown)
    with pytest.raises(NotFoundError, match="Invalid ID"):
        harness.run(tenant, missing)
    assert harness.sleeps == []


def test_retrieve_and_versions_agree_with_listing(harness: Harness, tenant: str) -> None:
    async def scenario(client: ZuoraClient) -> tuple[int, int | None, list[str | None]]:
        first = (await client.list_workflows()).workflows[0]
        single = (await client.get_workflow(first.id)).value
        versions = (await client.list_versions(first.id)).value
        active = single.active_version.id if single.active_version else None
        assert single.id == first.id and single.name == first.name
        return first.id, active, [v.version for v in versions]

    workflow_id, active_id, versions = harness.run(tenant, scenario)
    view = next(w for w in harness.admin.workflows(tenant) if w["id"] == workflow_id)
    assert active_id == view["active_version"]["id"]
    assert versions == [v["version"] for v in view["versions"]]


def test_large_bodies_arrive_gzipped_and_are_inflated(harness: Harness, tenant: str) -> None:
    workflow_id = harness.admin.workflows(tenant)[0]["id"]

    async def scenario(client: ZuoraClient) -> int:
        return len((await client.export_workflow(workflow_id)).value.document["tasks"])

    assert harness.run(tenant, scenario) > 0
    export = harness.responses[-1]
    assert export.request.headers["accept-encoding"] == "gzip"
    assert export.headers.get("content-encoding") == "gzip"


def test_track_id_is_sent_and_echoed_when_given(harness: Harness, tenant: str) -> None:
    harness.run(tenant, _list, track_id="run-42-attempt-1")
    for response in harness.responses:
        assert response.request.headers["zuora-track-id"] == "run-42-attempt-1"
        assert response.headers["zuora-track-id"] == "run-42-attempt-1"
        assert "authorization" not in response.request.headers or response.request.url.path != (
            "/oauth/token"
        )
