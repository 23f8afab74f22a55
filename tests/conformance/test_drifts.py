"""The drift list stays honest: every entry is still needed by the raw slices, applying them touches
no raw data, the spec's own examples pass the patched slices, the PROVENANCE.md drifts on operations
the simulator does not serve are still there (and still not served), and the docs list every entry.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from schemathesis import Response

from tests.conformance.conftest import Schemas
from tests.conformance.drifts import DRIFTS, NOT_SERVED_DRIFTS, Drift, apply_drifts
from tests.conformance.specs import SERVED_OPERATIONS, Specs
from tests.conformance.strict import CHECKS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "simulator.md"


@pytest.mark.parametrize("drift", DRIFTS, ids=lambda drift: drift.name)
def test_drift_is_still_needed_when_checked_against_the_raw_spec(
    raw_specs: Specs, drift: Drift
) -> None:
    assert drift.still_needed(raw_specs), (
        f"the raw spec no longer needs drift {drift.name!r} ({drift.source}): remove it from "
        "tests/conformance/drifts.py and from the Conformance section of docs/simulator.md"
    )


def test_drift_names_are_unique_when_listed() -> None:
    names = [drift.name for drift in (*DRIFTS,)] + list(NOT_SERVED_DRIFTS)
    assert len(names) == len(set(names))
    assert all(drift.source and drift.summary for drift in DRIFTS)


def test_raw_specs_stay_untouched_when_the_drifts_are_applied(raw_specs: Specs) -> None:
    before = copy.deepcopy(raw_specs)
    patched = apply_drifts(raw_specs)
    assert raw_specs == before
    assert patched != before


def test_every_served_operation_is_in_the_raw_spec_when_loaded(raw_specs: Specs) -> None:
    for method, path in SERVED_OPERATIONS:
        assert "200" in raw_specs.responses(method, path), (method, path)


def _documented_examples(specs: Specs) -> list[tuple[str, str, int, Any]]:
    found = []
    for method, path in SERVED_OPERATIONS:
        for status, response in specs.responses(method, path).items():
            example = response.get("examples", {}).get("application/json")
            if example is not None:
                found.append((method, path, int(status), example))
    return found


def test_spec_examples_pass_the_patched_spec_when_validated(
    raw_specs: Specs, schemas: Schemas
) -> None:
    """No drift contradicts the slices' own examples (token, list, definition, versions, export
    200/400/404, metrics)."""
    examples = _documented_examples(raw_specs)
    assert len(examples) >= 8
    for method, path, status, example in examples:
        case = schemas.operation(method, path).Case()
        request = requests.Request(method, f"http://127.0.0.1{path}").prepare()
        response = Response(
            status_code=status,
            headers={"content-type": ["application/json"]},
            content=json.dumps(example).encode(),
            request=request,
            elapsed=0.0,
            verify=True,
        )
        case.validate_response(response, checks=CHECKS)


def test_delete_error_example_uses_the_lower_case_key_when_read(raw_specs: Specs) -> None:
    example = raw_specs.response("DELETE", "/workflows/{workflow_id}", 404)
    assert example is not None
    assert list(example["examples"]["application/json"]) == ["errors"]


def test_not_served_drifts_are_still_in_the_raw_spec_when_checked(raw_specs: Specs) -> None:
    paths = raw_specs.workflows["paths"]
    assert set(NOT_SERVED_DRIFTS) == {"delete-version-path", "stop-run-missing"}
    # delete-version-path: the 2023 slice says /versions/{version_id}, Zuora now serves
    # /workflows/versions/{version_id} (PROVENANCE.md).
    assert "delete" in paths["/versions/{version_id}"]
    assert "/workflows/versions/{version_id}" not in paths
    # stop-run-missing: PUT /workflows/workflow_runs/{workflow_run_id}/stop is absent.
    assert "/workflows/workflow_runs/{workflow_run_id}/stop" not in paths


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/versions/1001"),
        ("DELETE", "/workflows/versions/1001"),
        ("PUT", "/workflows/workflow_runs/1/stop"),
    ],
)
def test_simulator_does_not_serve_the_drifted_operations_when_called(
    http: httpx.Client, token: str, method: str, path: str
) -> None:
    response = http.request(method, path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (404, 405)


def _conformance_section() -> str:
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(r"^## Conformance\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match is not None, "docs/simulator.md has no '## Conformance' section"
    return match.group(1)


def test_docs_list_every_drift_when_read() -> None:
    section = _conformance_section()
    missing = [n for n in [d.name for d in DRIFTS] + list(NOT_SERVED_DRIFTS) if n not in section]
    assert not missing, f"docs/simulator.md Conformance section lacks {missing}"
