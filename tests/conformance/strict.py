"""The schemathesis checks every conformance call runs, and strict header facts checked directly.

The Swagger headers are optional, so schemathesis only validates them when present; the facts below
hold for every simulator answer, errors included (zuora-api.md 3.1 and 6).
"""

from __future__ import annotations

import uuid

import httpx
import schemathesis.checks
from schemathesis import CheckFunction, Response

# Response schema, documented status code (with the drifts of drifts.py), documented content type,
# documented response headers, and no 5xx.
CHECKS: list[CheckFunction] = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]

REQUEST_ID_LENGTH = 36
JSON_MEDIA_TYPE = "application/json"


def _first(response: Response, name: str) -> str | None:
    values = response.headers.get(name.lower())
    return values[0] if values else None


def assert_zuora_headers(response: Response | httpx.Response) -> None:
    """A 36-character `Zuora-Request-Id` (a UUID here) and `Content-Type: application/json`."""
    if isinstance(response, httpx.Response):
        request_id = response.headers.get("Zuora-Request-Id")
        content_type = response.headers.get("Content-Type")
    else:
        request_id = _first(response, "Zuora-Request-Id")
        content_type = _first(response, "Content-Type")
    status = response.status_code
    assert request_id is not None, f"{status}: no Zuora-Request-Id"
    assert len(request_id) == REQUEST_ID_LENGTH, f"{status}: Zuora-Request-Id {request_id!r}"
    assert str(uuid.UUID(request_id)) == request_id
    assert content_type is not None, f"{status}: no Content-Type"
    assert content_type.split(";")[0].strip() == JSON_MEDIA_TYPE, f"{status}: {content_type}"
