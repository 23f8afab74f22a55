"""The Swagger 2.0 slices of shared/zuora-openapi, raw and with the drifts of `drifts.py` applied.

The files live next to the repository (`<clone>/../shared/zuora-openapi/`), as in CI. When they are
missing the conformance tests fail under CI (env `CI` set) and skip elsewhere.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "zuora-openapi"
WORKFLOWS_FILE = "zuora-workflows-api-openapi.yml"
OAUTH_FILE = "zuora-oauth-api-openapi.yml"

Json = dict[str, Any]

TOKEN_PATH = "/oauth/token"
LIST_PATH = "/workflows"
RETRIEVE_PATH = "/workflows/{workflow_id}"
VERSIONS_PATH = "/workflows/{workflow_id}/versions"
EXPORT_PATH = "/workflows/{workflow_id}/export"
METRICS_PATH = "/workflows/metrics.json"

# The GET operations the simulator serves; every other operation of the slice is left out.
DATA_PATHS = (LIST_PATH, RETRIEVE_PATH, VERSIONS_PATH, EXPORT_PATH, METRICS_PATH)
# (method, path) of everything the simulator serves, across both slices.
SERVED_OPERATIONS = (("POST", TOKEN_PATH), *(("GET", path) for path in DATA_PATHS))


@dataclass
class Specs:
    """Both slices as plain dicts, response codes as strings (YAML reads an unquoted `200` as an
    int, as in the OAuth slice; `_read` turns them into the strings the workflows slice uses)."""

    workflows: Json
    oauth: Json

    def copy(self) -> Specs:
        return Specs(copy.deepcopy(self.workflows), copy.deepcopy(self.oauth))

    def operation(self, method: str, path: str) -> Json:
        spec = self.oauth if path == TOKEN_PATH else self.workflows
        found: Json = spec["paths"][path][method.lower()]
        return found

    def responses(self, method: str, path: str) -> dict[str, Json]:
        found: dict[str, Json] = self.operation(method, path)["responses"]
        return found

    def response(self, method: str, path: str, status: int) -> Json | None:
        return self.responses(method, path).get(str(status))

    def definition(self, name: str) -> Json:
        found: Json = self.workflows["definitions"][name]
        return found


def _read(name: str) -> Json:
    path = SPEC_DIR / name
    if not path.is_file():
        message = f"Swagger slice {path} is missing (expected a copy of shared/ next to the repo)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    loaded: Json = yaml.safe_load(path.read_text(encoding="utf-8"))
    for methods in loaded["paths"].values():
        for operation in methods.values():
            if isinstance(operation, dict) and "responses" in operation:
                responses = operation["responses"]
                operation["responses"] = {str(code): value for code, value in responses.items()}
    return loaded


def load_raw_specs() -> Specs:
    """The unmodified slices; fails under CI and skips elsewhere when they are missing."""
    return Specs(workflows=_read(WORKFLOWS_FILE), oauth=_read(OAUTH_FILE))
