"""Deterministic conformance of the answers the fuzzing cannot reach on its own (refusals, limits,
multi-entity) and proof that each drift of drifts.py is what makes an answer pass: the same answer
checked against the raw slice fails, or a doctored answer fails the patched one.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import httpx
import pytest
import schemathesis.checks
from schemathesis import Case, Response
from schemathesis.errors import FailureGroup

from tests.conformance.conftest import Schemas, token_form
from tests.conformance.specs import (
    DATA_PATHS,
    EXPORT_PATH,
    LIST_PATH,
    METRICS_PATH,
    RETRIEVE_PATH,
    TOKEN_PATH,
    VERSIONS_PATH,
)
from tests.conformance.strict import CHECKS, assert_zuora_headers
from tests.polling import wait_until
from zuora_workflow_sync.simulator import SimulatorAdmin, SimulatorServer, TenantCredentials

FORM = "application/x-www-form-urlencoded"
RAW_CHECKS = [
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.response_schema_conformance,
]
METRICS_QUERY = {"startDate": "2024-01-01", "endDate": "2024-01-03", "metrics": "taskCount"}
UNKNOWN_ID = 999_999


def _fields(path: str, token: str | None, **extra: Any) -> dict[str, Any]:
    """Case fields for a GET: a workflow id where the path has one, the bearer token if any."""
    fields: dict[str, Any] = {"headers": {"Authorization": f"Bearer {token or 'not-a-token'}"}}
    if "{workflow_id}" in path:
        fields["path_parameters"] = {"workflow_id": extra.pop("workflow_id", UNKNOWN_ID)}
    if path == METRICS_PATH:
        fields["query"] = dict(METRICS_QUERY)
    for key, value in extra.items():
        fields[key] = {**fields.get(key, {}), **value}
    return fields


def _exchange(
    schemas: Schemas, status: int, method: str, path: str, fields: dict[str, Any]
) -> Response:
    """Send the case, expect `status`, and check the answer against the patched slice."""
    case = schemas.operation(method, path).Case(**fields)
    response = case.call()
    assert response.status_code == status, response.text
    case.validate_response(response, checks=CHECKS)
    assert_zuora_headers(response)
    return response


def _raw_case(schemas: Schemas, method: str, path: str, fields: dict[str, Any]) -> Case[Any]:
    return schemas.operation(method, path, raw=True).Case(**fields)


def _assert_raw_rejects(
    schemas: Schemas, response: Response, method: str, path: str, fields: dict[str, Any]
) -> None:
    with pytest.raises(FailureGroup):
        _raw_case(schemas, method, path, fields).validate_response(response, checks=RAW_CHECKS)


def _doctored(response: Response, payload: Any) -> Response:
    """The same answer with another JSON body."""
    return Response(
        status_code=response.status_code,
        headers={name: list(values) for name, values in response.headers.items()},
        content=json.dumps(payload).encode(),
        request=response.request,
        elapsed=response.elapsed,
        verify=response.verify,
    )


@pytest.mark.parametrize(
    ("form_change", "headers", "status"),
    [
        ({"client_secret": "wrong-secret"}, {}, 401),
        ({"grant_type": None}, {}, 400),
        ({}, {"Zuora-Entity-Ids": str(uuid.UUID(int=7))}, 403),
    ],
    ids=["bad-secret", "missing-grant-type", "foreign-entity"],
)
def test_token_refusal_matches_the_sdk_schema_when_refused(
    schemas: Schemas,
    tenant: TenantCredentials,
    form_change: dict[str, str | None],
    headers: dict[str, str],
    status: int,
) -> None:
    form = {k: v for k, v in {**token_form(tenant), **form_change}.items() if v is not None}
    fields = {"body": form, "media_type": FORM, "headers": headers}
    response = _exchange(schemas, status, "POST", TOKEN_PATH, fields)
    _assert_raw_rejects(schemas, response, "POST", TOKEN_PATH, fields)


@pytest.mark.parametrize("path", DATA_PATHS)
def test_get_answers_401_with_the_proxy_schema_when_the_token_is_invalid(
    schemas: Schemas, path: str
) -> None:
    fields = _fields(path, None)
    response = _exchange(schemas, 401, "GET", path, fields)
    assert response.json() == {"message": "Authentication error"}
    _assert_raw_rejects(schemas, response, "GET", path, fields)


@pytest.mark.parametrize("path", DATA_PATHS)
def test_get_answers_403_with_the_common_schema_when_view_access_is_missing(
    schemas: Schemas, sim_admin: SimulatorAdmin, token: str, tenant: TenantCredentials, path: str
) -> None:
    sim_admin.forbid(tenant.name)
    fields = _fields(path, token)
    response = _exchange(schemas, 403, "GET", path, fields)
    assert response.json()["code"] == 50000010
    _assert_raw_rejects(schemas, response, "GET", path, fields)


@pytest.mark.parametrize("path", DATA_PATHS)
def test_get_answers_400_with_the_common_schema_when_a_multi_entity_tenant_omits_the_entity(
    schemas: Schemas, http: httpx.Client, sim_admin: SimulatorAdmin, path: str
) -> None:
    multi = sim_admin.credentials("tenant-004")
    assert len(multi.entity_ids) > 1
    token = http.post("/oauth/token", data=token_form(multi)).json()["access_token"]
    fields = _fields(path, token)
    response = _exchange(schemas, 400, "GET", path, fields)
    assert set(response.json()) == {"code", "message"}
    if path != EXPORT_PATH:  # the export documents a 400 (with no required key): raw accepts it
        _assert_raw_rejects(schemas, response, "GET", path, fields)


@pytest.mark.parametrize("path", DATA_PATHS)
def test_get_answers_429_with_a_reasons_body_when_the_minute_quota_is_spent(
    schemas: Schemas, http: httpx.Client, sim_admin: SimulatorAdmin, token: str, path: str
) -> None:
    sim_admin.set_quotas("tenant-001", minute=1, hour=1000, day=1000)
    assert http.get("/workflows", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    fields = _fields(path, token)
    response = _exchange(schemas, 429, "GET", path, fields)
    assert response.json()["reasons"][0]["code"] == 70
    _assert_raw_rejects(schemas, response, "GET", path, fields)


def _wait_in_flight(admin: SimulatorAdmin, count: int) -> None:
    wait_until(
        lambda: admin.stats()["in_flight"] >= count,
        timeout=5.0,
        what="the slow request to start",
        interval=0.01,
    )


def test_gets_answer_429_with_the_concurrency_body_when_the_tenant_slot_is_taken(
    schemas: Schemas,
    simulator: SimulatorServer,
    sim_admin: SimulatorAdmin,
    token: str,
) -> None:
    sim_admin.set_concurrency_limit("tenant-001", 1)
    sim_admin.add_fault("latency", tenant="tenant-001", route="list", delay_ms=1000, count=1)
    headers = {"Authorization": f"Bearer {token}"}
    slow = threading.Thread(
        target=lambda: httpx.get(f"{simulator.base_url}/workflows", headers=headers, timeout=10.0)
    )
    slow.start()
    try:
        _wait_in_flight(sim_admin, 1)
        for path in DATA_PATHS:
            fields = _fields(path, token)
            response = _exchange(schemas, 429, "GET", path, fields)
            assert response.json()["reasons"][0]["code"] == 50000070
            assert response.headers["retry-after"] == ["120"]
            _assert_raw_rejects(schemas, response, "GET", path, fields)
    finally:
        slow.join()


@pytest.mark.parametrize("path", [RETRIEVE_PATH, VERSIONS_PATH, EXPORT_PATH])
@pytest.mark.parametrize("whose", ["unknown", "foreign"])
def test_unknown_workflow_gets_404_with_the_delete_error_body_when_requested(
    schemas: Schemas, sim_admin: SimulatorAdmin, token: str, path: str, whose: str
) -> None:
    workflow_id = UNKNOWN_ID if whose == "unknown" else sim_admin.workflows("tenant-002")[0]["id"]
    fields = _fields(path, token, workflow_id=workflow_id)
    response = _exchange(schemas, 404, "GET", path, fields)
    (message,) = response.json()["errors"]
    assert message.startswith("Invalid ID / Multiple objects returned - SchemaId: 2 InstanceId: ")
    _assert_raw_rejects(schemas, response, "GET", path, fields)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        (LIST_PATH, {"page": "0"}),
        (LIST_PATH, {"page_length": "-3"}),
        (LIST_PATH, {"callout_trigger": "maybe"}),
        (METRICS_PATH, {"metrics": "runCount"}),
        (METRICS_PATH, {"endDate": "2023-01-01"}),
    ],
)
def test_bad_query_gets_400_with_the_workflow_errors_body_when_invalid(
    schemas: Schemas, token: str, path: str, query: dict[str, str]
) -> None:
    fields = _fields(path, token, query=query)
    response = _exchange(schemas, 400, "GET", path, fields)
    assert response.json()["errors"][0]["code"] == "invalid"
    _assert_raw_rejects(schemas, response, "GET", path, fields)


@pytest.mark.parametrize(("version", "status"), [("1", 400), ("9.9.9", 404)])
def test_export_version_error_matches_the_raw_schema_when_the_version_is_bad(
    schemas: Schemas, sim_admin: SimulatorAdmin, token: str, version: str, status: int
) -> None:
    workflow_id = sim_admin.workflows("tenant-001")[0]["id"]
    fields = _fields(EXPORT_PATH, token, workflow_id=workflow_id, query={"version": version})
    response = _exchange(schemas, status, "GET", EXPORT_PATH, fields)
    # Documented as is: no drift involved, the raw slice accepts the answer too.
    _raw_case(schemas, "GET", EXPORT_PATH, fields).validate_response(response, checks=RAW_CHECKS)


def test_list_needs_the_nullable_and_misspelling_drifts_when_validated(
    schemas: Schemas, token: str
) -> None:
    fields = _fields(LIST_PATH, token, query={"page_length": "50"})
    response = _exchange(schemas, 200, "GET", LIST_PATH, fields)
    items = response.json()["data"]
    assert any(item["interval"] is None for item in items)
    _assert_raw_rejects(schemas, response, "GET", LIST_PATH, fields)  # null interval/timezone
    # A "corrected" key passes the raw slice (nothing is required there) but not the patched one.
    first = {**items[0], "interval": "0 0 * * *", "timezone": "UTC"}
    first["latest_inactive_versions"] = first.pop("latest_inactive_verisons")
    corrected = _doctored(response, {"data": [first], "pagination": response.json()["pagination"]})
    _raw_case(schemas, "GET", LIST_PATH, fields).validate_response(corrected, checks=RAW_CHECKS)
    case = schemas.operation("GET", LIST_PATH).Case(**fields)
    with pytest.raises(FailureGroup):
        case.validate_response(corrected, checks=CHECKS)


def test_export_needs_the_snake_case_and_nullable_drifts_when_validated(
    schemas: Schemas, sim_admin: SimulatorAdmin, token: str
) -> None:
    workflow_id = sim_admin.workflows("tenant-001")[0]["id"]
    fields = _fields(EXPORT_PATH, token, workflow_id=workflow_id)
    response = _exchange(schemas, 200, "GET", EXPORT_PATH, fields)
    document = response.json()
    assert document["linkages"][0]["source_task_id"] is None
    _assert_raw_rejects(schemas, response, "GET", EXPORT_PATH, fields)
    camel = {**document, "workflow": {"id": document["workflow"]["id"], "calloutTrigger": True}}
    case = schemas.operation("GET", EXPORT_PATH).Case(**fields)
    with pytest.raises(FailureGroup):
        case.validate_response(_doctored(response, camel), checks=CHECKS)
