"""The one invariant check every fault of the suite ends with: `assert_invariants(fleet, tmp)`.

After a fault and its recovery the installation must show:

1. no run lost or stuck: every run of the ledger is in a final status (none queued or running);
2. no duplicate or partial rows: one workflow row per customer and Zuora id, one history row per
   workflow and content, the current content of every workflow in its history (written by a
   succeeded run), the task rows of a workflow exactly the tasks of its stored export;
3. no tombstone from a partial listing: a workflow is tombstoned only when the tenant no longer
   lists it;
4. the end state of a clean run: the live workflows and tasks equal those of a clean sync of
   the same customers, on the same simulator data, into a fresh database (normalized dumps).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from tests.chaos.fleet import ACTIVE, Fleet
from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.runtime import Runtime, build_runtime
from zuora_workflow_sync.store.tables import (
    CustomerRow,
    SyncRunRow,
    WorkflowHistoryRow,
    WorkflowRow,
    WorkflowTaskRow,
)
from zuora_workflow_sync.sync.dispatch import DispatchOptions
from zuora_workflow_sync.sync.dispatch_now import dispatch_now
from zuora_workflow_sync.sync.job import execute_run

# {customer name: {"workflows": {zuora id: fields}, "tasks": {(zuora id, task id): fields}}}
Dump = dict[str, dict[str, dict[Any, tuple[Any, ...]]]]


def assert_invariants(fleet: Fleet, folder: Path) -> None:
    """Assert the four invariants of the module's docstring; `folder` holds the clean database."""
    engine = fleet.runtime.engine
    assert_no_run_lost_or_stuck(engine)
    assert_no_duplicate_or_partial_rows(engine)
    assert_no_tombstone_from_a_partial_listing(fleet)
    clean = clean_dump(fleet, folder)
    assert dump(engine) == clean, "the end state differs from a clean run's"


