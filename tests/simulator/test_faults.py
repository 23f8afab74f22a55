"""Each fault kind, observed from a real client socket; matching by tenant, route, page, count."""

from __future__ import annotations

import json
import time
import zlib

import httpx
import pytest

from tests.simulator.conftest import bearer, get_token, token_form
from zuora_workflow_sync.simulator import SimulatorAdmin, SimulatorAdminError, TenantCredentials


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_status_fault_answers_that_status_when_rule_matches(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin, status: int
) -> None:
    sim_admin.add_fault("status", route="list", status=status, retry_after=7, count=1)
    response = http.get("/workflows", headers=auth)
    assert response.status_code == status
    assert response.headers["Retry-After"] == "7"
    assert response.json()
    assert http.get("/workflows", headers=auth).status_code == 200


def test_status_fault_sends_failed_to_get_user_info_when_status_is_401(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    sim_admin.add_fault("status", status=401, count=1)
    assert http.get("/workflows", headers=auth).json() == {"message": "Failed to get user info"}


def test_429_storm_sends_retry_after_when_too_many_requests_is_injected(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    sim_admin.add_fault("too_many_requests", tenant="tenant-001", retry_after=5)
    responses = [http.get("/workflows", headers=auth) for _ in range(3)]
    assert all(r.status_code == 429 and r.headers["Retry-After"] == "5" for r in responses)
    assert responses[0].json()["reasons"][0]["code"] == 70
    other = bearer(get_token(http, sim_admin.credentials("tenant-002")))
    assert http.get("/workflows", headers=other).status_code == 200


def test_drop_closes_the_connection_when_no_response_was_sent(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    sim_admin.add_fault("drop", route="retrieve", count=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        http.get("/workflows/1000", headers=auth)
    assert http.get("/workflows/1000", headers=auth).status_code == 200


def test_drop_cuts_the_body_when_variant_is_mid_body(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    sim_admin.add_fault("drop", route="export", variant="mid_body", count=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        http.get("/workflows/1000/export", headers=auth)


def test_drip_trips_the_client_deadline_when_body_arrives_slowly(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    sim_admin.add_fault("drip", route="export", chunk_bytes=4, interval_ms=300, count=1)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        http.get("/workflows/1000/export", headers=auth, timeout=httpx.Timeout(10.0, read=0.1))
    assert time.monotonic() - started < 5


def test_drip_still_delivers_the_valid_body_when_client_waits(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    expected = http.get("/workflows/999999", headers=auth).json()
    sim_admin.add_fault("drip", route="retrieve", chunk_bytes=40, interval_ms=10, count=1)
    assert http.get("/workflows/999999", headers=auth).json() == expected


@pytest.mark.parametrize(
    "variant", ["truncated", "empty", "not_json", "deep_nesting", "invalid_utf8"]
)
def test_malformed_body_fails_json_parsing_when_injected(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin, variant: str
) -> None:
    sim_admin.add_fault("malformed", route="list", variant=variant, count=1)
    response = http.get("/workflows", headers=auth)
    assert response.status_code == 200
    with pytest.raises((ValueError, RecursionError)):
        json.loads(response.content)


def test_malformed_body_carries_nan_when_variant_is_nan(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    sim_admin.add_fault("malformed", route="retrieve", variant="nan", count=1)
    body = http.get("/workflows/1000", headers=auth).content
    assert b'"id":NaN' in body


def test_html_fault_serves_an_html_error_page_when_injected(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    sim_admin.add_fault("html", status=502, count=1)
    response = http.get("/workflows", headers=auth)
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert b"<html>" in response.content


def test_oversize_fault_sends_exactly_the_requested_bytes_when_injected(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    sim_admin.add_fault("oversize", route="export", size_bytes=3_000_000, count=1)
    response = http.get("/workflows/1000/export", headers=auth)
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == 3_000_000 == len(response.content)


def test_gzip_bomb_inflates_far_beyond_its_wire_size_when_injected(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    sim_admin.add_fault("gzip_bomb", route="list", size_bytes=50_000_000, count=1)
    with http.stream("GET", "/workflows", headers=auth) as response:
        wire = b"".join(response.iter_raw())
    assert response.headers["Content-Encoding"] == "gzip"
    assert len(wire) < 200_000
    inflated = zlib.decompressobj(31).decompress(wire, 60_000_000)
    assert len(inflated) >= 50_000_000


def test_latency_fault_delays_the_answer_when_injected(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    sim_admin.add_fault("latency", route="versions", delay_ms=300, count=1)
    started = time.monotonic()
    assert http.get("/workflows/1000/versions", headers=auth).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_listing_fails_only_on_that_page_when_rule_names_a_page(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    sim_admin.add_fault("status", route="list", page=2, status=500)
    statuses = [
        http.get("/workflows", params={"page": page, "page_length": 4}, headers=auth).status_code
        for page in (1, 2, 3)
    ]
    assert statuses == [200, 500, 200]


def test_rule_targets_one_workflow_when_workflow_id_is_given(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    sim_admin.add_fault("status", route="export", workflow_id=1000, status=503)
    assert http.get("/workflows/1000/export", headers=auth).status_code == 503
    other = sim_admin.workflows("tenant-001")[1]["id"]
    assert http.get(f"/workflows/{other}/export", headers=auth).status_code == 200


def test_token_route_fails_when_a_token_fault_is_set(
    http: httpx.Client, tenant: TenantCredentials, sim_admin: SimulatorAdmin
) -> None:
    sim_admin.add_fault("status", route="token", status=503, count=1)
    assert http.post("/oauth/token", data=token_form(tenant)).status_code == 503
    assert http.post("/oauth/token", data=token_form(tenant)).status_code == 200


def test_rule_fires_the_same_requests_when_replayed_with_the_same_seed(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    def run() -> list[int]:
        sim_admin.clear_faults()
        sim_admin.add_fault("status", route="list", status=500, rate=0.5)
        return [http.get("/workflows", headers=auth).status_code for _ in range(20)]

    first, second = run(), run()
    assert first == second and 0 < first.count(500) < 20
    assert sim_admin.faults()[0]["fired"] == first.count(500)


def test_fault_is_refused_with_400_when_rule_is_invalid(sim_admin: SimulatorAdmin) -> None:
    for rule in (
        {"kind": "explode"},
        {"kind": "status", "rate": 2},
        {"kind": "drop", "variant": "x"},
    ):
        kind = rule.pop("kind")
        with pytest.raises(SimulatorAdminError, match="400"):
            sim_admin.add_fault(str(kind), **rule)
