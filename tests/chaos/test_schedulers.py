"""Two `workflow-sync scheduler` processes at once: one holds the lease and dispatches, the other
stands by; every due customer is dispatched once."""

from __future__ import annotations

import re

import pytest

from tests.polling import wait_until

from .fleet import Fleet

pytestmark = [pytest.mark.end_to_end, pytest.mark.slow]

HOLDING = "Holding the scheduler lease"
STANDING_BY = "Standing by: the scheduler lease is held by "


def owner_of(output: str) -> str:
    found = re.search(r"Scheduler started \(owner (\S+)\)", output)
    assert found is not None, output
    return found.group(1)


def test_only_one_scheduler_dispatches_when_two_are_started(fleet: Fleet) -> None:
    tenants = fleet.add_tenants(10, 1)
    names = ["scheduler-a", "scheduler-b"]
    for name in names:
        fleet.start(name, "workflow-sync", "scheduler")

    wait_until(
        lambda: all(HOLDING in fleet.output(n) or STANDING_BY in fleet.output(n) for n in names),
        timeout=30,
        what="both schedulers to know who holds the lease",
    )
    wait_until(lambda: len(fleet.runs()) == len(tenants), timeout=30, what="the dispatch")
    outputs = {name: fleet.output(name) for name in names}
    (holder,) = [name for name in names if HOLDING in outputs[name]]
    (standby,) = [name for name in names if name != holder]
    codes = fleet.stop(standby) + fleet.stop(holder)  # the standby first: no handover

    owner = owner_of(outputs[holder])
    assert f"{STANDING_BY}{owner}" in outputs[standby]
    assert "Dispatching" not in outputs[standby] and HOLDING not in outputs[standby]
    runs = fleet.runs()
    assert sorted(run.customer_id for run in runs) == sorted(tenants)
    assert {run.dispatched_by for run in runs} == {f"scheduler {owner}"}
    assert codes == [0, 0]
