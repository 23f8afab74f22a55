"""Facts the Swagger slices state loosely (optional headers, no required keys), asserted directly:
request id and content type on every answer, the token's exact fields, list pagination.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conformance.conftest import TENANT, token_form
from tests.conformance.specs import Specs
from tests.conformance.strict import REQUEST_ID_LENGTH, assert_zuora_headers
from zuora_workflow_sync.simulator import SimulatorAdmin, TenantCredentials

HEX32 = re.compile(r"[0-9a-f]{32}")
Send = Callable[[httpx.Client, dict[str, str]], httpx.Response]


def _get(url: str) -> Send:
    return lambda http, auth: http.get(url, headers=auth)


ANSWERS: dict[str, Send] = {
    "list-200": _get("/workflows"),
    "list-400": _get("/workflows?page=0"),
    "retrieve-404": _get("/workflows/999999"),
    "versions-404": _get("/workflows/999999/versions"),
    "export-400": _get("/workflows/1000/export?version=1"),
    "metrics-400": _get("/workflows/metrics.json"),
    "list-401": lambda http, auth: http.get("/workflows"),
    "list-403-entity": lambda http, auth: http.get(
        "/workflows", headers={**auth, "Zuora-Entity-Ids": "not-an-entity"}
    ),
    "token-400": lambda http, auth: http.post("/oauth/token", data={"grant_type": "password"}),
    "token-400-json": lambda http, auth: http.post("/oauth/token", json={"client_id": "x"}),
    "token-401": lambda http, auth: http.post(
        "/oauth/token",
        data={"client_id": "0" * 36, "client_secret": "x", "grant_type": "client_credentials"},
    ),
}


@pytest.mark.parametrize("answer", ANSWERS, ids=str)
def test_answer_carries_a_request_id_and_json_when_success_or_error(
    http: httpx.Client, token: str, answer: str
) -> None:
    responses = [ANSWERS[answer](http, {"Authorization": f"Bearer {token}"}) for _ in range(2)]
    for response in responses:
        assert_zuora_headers(response)
    first, second = (r.headers["Zuora-Request-Id"] for r in responses)
    assert first != second, "Zuora-Request-Id must be fresh on every answer"


def test_answer_carries_a_request_id_when_the_quota_is_spent(
    http: httpx.Client, sim_admin: SimulatorAdmin, token: str
) -> None:
    sim_admin.set_quotas(TENANT, minute=1, hour=1000, day=1000)
    auth = {"Authorization": f"Bearer {token}"}
    statuses = []
    for _ in range(2):
        response = http.get("/workflows", headers=auth)
        assert_zuora_headers(response)
        statuses.append(response.status_code)
    assert statuses == [200, 429]


def test_token_has_exactly_the_documented_fields_when_issued(
    http: httpx.Client, tenant: TenantCredentials, raw_specs: Specs
) -> None:
    response = http.post("/oauth/token", data=token_form(tenant))
    assert response.status_code == 200
    assert_zuora_headers(response)
    body = response.json()
    documented = set(raw_specs.oauth["definitions"]["tokenResponse"]["properties"])
    assert set(body) == documented == {"access_token", "token_type", "expires_in", "scope", "jti"}
    assert body["token_type"] == "bearer"
    assert HEX32.fullmatch(body["access_token"]) and HEX32.fullmatch(body["jti"])
    assert body["expires_in"] == 3599
    scopes = body["scope"].split(" ")
    assert scopes[0].startswith("user.") and scopes[-1].startswith("tenant.")
    assert [s for s in scopes if s.startswith("entity.")] == [
        f"entity.{e}" for e in tenant.entity_ids
    ]
    assert int(response.headers["X-RateLimit-Limit-minute"]) == 100


def test_list_pagination_has_the_documented_fields_when_paged(
    http: httpx.Client, sim_admin: SimulatorAdmin, token: str, raw_specs: Specs
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    documented = set(
        raw_specs.definition("GetWorkflowsResponse")["properties"]["pagination"]["properties"]
    )
    expected_ids = sorted(w["id"] for w in sim_admin.workflows(TENANT))
    seen: list[int] = []
    url: str | None = "/workflows?page_length=5"
    pages = 0
    while url is not None:
        body = http.get(url, headers=auth).json()
        pages += 1
        assert set(body) == {"data", "pagination"}
        pagination = body["pagination"]
        assert pagination["page"] == pages
        assert pagination["page_length"] == len(body["data"]) <= 5
        seen.extend(item["id"] for item in body["data"])
        url = pagination.get("next_page")
        if url is None:
            assert set(pagination) == documented - {"next_page"}  # omitted on the last page
        else:
            assert set(pagination) == documented
            parts = urlsplit(url)
            assert f"{parts.scheme}://{parts.netloc}" == str(http.base_url).rstrip("/")
            assert parts.path == "/workflows"
            assert parse_qs(parts.query) == {"page": [str(pages + 1)], "page_length": ["5"]}
    assert seen == expected_ids
    assert pages == -(-len(expected_ids) // 5)


def test_track_id_is_echoed_only_when_valid_when_sent(http: httpx.Client, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    valid = http.get("/workflows", headers={**auth, "Zuora-Track-Id": "sync-42"})
    assert valid.headers["Zuora-Track-Id"] == "sync-42"
    too_long = http.get("/workflows", headers={**auth, "Zuora-Track-Id": "x" * 65})
    assert too_long.status_code == 200
    assert "Zuora-Track-Id" not in too_long.headers
    forbidden = http.get("/workflows", headers={**auth, "Zuora-Track-Id": "a:b"})
    assert "Zuora-Track-Id" not in forbidden.headers
    assert len(valid.headers["Zuora-Request-Id"]) == REQUEST_ID_LENGTH
