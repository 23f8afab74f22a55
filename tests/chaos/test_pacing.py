"""Politeness with real worker processes: per-tenant caps shared by the fleet, 429 storms.

The simulator enforces Zuora's limits and counts what each tenant saw (peak in flight, 429s,
requests by route), so these tests read the tenant's side of the story, not the product's.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.polling import wait_until
from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.simulator import TenantCredentials

from .fleet import Fleet

pytestmark = [pytest.mark.end_to_end, pytest.mark.slow]

CAP = 4


def add_customers_of(fleet: Fleet, tenant: str, count: int) -> list[int]:
    """Register `count` customers that all use `tenant`'s credentials (one Zuora tenant)."""
    view = fleet.admin.tenant(tenant)
    credentials = TenantCredentials.from_view(view)
    return [
        fleet.add_customer(credentials, view["multi_entity"], f"Customer {n} of {tenant}")
        for n in range(count)
    ]


def served(fleet: Fleet, tenant: str, field: str = "total") -> int:
    """A count the simulator keeps for `tenant` (requests answered, 429s, ...)."""
    view: dict[str, Any] = fleet.admin.stats()["tenants"].get(tenant, {})
    return int(view.get(field, 0))


@pytest.mark.timeout(240)
def test_four_workers_keep_each_tenant_at_four_requests_in_flight_without_a_429(
    fleet: Fleet,
) -> None:
    # 20 customers on 5 tenants: 4 customers of one tenant are synced at once by different
    # workers, each sync wanting 8 exports in flight. Only the shared cap keeps a tenant at 4;
    # the simulator answers 429 past 4, so an excess shows as a 429 as well as in the peak.
    fleet.admin.update_settings(latency_ms=40)
    tenants = [fleet.admin.create_tenant(workflows=16)["name"] for _ in range(5)]
    for tenant in tenants:
        fleet.admin.set_concurrency_limit(tenant, CAP)
        add_customers_of(fleet, tenant, 4)
    fleet.env.update(
        {
            "ZWS_STAGGER_MIN_SECONDS": "0",
            "ZWS_STAGGER_MAX_SECONDS": "0.5",
            "ZWS_EXPORT_CONCURRENCY": "8",
            "ZWS_PACING_MAX_IN_FLIGHT": str(CAP),
        }
    )

    assert fleet.run("sync-workflows").returncode == 0
    fleet.start_workers(4, "--concurrency", "4", "--drain")
    names = [f"worker-{n}" for n in range(4)]
    assert fleet.wait_exited(names, timeout=180) == dict.fromkeys(names, 0)

    runs = fleet.runs()
    assert len(runs) == 20
    assert {run.status for run in runs} == {RunStatus.SUCCEEDED}, fleet.run_statuses()
    stats = fleet.admin.stats()
    peaks = {tenant: stats["tenants"][tenant]["max_in_flight"] for tenant in tenants}
    assert max(peaks.values()) <= CAP, peaks
    # The cap was reached, so a product without it would have gone past it.
    assert max(peaks.values()) == CAP, peaks
    assert stats["totals"]["too_many_requests"] == 0


@pytest.mark.long(35)
@pytest.mark.timeout(240)
def test_a_tenant_in_a_429_storm_rests_while_the_others_finish_as_fast_as_without_it(
    fleet: Fleet,
) -> None:
    fleet.admin.update_settings(latency_ms=20)
    fleet.env.update({"ZWS_STAGGER_MIN_SECONDS": "0", "ZWS_STAGGER_MAX_SECONDS": "0"})
    calm = list(fleet.add_tenants(5, 12))
    stormy_customer, stormy = next(iter(fleet.add_tenants(1, 12).items()))
    fleet.start_workers(2, "--concurrency", "6")

    # No storm: how long everyone takes (the stormy customer's run must end before the next).
    baseline = sync_everyone(fleet, [*calm, stormy_customer])

    fleet.admin.add_fault("too_many_requests", tenant=stormy, route="export", retry_after=30)
    storm_started = time.monotonic()
    calm_took = sync_everyone(fleet, calm)
    assert served(fleet, stormy, "too_many_requests") > 0, "the storm never started"
    fleet.admin.clear_faults()  # the storm is over; the 30 s penalty it announced is not
    time.sleep(1.0)  # requests in flight at the first 429 complete and are counted
    counted = served(fleet, stormy)
    # The first 429 came after the dispatch, so the penalty lasts at least until then + 30 s.
    time.sleep(max(0.0, storm_started + 28.0 - time.monotonic()))
    during_penalty = served(fleet, stormy) - counted

    wait_until(
        lambda: latest_status(fleet, stormy_customer) is RunStatus.SUCCEEDED,
        timeout=90,
        what="the stormy customer's run after its penalty",
    )
    assert during_penalty == 0, f"{during_penalty} requests reached the tenant in its penalty"
    assert calm_took <= baseline * 1.5 + 2.0, (calm_took, baseline)


def sync_everyone(fleet: Fleet, watched: list[int]) -> float:
    """Seconds from `sync-workflows --force --full` to every `watched` customer's run succeeded."""
    started = time.monotonic()
    done = fleet.run("sync-workflows", "--force", "--full")
    assert done.returncode == 0, done.stderr
    wait_until(
        lambda: all(latest_status(fleet, customer) is RunStatus.SUCCEEDED for customer in watched),
        timeout=60,
        what="the runs of the watched customers",
    )
    return time.monotonic() - started


def latest_status(fleet: Fleet, customer: int) -> RunStatus | None:
    runs = [run for run in fleet.runs() if run.customer_id == customer]
    return max(runs, key=lambda run: run.id).status if runs else None
