"""ZuoraClient under injected faults: every error family, retries, Retry-After, size, time."""

from __future__ import annotations

import asyncio
import resource
import socket
import time
from typing import Any

import pytest
from pydantic import SecretStr

from zuora_workflow_sync.errors import (
    ConnectionFailedError,
    ProtocolError,
    RateLimitedError,
    RequestTimeoutError,
    ResponseTooLargeError,
    ServerError,
)
from zuora_workflow_sync.zuora import TenantCredentials, WorkflowListing, ZuoraClient

from .conftest import Harness, fast_settings


async def _list(client: ZuoraClient) -> WorkflowListing:
    return await client.list_workflows()


async def _export_first(client: ZuoraClient) -> dict[str, Any]:
    listing = await client.list_workflows()
    return (await client.export_workflow(listing.workflows[0].id)).value.document


def test_5xx_is_retried_with_jitter_until_success(harness: Harness, tenant: str) -> None:
    harness.admin.add_fault("status", tenant=tenant, route="list", status=503, count=2)
    listing = harness.run(tenant, _list)
    assert listing.workflows
    assert harness.route_count(tenant, "list", 503) == 2
    assert len(harness.sleeps) == 2
    assert 0.0 <= harness.sleeps[0] <= 0.5 and 0.0 <= harness.sleeps[1] <= 1.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_server_error_when_attempts_run_out(
    harness: Harness, tenant: str, status: int
) -> None:
    harness.admin.add_fault("status", tenant=tenant, route="list", status=status)
    with pytest.raises(ServerError) as caught:
        harness.run(tenant, _list)
    assert caught.value.status == status
    assert harness.route_count(tenant, "list", status) == 4  # bounded: max_attempts
    assert len(harness.sleeps) == 3


def test_retry_after_is_honoured_when_429(harness: Harness, tenant: str) -> None:
    harness.admin.add_fault(
        "too_many_requests", tenant=tenant, route="list", retry_after=7, count=1
    )
    assert harness.run(tenant, _list).workflows
    assert len(harness.sleeps) == 1
    assert 7.0 <= harness.sleeps[0] <= 7.5


def test_429_is_rate_limited_error_with_retry_after_when_attempts_run_out(
    harness: Harness, tenant: str
) -> None:
    harness.admin.add_fault("too_many_requests", tenant=tenant, route="list", retry_after=30)
    with pytest.raises(RateLimitedError) as caught:
        harness.run(tenant, _list, settings=fast_settings(attempts=2))
    assert caught.value.retry_after_seconds == 30.0
    assert caught.value.status == 429


def test_concurrency_limit_429_is_retried_after_120s_when_limit_exceeded(
    harness: Harness, tenant: str
) -> None:
    harness.admin.set_concurrency_limit(tenant, 2)
    harness.admin.update_settings(latency_ms=150)

    async def scenario(client: ZuoraClient) -> int:
        listing = await client.list_workflows()
        ids = [w.id for w in listing.workflows[:6]]
        await asyncio.gather(*(client.export_workflow(i) for i in ids))
        return len(ids)

    assert harness.run(tenant, scenario) == 6
    assert harness.tenant_stats(tenant)["too_many_requests"] >= 1
    assert any(s >= 120.0 for s in harness.sleeps)


@pytest.mark.parametrize("variant", ["before", "mid_body"])
def test_dropped_connection_is_connection_failed_when_it_persists(
    harness: Harness, tenant: str, variant: str
) -> None:
    harness.admin.add_fault("drop", tenant=tenant, route="list", variant=variant)
    with pytest.raises(ConnectionFailedError):
        harness.run(tenant, _list, settings=fast_settings(attempts=2))
    assert len(harness.sleeps) == 1


def test_dropped_connection_is_retried_when_transient(harness: Harness, tenant: str) -> None:
    harness.admin.add_fault("drop", tenant=tenant, route="export", count=1)
    assert harness.run(tenant, _export_first)["tasks"]


def test_refused_connection_is_connection_failed(harness: Harness, tenant: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = TenantCredentials(f"http://127.0.0.1:{port}", "client-id", SecretStr("s3cret-value"))
    with pytest.raises(ConnectionFailedError, match="ConnectError"):
        harness.run(tenant, _list, credentials=closed, settings=fast_settings(attempts=1))


@pytest.mark.parametrize(
    "variant",
    [
        "truncated",
        "empty",
        "not_json",
        "nan",
        "deep_nesting",
        "nul_bytes",
        "invalid_utf8",
        "duplicate_keys",
    ],
)
def test_malformed_body_is_protocol_error_without_retry(
    harness: Harness, tenant: str, variant: str
) -> None:
    harness.admin.add_fault("malformed", tenant=tenant, route="export", variant=variant)
    with pytest.raises(ProtocolError) as caught:
        harness.run(tenant, _export_first)
    assert type(caught.value) is ProtocolError
    assert harness.route_count(tenant, "export") == 1
    assert "\n" not in str(caught.value)


def test_html_error_page_is_protocol_error_when_status_200(harness: Harness, tenant: str) -> None:
    harness.admin.add_fault("html", tenant=tenant, route="list", status=200)
    with pytest.raises(ProtocolError, match=r"not valid JSON.*<"):
        harness.run(tenant, _list)


def test_oversized_body_is_refused_when_over_cap(harness: Harness, tenant: str) -> None:
    harness.admin.add_fault("oversize", tenant=tenant, route="export", size_bytes=3_000_000)
    with pytest.raises(ResponseTooLargeError):
        harness.run(tenant, _export_first, settings=fast_settings(max_body=1_000_000))


def test_gzip_bomb_is_refused_without_inflating_it(harness: Harness, tenant: str) -> None:
    harness.admin.add_fault("gzip_bomb", tenant=tenant, route="export", size_bytes=1_000_000_000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ResponseTooLargeError):
        harness.run(tenant, _export_first, settings=fast_settings(max_body=1_000_000))
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 100 * 1024  # far below the 1 GB the bomb inflates to


def test_slow_drip_body_hits_overall_deadline(harness: Harness, tenant: str) -> None:
    harness.admin.add_fault("drip", tenant=tenant, route="export", chunk_bytes=4, interval_ms=100)
    started = time.monotonic()
    with pytest.raises(RequestTimeoutError, match="no complete response within 1s"):
        harness.run(tenant, _export_first, settings=fast_settings(attempts=1, deadline=1.0))
    assert time.monotonic() - started < 5.0  # each read is fast: only the deadline stops it


def test_extra_latency_is_tolerated_when_within_deadline(harness: Harness, tenant: str) -> None:
    harness.admin.add_fault("latency", tenant=tenant, route="list", delay_ms=300)
    assert harness.run(tenant, _list).workflows