def assert_no_run_lost_or_stuck(engine: Engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(select(SyncRunRow.id, SyncRunRow.status)).all()
    active = {ACTIVE_STATUS.value for ACTIVE_STATUS in ACTIVE}
    stuck = [(run_id, status) for run_id, status in rows if status in active]
    assert stuck == [], f"runs not in a final status: {stuck}"


def assert_no_duplicate_or_partial_rows(engine: Engine) -> None:
    with engine.connect() as conn:
        keys = conn.execute(select(WorkflowRow.customer_id, WorkflowRow.zuora_workflow_id)).all()
        workflows = {
            row.id: row
            for row in conn.execute(
                select(WorkflowRow.id, WorkflowRow.content_hash, WorkflowRow.document)
            )
        }
        history = conn.execute(
            select(
                WorkflowHistoryRow.workflow_id,
                WorkflowHistoryRow.content_hash,
                SyncRunRow.status,
            ).outerjoin(SyncRunRow, SyncRunRow.id == WorkflowHistoryRow.run_id)
        ).all()
        tasks = conn.execute(select(WorkflowTaskRow.workflow_id, WorkflowTaskRow.zuora_task_id))
        task_ids: dict[int, list[int]] = {}
        for workflow_id, task_id in tasks:
            task_ids.setdefault(workflow_id, []).append(task_id)
    duplicates = [key for key, count in Counter(map(tuple, keys)).items() if count > 1]
    assert duplicates == [], f"duplicate workflow rows (customer, zuora id): {duplicates}"
    seen = Counter((workflow_id, content) for workflow_id, content, _ in history)
    assert [key for key, count in seen.items() if count > 1] == [], "duplicate history rows"
    orphans = [workflow_id for workflow_id, _, _ in history if workflow_id not in workflows]
    assert orphans == [], f"history of no workflow: {orphans}"
    not_succeeded = [
        (workflow_id, status)
        for workflow_id, _, status in history
        if status not in (None, RunStatus.SUCCEEDED.value)
    ]
    assert not_succeeded == [], f"history written by runs that did not succeed: {not_succeeded}"
    hashes = {(workflow_id, content) for workflow_id, content, _ in history}
    for workflow_id, row in workflows.items():
        assert (workflow_id, row.content_hash) in hashes, f"workflow {workflow_id}: no history"
        expected = sorted(int(task["id"]) for task in row.document["tasks"])
        assert sorted(task_ids.pop(workflow_id, [])) == expected, f"tasks of {workflow_id}"
    assert task_ids == {}, f"tasks of no workflow: {sorted(task_ids)}"


def assert_no_tombstone_from_a_partial_listing(fleet: Fleet) -> None:
    """A tombstoned workflow is one its tenant no longer lists."""
    tenants = {view["client_id"]: view["name"] for view in fleet.admin.tenants()}
    with fleet.runtime.engine.connect() as conn:
        rows = conn.execute(
            select(CustomerRow.client_id, WorkflowRow.zuora_workflow_id)
            .join(CustomerRow, CustomerRow.id == WorkflowRow.customer_id)
            .where(WorkflowRow.deleted_at.is_not(None))
        ).all()
    listed: dict[str, set[int]] = {}
    for client_id, zuora_id in rows:
        tenant = tenants[client_id]
        if tenant not in listed:
            listed[tenant] = {int(w["id"]) for w in fleet.admin.workflows(tenant)}
        assert zuora_id not in listed[tenant], f"{tenant}'s workflow {zuora_id} tombstoned"


def dump(engine: Engine) -> Dump:
    """The live workflows and their tasks by customer name, without the store's own ids and
    times: what two databases synced from the same data must agree on."""
    result: Dump = {}
    with engine.connect() as conn:
        names = {row.id: row.name for row in conn.execute(select(CustomerRow.id, CustomerRow.name))}
        for name in names.values():
            result[name] = {"workflows": {}, "tasks": {}}
        workflows = conn.execute(
            select(
                WorkflowRow.id,
                WorkflowRow.customer_id,
                WorkflowRow.zuora_workflow_id,
                WorkflowRow.name,
                WorkflowRow.description,
                WorkflowRow.status,
                WorkflowRow.active_version,
                WorkflowRow.content_hash,
            ).where(WorkflowRow.deleted_at.is_(None))
        ).all()
        zuora_ids: dict[int, tuple[str, int]] = {}
        for row in workflows:
            customer = names[row.customer_id]
            zuora_ids[row.id] = (customer, row.zuora_workflow_id)
            result[customer]["workflows"][row.zuora_workflow_id] = tuple(row[3:])
        tasks = conn.execute(
            select(
                WorkflowTaskRow.workflow_id,
                WorkflowTaskRow.zuora_task_id,
                WorkflowTaskRow.name,
                WorkflowTaskRow.action_type,
                WorkflowTaskRow.object,
                WorkflowTaskRow.object_id,
                WorkflowTaskRow.call_type,
                WorkflowTaskRow.priority,
                WorkflowTaskRow.parent_task_id,
                WorkflowTaskRow.tags,
            )
        ).all()
    for task in tasks:
        if task.workflow_id in zuora_ids:
            customer, zuora_id = zuora_ids[task.workflow_id]
            result[customer]["tasks"][(zuora_id, task.zuora_task_id)] = (
                *task[2:9],
                tuple(task.tags or ()),
            )
    return result


def clean_dump(fleet: Fleet, folder: Path) -> Dump:
    """The dump of a clean sync, in this process and at the fleet's settings, of the fleet's
    customers into a new SQLite database, from the simulator as it is now."""
    home = folder / "clean-run"
    home.mkdir(parents=True, exist_ok=False)
    # The fleet's own settings (deadlines, attempts, keys), on a new database and queue.
    settings = fleet.runtime.settings.model_copy(
        update={
            "home": home,
            "database_url": f"sqlite:///{home / 'zws.sqlite3'}",
            "queue_url": f"sqlite:///{home / 'queue.sqlite3'}",
            "coordination_url": None,
            "stagger_min_seconds": 0.0,
            "stagger_max_seconds": 0.0,
        }
    )
    runtime = build_runtime(settings)
    try:
        for customer in fleet.runtime.customers.list():
            runtime.customers.add(
                customer.name,
                zuora_base_url=customer.zuora_base_url,
                client_id=customer.client_id,
                client_secret_encrypted=customer.client_secret_encrypted,
                entity_id=customer.entity_id,
            )
        result = dispatch_now(
            runtime, DispatchOptions(None, force=True, full=True, inline=True), say=lambda _: None
        )
        for run in result.inline:
            execute_run(runtime, run.run_id, worker_id="clean", requeue=_never, retry=False)
        return dump(runtime.engine)
    finally:
        runtime.close()


def _key(runtime: Runtime) -> str:
    keys = runtime.settings.secret_keys
    assert keys is not None, "the fleet has its keys in ZWS_SECRET_KEYS"
    return keys.get_secret_value()


def _never(run_id: int, delay_seconds: float) -> None:
    raise AssertionError(f"a clean run {run_id} was requeued")


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
