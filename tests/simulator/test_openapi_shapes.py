"""Responses validate against the Swagger slices in shared/zuora-openapi (nulls allowed, as in
the spec's own examples). Missing spec files: CI fails, a laptop skips.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from tests.simulator.conftest import token_form
from zuora_workflow_sync.simulator import TenantCredentials

SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "zuora-openapi"


def _nullable(node: Any) -> Any:
    """Every typed or enumerated schema also accepts null (the examples are full of nulls)."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    copy = {key: _nullable(value) for key, value in node.items()}
    if isinstance(copy.get("type"), str):
        copy["type"] = [copy["type"], "null"]
    if isinstance(copy.get("enum"), list):
        copy["enum"] = [*copy["enum"], None]
    return copy


def _spec(name: str) -> dict[str, Any]:
    path = SPEC_DIR / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"missing {path}")
        pytest.skip(f"missing {path}")
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return raw


@pytest.fixture(scope="module")
def workflows_spec() -> dict[str, Any]:
    return _spec("zuora-workflows-api-openapi.yml")


def _check(spec: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    root = {**_nullable(schema), "definitions": _nullable(spec["definitions"])}
    jsonschema.validate(instance, root)


def _response_schema(spec: dict[str, Any], path: str, status: str) -> dict[str, Any]:
    schema: dict[str, Any] = spec["paths"][path]["get"]["responses"][status]["schema"]
    return schema


@pytest.mark.parametrize(
    ("url", "spec_path", "status"),
    [
        ("/workflows?page_length=50", "/workflows", "200"),
        ("/workflows/1000", "/workflows/{workflow_id}", "200"),
        ("/workflows/1000/versions", "/workflows/{workflow_id}/versions", "200"),
        ("/workflows/1000/export", "/workflows/{workflow_id}/export", "200"),
        ("/workflows/1000/export?version=latest", "/workflows/{workflow_id}/export", "200"),
        ("/workflows/1000/export?version=1", "/workflows/{workflow_id}/export", "400"),
        ("/workflows/1000/export?version=7.7.7", "/workflows/{workflow_id}/export", "404"),
        (
            "/workflows/metrics.json?startDate=2024-01-01&endDate=2024-01-09&metrics=taskCount",
            "/workflows/metrics.json",
            "200",
        ),
    ],
)
def test_response_matches_the_swagger_schema_when_called(
    http: httpx.Client,
    auth: dict[str, str],
    workflows_spec: dict[str, Any],
    url: str,
    spec_path: str,
    status: str,
) -> None:
    response = http.get(url, headers=auth)
    assert response.status_code == int(status)
    _check(workflows_spec, _response_schema(workflows_spec, spec_path, status), response.json())


def test_every_export_matches_the_swagger_schema_when_exported(
    http: httpx.Client, auth: dict[str, str], workflows_spec: dict[str, Any]
) -> None:
    schema = _response_schema(workflows_spec, "/workflows/{workflow_id}/export", "200")
    for item in http.get("/workflows?page_length=50", headers=auth).json()["data"]:
        exported = http.get(f"/workflows/{item['id']}/export", headers=auth).json()
        _check(workflows_spec, schema, exported)


def test_token_matches_the_oauth_schema_when_issued(
    http: httpx.Client, tenant: TenantCredentials
) -> None:
    spec = _spec("zuora-oauth-api-openapi.yml")
    responses = spec["paths"]["/oauth/token"]["post"]["responses"]
    schema = (responses.get("200") or responses[200])["schema"]  # YAML may read 200 as an int
    _check(spec, schema, http.post("/oauth/token", data=token_form(tenant)).json())
