"""Faults on Zuora's side (F13-F16, F21 of shared/reliability.md) injected by the simulator, each
sync a real `sync-workflows --sync` process on SQLite, each test ending with the shared invariant
check. A fault left in place for the check applies to its clean run too: the same data."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.backends import sqlite_backend
from tests.chaos.fleet import SEEDED_TENANT, Fleet, FleetFactory
from tests.polling import wait_until
from tests.reliability.helpers import NO_STAGGER
from tests.reliability.invariants import assert_invariants
from zuora_workflow_sync.domain.models import RunStatus, SyncRun

pytestmark = [pytest.mark.end_to_end, pytest.mark.slow]

OTHER_TENANT = "tenant-002"


@pytest.fixture
def inline_fleet(make_fleet: FleetFactory, tmp_path: Path) -> Fleet:
    return make_fleet(sqlite_backend(tmp_path / "db"), **NO_STAGGER)


def sync_inline(fleet: Fleet, *args: str) -> None:
    """`sync-workflows ARGS --force --sync`: it exits 0 even when a run failed."""
    done = fleet.run("sync-workflows", *args, "--force", "--sync", timeout=90)
    assert done.returncode in (0, 1), (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr


def latest(fleet: Fleet, customer: int) -> SyncRun:
    return max(fleet.runtime.ledger.list_runs(customer_id=customer), key=lambda run: run.id)


def tenant_stats(fleet: Fleet, tenant: str) -> dict[str, int]:
    view = fleet.admin.stats()["tenants"].get(tenant, {})
    return {key: int(view.get(key, 0)) for key in ("total", "tokens_issued", "too_many_requests")}


def test_f13_a_429_storm_for_one_tenant_makes_it_wait_while_the_other_is_unaffected(
    inline_fleet: Fleet, tmp_path: Path
) -> None:
    fleet = inline_fleet
    stormy, calm = fleet.add_seeded(SEEDED_TENANT), fleet.add_seeded(OTHER_TENANT)
    fleet.admin.add_fault(
        "too_many_requests", tenant=SEEDED_TENANT, route="export", retry_after=2, count=2
    )

    sync_inline(fleet)

    stormy_run, calm_run = latest(fleet, stormy), latest(fleet, calm)
    assert (stormy_run.status, calm_run.status) == (RunStatus.SUCCEEDED, RunStatus.SUCCEEDED)
    assert tenant_stats(fleet, SEEDED_TENANT)["too_many_requests"] == 2
    assert tenant_stats(fleet, OTHER_TENANT)["too_many_requests"] == 0
    assert stormy_run.duration_seconds is not None and stormy_run.duration_seconds >= 2.0
    assert calm_run.duration_seconds is not None and calm_run.duration_seconds < 2.0
    assert_invariants(fleet, tmp_path)


def test_f14_5xx_resets_and_timeouts_are_retried_boundedly_and_open_the_circuit_per_customer(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(sqlite_backend(tmp_path / "db"), http_deadline_seconds="1", **NO_STAGGER)
    flaky, broken = fleet.add_seeded(SEEDED_TENANT), fleet.add_seeded(OTHER_TENANT)
    # Each transient fault once on the first tenant's exports: a 503, a reset, a timeout.
    fleet.admin.add_fault("status", tenant=SEEDED_TENANT, route="export", status=503, count=1)
    fleet.admin.add_fault("drop", tenant=SEEDED_TENANT, route="export", count=1)
    fleet.admin.add_fault("latency", tenant=SEEDED_TENANT, route="export", delay_ms=1_500, count=1)
    fleet.admin.add_fault("status", tenant=OTHER_TENANT, route="list", status=503)

    for _ in range(3):  # the circuit threshold
        sync_inline(fleet)
    sync_inline(fleet)  # the broken customer's circuit is open now: not dispatched

    flaky_runs = fleet.runtime.ledger.list_runs(customer_id=flaky)
    broken_runs = fleet.runtime.ledger.list_runs(customer_id=broken)
    assert [run.status for run in flaky_runs] == [RunStatus.SUCCEEDED] * 4
    assert [run.status for run in broken_runs] == [RunStatus.FAILED] * 3
    # Bounded: ZWS_HTTP_MAX_ATTEMPTS=2 listing requests per run, no more.
    assert fleet.served(OTHER_TENANT, "list") == 3 * 2
    customer = fleet.runtime.customers.get(broken)
    assert customer is not None and not customer.circuit.is_closed
    flaky_customer = fleet.runtime.customers.get(flaky)
    assert flaky_customer is not None and flaky_customer.circuit.is_closed
    assert_invariants(fleet, tmp_path)


def test_f15_a_slow_drip_body_hits_the_overall_request_deadline(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(sqlite_backend(tmp_path / "db"), http_deadline_seconds="1", **NO_STAGGER)
    customer = fleet.add_seeded(SEEDED_TENANT)
    # 8 bytes every 200 ms: each chunk comes well within any read timeout, the body never ends
    # within the deadline.
    fleet.admin.add_fault("drip", tenant=SEEDED_TENANT, route="list", interval_ms=200)

    started = time.monotonic()
    sync_inline(fleet, str(customer))
    took = time.monotonic() - started

    run = latest(fleet, customer)
    assert run.status is RunStatus.FAILED, run
    assert run.error_class == "RequestTimeoutError", run
    assert run.error_message == "no complete response within 1s (GET /workflows)"
    assert fleet.row_totals() == (0, 0, 0)
    assert took < 20, f"the sync took {took:.1f} s with a 1 s deadline and 2 attempts"
    assert_invariants(fleet, tmp_path)


def test_f16_a_token_expired_mid_sync_is_renewed_once_and_the_request_retried_once(
    inline_fleet: Fleet, tmp_path: Path
) -> None:
    fleet = inline_fleet
    customer = fleet.add_seeded(SEEDED_TENANT)
    fleet.admin.add_fault("latency", tenant=SEEDED_TENANT, route="export", delay_ms=300)
    fleet.env["ZWS_EXPORT_CONCURRENCY"] = "1"
    sync = fleet.start("sync", "sync-workflows", str(customer), "--force", "--sync")
    wait_until(lambda: fleet.served(SEEDED_TENANT, "export") >= 3, timeout=30, what="exports")

    fleet.admin.advance_clock(3_600)  # every token issued so far has expired
    assert sync.wait(60) == 0, fleet.output("sync")

    run = latest(fleet, customer)
    assert run.status is RunStatus.SUCCEEDED, run
    stats = fleet.admin.stats()["tenants"][SEEDED_TENANT]
    assert stats["tokens_issued"] == 2, stats  # one renewal, no storm
    assert stats["requests"]["export"].get("401", 0) <= 1, stats  # one request in flight
    fleet.admin.clear_faults()
    assert_invariants(fleet, tmp_path)


def test_f21_a_listing_failing_on_page_2_of_2_fails_the_run_and_tombstones_nothing(
    inline_fleet: Fleet, tmp_path: Path
) -> None:
    fleet = inline_fleet
    tenant = fleet.admin.create_tenant(workflows=60)["name"]  # pages of 50: two pages
    customer = fleet.add_seeded(tenant)
    sync_inline(fleet, str(customer))
    assert latest(fleet, customer).status is RunStatus.SUCCEEDED
    fleet.admin.add_fault("status", tenant=tenant, route="list", page=2, status=500)

    sync_inline(fleet, str(customer))

    run = latest(fleet, customer)
    assert run.status is RunStatus.FAILED, run
    assert fleet.workflow_counts() == {customer: 60}
    assert fleet.row_totals()[0] == 60
    assert run.counts.tombstoned == 0
    fleet.admin.clear_faults()  # the stored state is the earlier complete sync's
    assert_invariants(fleet, tmp_path)
