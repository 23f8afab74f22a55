"""The shared invariant check fails on each kind of damage it exists to catch (else the fault
tests that end with it would prove nothing)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from tests.backends import sqlite_backend
from tests.chaos.fleet import SEEDED_TENANT, Fleet, FleetFactory
from tests.reliability.helpers import NO_STAGGER
from tests.reliability.invariants import assert_invariants
from zuora_workflow_sync.domain.clock import SYSTEM_CLOCK
from zuora_workflow_sync.store.tables import SyncRunRow, WorkflowRow, WorkflowTaskRow

pytestmark = [pytest.mark.end_to_end, pytest.mark.slow]


def lose_a_task(fleet: Fleet) -> None:
    with fleet.runtime.engine.begin() as conn:
        first = conn.execute(select(WorkflowTaskRow.id).limit(1)).scalar_one()
        conn.execute(delete(WorkflowTaskRow).where(WorkflowTaskRow.id == first))


def tombstone_a_listed_workflow(fleet: Fleet) -> None:
    with fleet.runtime.engine.begin() as conn:
        first = conn.execute(select(WorkflowRow.id).limit(1)).scalar_one()
        now = SYSTEM_CLOCK.now()
        conn.execute(update(WorkflowRow).where(WorkflowRow.id == first).values(deleted_at=now))


def leave_a_run_running(fleet: Fleet) -> None:
    with fleet.runtime.engine.begin() as conn:
        conn.execute(update(SyncRunRow).values(status="running"))


def change_a_name(fleet: Fleet) -> None:
    with fleet.runtime.engine.begin() as conn:
        first = conn.execute(select(WorkflowRow.id).limit(1)).scalar_one()
        conn.execute(update(WorkflowRow).where(WorkflowRow.id == first).values(name="other"))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lose_a_task, "tasks of"),
        (tombstone_a_listed_workflow, "tombstoned"),
        (leave_a_run_running, "not in a final status"),
        (change_a_name, "differs from a clean run"),
    ],
    ids=["lost_task", "tombstone_of_a_listed_workflow", "stuck_run", "not_a_clean_state"],
)
def test_the_invariant_check_fails_on_damage_and_passes_without(
    damage: Callable[[Fleet], None], message: str, make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(sqlite_backend(tmp_path / "db"), **NO_STAGGER)
    customer = fleet.add_seeded(SEEDED_TENANT)
    done = fleet.run("sync-workflows", str(customer), "--sync")
    assert done.returncode == 0, done.stderr
    assert_invariants(fleet, tmp_path / "before")

    damage(fleet)

    with pytest.raises(AssertionError, match=message):
        assert_invariants(fleet, tmp_path / "after")
