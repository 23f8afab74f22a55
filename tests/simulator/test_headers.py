"""Headers on every response: request id, track id echo, gzip over 1000 bytes, RateLimit-*."""

from __future__ import annotations

import gzip
import re

import httpx

from zuora_workflow_sync.simulator import SimulatorAdmin

RATE_LIMIT_FORMAT = re.compile(r"(\d+), (\d+);w=60, (\d+);w=3600, (\d+);w=86400")


def _raw_get(
    http: httpx.Client, path: str, headers: dict[str, str]
) -> tuple[httpx.Response, bytes]:
    """A GET whose body is left encoded, to see exactly what went over the wire."""
    with http.stream("GET", path, headers=headers) as response:
        return response, b"".join(response.iter_raw())


def test_body_is_gzipped_when_accepted_and_over_1000_bytes(
    http: httpx.Client, auth: dict[str, str]
) -> None:
    response, raw = _raw_get(http, "/workflows?page_length=20", {**auth, "Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert len(gzip.decompress(raw)) > 1000


def test_body_is_not_gzipped_when_under_1000_bytes(
    http: httpx.Client, auth: dict[str, str]
) -> None:
    response, raw = _raw_get(http, "/workflows/999999", {**auth, "Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in response.headers
    assert len(raw) <= 1000


def test_body_is_not_gzipped_when_gzip_is_not_accepted(
    http: httpx.Client, auth: dict[str, str]
) -> None:
    headers = {**auth, "Accept-Encoding": "identity"}
    response, raw = _raw_get(http, "/workflows?page_length=20", headers)
    assert "Content-Encoding" not in response.headers
    assert len(raw) > 1000


def test_track_id_is_echoed_when_sent(http: httpx.Client, auth: dict[str, str]) -> None:
    sent = http.get("/workflows", headers={**auth, "Zuora-Track-Id": "sync-42"})
    assert sent.headers["Zuora-Track-Id"] == "sync-42"
    assert "Zuora-Track-Id" not in http.get("/workflows", headers=auth).headers


def test_request_id_is_a_fresh_uuid_when_each_call_is_made(
    http: httpx.Client, auth: dict[str, str]
) -> None:
    ids = {http.get("/workflows", headers=auth).headers["Zuora-Request-Id"] for _ in range(3)}
    assert len(ids) == 3 and all(len(value) == 36 for value in ids)


def test_content_type_is_json_utf8_when_zuora_answers(
    http: httpx.Client, auth: dict[str, str]
) -> None:
    for path in ("/workflows", "/workflows/999999", "/workflows/1000/export?version=x"):
        assert (
            http.get(path, headers=auth).headers["Content-Type"]
            == "application/json; charset=utf-8"
        )


def test_rate_limit_headers_follow_zuora_format_when_data_is_called(
    http: httpx.Client, auth: dict[str, str]
) -> None:
    first = http.get("/workflows", headers=auth).headers
    second = http.get("/workflows", headers=auth).headers
    match = RATE_LIMIT_FORMAT.fullmatch(first["RateLimit-Limit"])
    assert match is not None
    assert match.groups() == ("50000", "50000", "2250000", "27000000")
    assert int(first["RateLimit-Remaining"]) - int(second["RateLimit-Remaining"]) == 1
    assert 1 <= int(first["RateLimit-Reset"]) <= 60


def test_rate_limit_names_the_tightest_window_when_the_day_quota_is_closest(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    sim_admin.set_quotas("tenant-001", minute=100, hour=200, day=50)
    headers = http.get("/workflows", headers=auth).headers
    assert headers["RateLimit-Limit"] == "50, 100;w=60, 200;w=3600, 50;w=86400"
    assert headers["RateLimit-Remaining"] == "49"
    assert 1 <= int(headers["RateLimit-Reset"]) <= 86400


def test_concurrency_headers_appear_when_switched_on(
    http: httpx.Client, auth: dict[str, str], sim_admin: SimulatorAdmin
) -> None:
    assert "Concurrency-Limit-Type" not in http.get("/workflows", headers=auth).headers
    sim_admin.update_settings(concurrency_headers=True)
    headers = http.get("/workflows", headers=auth).headers
    assert headers["Concurrency-Limit-Type"] == "Default"
    assert headers["Concurrency-Limit-Limit"] == "40"
    assert headers["Concurrency-Limit-Remaining"] == "39"
