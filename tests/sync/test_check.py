"""`check_credentials` against the simulator over HTTP: what each failure is called, and that a
check sends at most one token request and one page of `GET /workflows` (no retry, no renewal)."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.sync.check import (
    CheckProblem,
    CheckResult,
    TenantAccess,
    check_credentials,
)

from .conftest import make_settings

TENANT = "tenant-001"  # 12 workflows, one entity (tests/conftest.py seeds 4 tenants x 12)
OTHER_ENTITY = "0b5f5c1e-8d1e-4a43-9a57-1d2d3c4b5a69"


@pytest.fixture
def check_settings(tmp_path: Path) -> Settings:
    # Two attempts and short backoffs for a sync: a check must still send each request once.
    return make_settings(tmp_path)


def _check(
    settings: Settings,
    admin: SimulatorAdmin,
    tenant: str = TENANT,
    *,
    secret: str | None = None,
    entity_id: str | None = None,
    base_url: str | None = None,
    deadline_seconds: float = 10.0,
) -> CheckResult:
    credentials = admin.credentials(tenant)
    access = TenantAccess(base_url or credentials.base_url, credentials.client_id, entity_id)
    given = SecretStr(secret or credentials.client_secret)
    return asyncio.run(
        check_credentials(settings, access, given, deadline_seconds=deadline_seconds)
    )


def _requests(admin: SimulatorAdmin, tenant: str) -> dict[str, int]:
    """Requests the tenant received, by route (any status)."""
    routes: dict[str, dict[str, int]] = admin.stats()["tenants"].get(tenant, {}).get("requests", {})
    return {route: sum(by_status.values()) for route, by_status in routes.items()}


def _assert_failed(result: CheckResult, problem: CheckProblem, *fragments: str) -> None:
    assert result.problem is problem, result
    assert not result.ok
    assert result.message.startswith("Check failed: ")
    assert "\n" not in result.message
    for fragment in fragments:
        assert fragment in result.message, result.message


def test_check_passes_with_one_request_each_when_credentials_work(
    check_settings: Settings, sim_admin: SimulatorAdmin
) -> None:
    result = _check(check_settings, sim_admin)

    assert result.ok and result.problem is None
    assert result.message == "Check passed: token issued, 12 workflows on the first page"
    assert (result.workflows_on_first_page, result.more_pages) == (12, False)
    assert result.entity_ids == sim_admin.credentials(TENANT).entity_ids
    assert result.token_issued and result.status == 200 and result.request_id
    assert _requests(sim_admin, TENANT) == {"token": 1, "list": 1}


def test_check_says_more_pages_follow_when_the_first_page_is_full(
    check_settings: Settings, sim_admin: SimulatorAdmin
) -> None:
    sim_admin.set_workflow_count(TENANT, 45)

    result = _check(check_settings, sim_admin)

    assert result.message == (
        "Check passed: token issued, 20 workflows on the first page (more on the next pages)"
    )
    assert result.more_pages
    assert _requests(sim_admin, TENANT) == {"token": 1, "list": 1}


def test_check_reports_rejected_credentials_when_the_secret_is_wrong(
    check_settings: Settings, sim_admin: SimulatorAdmin
) -> None:
    result = _check(check_settings, sim_admin, secret="not-the-secret-at-all")

    _assert_failed(
        result,
        CheckProblem.CREDENTIALS_REJECTED,
        "Zuora rejected the client credentials (401 at POST /oauth/token, Zuora-Request-Id ",
        "check the client id and secret",
    )
    assert result.request_id and result.request_id in result.message
    assert (result.status, result.failed_at, result.token_issued) == (
        401,
        "POST /oauth/token",
        False,
    )
    assert _requests(sim_admin, TENANT) == {"token": 1}


def test_check_reports_rejected_credentials_when_the_client_is_revoked(
    check_settings: Settings, sim_admin: SimulatorAdmin
) -> None:
    sim_admin.revoke(TENANT)

    result = _check(check_settings, sim_admin)

    _assert_failed(result, CheckProblem.CREDENTIALS_REJECTED, "401 at POST /oauth/token")
    assert _requests(sim_admin, TENANT) == {"token": 1}


def test_check_does_not_renew_the_token_when_the_listing_answers_401(
    check_settings: Settings, sim_admin: SimulatorAdmin
) -> None:
    sim_admin.add_fault("status", tenant=TENANT, route="list", status=401)

    result = _check(check_settings, sim_admin)

    _assert_failed(
        result, CheckProblem.CREDENTIALS_REJECTED, "issued a token, then refused it (401 at GET"
    )
    assert result.token_issued and result.failed_at == "GET /workflows"
    assert _requests(sim_admin, TENANT) == {"token": 1, "list": 1}


def test_check_reports_missing_workflow_view_access_when_the_user_is_forbidden(
    check_settings: Settings, sim_admin: SimulatorAdmin
) -> None:
    sim_admin.forbid(TENANT)

    result = _check(check_settings, sim_admin)

    _assert_failed(
        result,
        CheckProblem.PERMISSION_DENIED,
        "the Zuora user lacks Workflow View Access (403 at GET /workflows, Zuora-Request-Id ",
    )
    assert result.status == 403 and result.request_id and result.request_id in result.message
    assert _requests(sim_admin, TENANT) == {"token": 1, "list": 1}


def test_check_lists_the_entity_ids_when_a_multi_entity_tenant_has_none(
    check_settings: Settings, sim_admin: SimulatorAdmin
) -> None:
    tenant = sim_admin.create_tenant("multi", workflows=3, entity_count=3)

    result = _check(check_settings, sim_admin, "multi")

    entities = tenant["entity_ids"]
    _assert_failed(
        result,
        CheckProblem.ENTITY_REQUIRED,
        f"this tenant has several entities; add --entity-id with one of: {', '.join(entities)}",
    )
    assert list(result.entity_ids) == entities and result.token_issued
    assert _requests(sim_admin, "multi") == {"token": 1}  # the refused listing is not sent


def test_check_passes_when_a_multi_entity_tenant_names_one_of_its_entities(
    check_settings: Settings, sim_admin: SimulatorAdmin
) -> None:
    tenant = sim_admin.create_tenant("multi", workflows=3, entity_count=3)
    chosen = tenant["entity_ids"][1]

    result = _check(check_settings, sim_admin, "multi", entity_id=chosen)

    assert result.ok, result.message
    assert result.message == (
        f"Check passed: token issued, 3 workflows on the first page, entity {chosen}"
    )
    assert _requests(sim_admin, "multi") == {"token": 1, "list": 1}


@pytest.mark.parametrize("entity_count", [1, 3])
def test_check_reports_a_refused_entity_when_the_entity_id_is_not_the_tenants(
    check_settings: Settings, sim_admin: SimulatorAdmin, entity_count: int
) -> None:
    sim_admin.create_tenant("other", workflows=1, entity_count=entity_count)

    result = _check(check_settings, sim_admin, "other", entity_id=OTHER_ENTITY)

    _assert_failed(
        result,
        CheckProblem.ENTITY_REFUSED,
        f"Zuora refused entity {OTHER_ENTITY} for these credentials (403 at POST /oauth/token",
        "check --entity-id",
    )
    assert _requests(sim_admin, "other") == {"token": 1}


def test_check_reports_an_unreachable_host_when_nothing_listens(
    check_settings: Settings, sim_admin: SimulatorAdmin
) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    result = _check(check_settings, sim_admin, base_url=f"http://127.0.0.1:{port}")

    _assert_failed(result, CheckProblem.UNREACHABLE, f"cannot reach 127.0.0.1:{port} (")
    assert (result.status, result.failed_at, result.token_issued) == (
        None,
        "POST /oauth/token",
        False,
    )


def test_check_gives_up_at_its_deadline_when_zuora_does_not_answer(
    check_settings: Settings, sim_admin: SimulatorAdmin
) -> None:
    sim_admin.add_fault("latency", tenant=TENANT, route="list", delay_ms=5000)
    started = time.monotonic()

    result = _check(check_settings, sim_admin, deadline_seconds=0.5)

    assert time.monotonic() - started < 4.0
    _assert_failed(result, CheckProblem.UNREACHABLE, "no complete response within 0.5s")
    assert result.failed_at == "GET /workflows" and result.token_issued


@pytest.mark.parametrize(
    ("fault", "route", "problem", "fragment"),
    [
        (
            {"kind": "too_many_requests", "retry_after": 7},
            "token",
            CheckProblem.RATE_LIMITED,
            "Zuora is rate limiting these credentials (429 at POST /oauth/token",
        ),
        (
            {"kind": "status", "status": 503},
            "list",
            CheckProblem.SERVER_ERROR,
            "Zuora failed to answer (503 at GET /workflows",
        ),
        (
            {"kind": "malformed", "variant": "not_json"},
            "list",
            CheckProblem.UNEXPECTED_RESPONSE,
            "did not answer like Zuora's API (200 at GET /workflows",
        ),
        (
            {"kind": "status", "status": 404},
            "token",
            CheckProblem.NOT_FOUND,
            "no Zuora OAuth endpoint answered (404 at POST /oauth/token",
        ),
    ],
    ids=["429-token", "503-list", "not-json-list", "404-token"],
)
def test_check_names_the_problem_without_retrying_when_zuora_fails(
    check_settings: Settings,
    sim_admin: SimulatorAdmin,
    fault: dict[str, Any],
    route: str,
    problem: CheckProblem,
    fragment: str,
) -> None:
    kind = fault.pop("kind")
    sim_admin.add_fault(kind, tenant=TENANT, route=route, **fault)

    result = _check(check_settings, sim_admin)

    _assert_failed(result, problem, fragment)
    assert _requests(sim_admin, TENANT)[route] == 1
    if problem is CheckProblem.RATE_LIMITED:
        assert result.message.endswith("try again in 7 s")
