"""Workflows of a customer: apply one run's result, and the state incremental syncs start from.

`apply_sync` runs inside the caller's transaction, the one that also finishes the run, so a
run's workflows, history, tasks and ledger row are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    BindParameter,
    Cast,
    Connection,
    Engine,
    Insert,
    Text,
    bindparam,
    cast,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from zuora_workflow_sync.domain.models import FetchedTask, FetchedWorkflow, SyncCounts
from zuora_workflow_sync.store.engine import insert_ignoring_conflicts, reading
from zuora_workflow_sync.store.tables import WorkflowHistoryRow, WorkflowRow, WorkflowTaskRow
from zuora_workflow_sync.store.workflow_plan import (
    HashedWorkflow,
    StoredWorkflow,
    SyncPlan,
    plan_sync,
)

# Keeps IN lists and multi-row statements under SQLite's bound-parameter limit.
_CHUNK = 500
_LISTING_COLUMNS = (
    "name",
    "description",
    "status",
    "active_version",
    "zuora_created_at",
    "zuora_updated_at",
)


class WorkflowState(NamedTuple):
    """What an incremental sync compares with the listing to decide what to re-export."""

    active_version: str | None
    zuora_updated_at: datetime | None
    alive: bool


class WorkflowRepository:
    """Reads the stored workflows of customers through `engine`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def incremental_state(self, customer_id: int) -> dict[int, WorkflowState]:
        """Per Zuora workflow id: stored active version, Zuora update time, not tombstoned."""
        query = select(
            WorkflowRow.zuora_workflow_id,
            WorkflowRow.active_version,
            WorkflowRow.zuora_updated_at,
            WorkflowRow.deleted_at,
        ).where(WorkflowRow.customer_id == customer_id)
        with reading(self._engine) as conn:
            rows = conn.execute(query).all()
        return {row[0]: WorkflowState(row[1], row[2], row[3] is None) for row in rows}

    def count_live(self, customer_ids: Sequence[int]) -> dict[int, int]:
        """Workflows not tombstoned, per customer of `customer_ids` (absent when none)."""
        counts: dict[int, int] = {}
        with reading(self._engine) as conn:
            for chunk in _chunks(customer_ids):
                query = (
                    select(WorkflowRow.customer_id, func.count())
                    .where(WorkflowRow.customer_id.in_(chunk), WorkflowRow.deleted_at.is_(None))
                    .group_by(WorkflowRow.customer_id)
                )
                counts.update({row[0]: row[1] for row in conn.execute(query)})
        return counts


def apply_sync(
    session: Session | Connection,
    customer_id: int,
    run_id: int,
    fetched: Sequence[FetchedWorkflow],
    listed_ids: set[int],
    listing_complete: bool,
    now: datetime,
) -> SyncCounts:
    """Store one run's result in the caller's transaction and count what changed.

    `fetched` holds the workflows exported by this run; `listed_ids` the Zuora ids of the
    listing (those not fetched are unchanged and only marked seen). New content is upserted
    with a history row per new hash and its tasks replaced; workflows missing from a complete
    listing are tombstoned (never when `listing_complete` is False); a listed tombstoned
    workflow comes back. The caller fills in `api_requests`.
    """
    conn = session.connection() if isinstance(session, Session) else session
    plan = plan_sync(_load_stored(conn, customer_id), fetched, listed_ids, listing_complete)
    new_ids = _insert_workflows(conn, customer_id, plan.create, now)
    _update_changed(conn, plan, now)
    _update_refreshed(conn, plan, now)
    _mark(conn, plan.touch, last_seen_at=now, deleted_at=None)
    _mark(conn, plan.tombstone, deleted_at=now)
    written = {**dict(zip(new_ids, plan.create, strict=True)), **plan.change}
    _replace_tasks(conn, list(plan.change), written)
    _append_history(conn, written, run_id, now)
    return plan.counts


def _load_stored(conn: Connection, customer_id: int) -> dict[int, StoredWorkflow]:
    query = select(
        WorkflowRow.id,
        WorkflowRow.zuora_workflow_id,
        WorkflowRow.content_hash,
        WorkflowRow.deleted_at,
        WorkflowRow.name,
        WorkflowRow.description,
        WorkflowRow.status,
        WorkflowRow.active_version,
        WorkflowRow.zuora_created_at,
        WorkflowRow.zuora_updated_at,
    ).where(WorkflowRow.customer_id == customer_id)
    return {
        row[1]: StoredWorkflow(
            id=row[0],
            zuora_workflow_id=row[1],
            content_hash=row[2],
            alive=row[3] is None,
            metadata=(row[4], row[5], row[6], row[7], row[8], row[9]),
        )
        for row in conn.execute(query)
    }


def _listing_values(workflow: FetchedWorkflow) -> dict[str, Any]:
    return {
        "name": workflow.name,
        "description": workflow.description,
        "status": workflow.status,
        "active_version": workflow.active_version,
        "zuora_created_at": workflow.zuora_created_at,
        "zuora_updated_at": workflow.zuora_updated_at,
    }


def _insert_workflows(
    conn: Connection, customer_id: int, create: list[HashedWorkflow], now: datetime
) -> list[int]:
    """Insert new workflows; returns their ids in the order of `create`."""
    if not create:
        return []
    rows = [
        {
            **_listing_values(item.fetched),
            "customer_id": customer_id,
            "zuora_workflow_id": item.fetched.zuora_workflow_id,
            "b_document": item.document_json,
            "content_hash": item.content_hash,
            "first_seen_at": now,
            "last_changed_at": now,
            "last_seen_at": now,
        }
        for item in create
    ]
    statement = (
        insert(WorkflowRow)
        .values(document=_document_text(conn))
        .returning(WorkflowRow.id, WorkflowRow.zuora_workflow_id, sort_by_parameter_order=True)
    )
    return [row.id for row in conn.execute(statement, rows)]


def _update_by_id(conn: Connection, rows: list[dict[str, Any]], **columns: Any) -> None:
    """One executemany UPDATE: each row holds `b_id` plus a bound value per column."""
    if rows:
        statement = update(WorkflowRow).where(WorkflowRow.id == bindparam("b_id")).values(**columns)
        conn.execute(statement, rows)


def _bound_columns(names: Sequence[str]) -> dict[str, Any]:
    return {name: bindparam(f"b_{name}") for name in names}


def _update_changed(conn: Connection, plan: SyncPlan, now: datetime) -> None:
    rows = [
        {
            **_prefixed(_listing_values(item.fetched)),
            "b_id": row_id,
            "b_document": item.document_json,
            "b_content_hash": item.content_hash,
        }
        for row_id, item in plan.change.items()
    ]
    names = (*_LISTING_COLUMNS, "content_hash")
    _update_by_id(
        conn,
        rows,
        **_bound_columns(names),
        document=_document_text(conn),
        last_changed_at=now,
        last_seen_at=now,
        deleted_at=None,
    )


def _update_refreshed(conn: Connection, plan: SyncPlan, now: datetime) -> None:
    rows = [
        {**_prefixed(_listing_values(item.fetched)), "b_id": row_id}
        for row_id, item in plan.refresh.items()
    ]
    _update_by_id(conn, rows, **_bound_columns(_LISTING_COLUMNS), last_seen_at=now, deleted_at=None)


def _document_text(conn: Connection) -> BindParameter[str] | Cast[Any]:
    """The `document` column bound as its canonical JSON text (`b_document`), already encoded
    for the content hash, so it is not encoded once more per table (PostgreSQL casts it to
    JSONB; SQLite keeps JSON as text)."""
    text = bindparam("b_document", type_=Text())
    return cast(text, JSONB) if conn.dialect.name == "postgresql" else text


def _prefixed(values: dict[str, Any]) -> dict[str, Any]:
    return {f"b_{name}": value for name, value in values.items()}


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _mark(conn: Connection, ids: Sequence[int], **values: Any) -> None:
    for chunk in _chunks(ids):
        conn.execute(update(WorkflowRow).where(WorkflowRow.id.in_(chunk)).values(**values))


def _replace_tasks(
    conn: Connection, changed_ids: list[int], written: dict[int, HashedWorkflow]
) -> None:
    for chunk in _chunks(changed_ids):
        conn.execute(delete(WorkflowTaskRow).where(WorkflowTaskRow.workflow_id.in_(chunk)))
    rows = [
        _task_row(workflow_id, task)
        for workflow_id, item in written.items()
        for task in {task.zuora_task_id: task for task in item.fetched.tasks}.values()
    ]
    if rows:
        conn.execute(_task_insert(conn), rows)


def _task_insert(conn: Connection) -> Insert:
    """The INSERT of task rows. On SQLite it has RETURNING, which makes SQLAlchemy send the rows
    as multi-row INSERTs ("insertmanyvalues") instead of one statement per row: each statement
    that fires the text-search triggers leaves FTS5 more small segments to write and merge (360
    tasks, one statement per row: 15 segments, and the insert took 17 times as long as without
    the index; one statement: 1 segment, 2.5 times). On PostgreSQL, psycopg's pipelined
    executemany is faster than the multi-row form (1.1 s against 1.6 s for 16,000 tasks)."""
    statement = insert(WorkflowTaskRow)
    return statement.returning(WorkflowTaskRow.id) if conn.dialect.name == "sqlite" else statement


def _task_row(workflow_id: int, task: FetchedTask) -> dict[str, Any]:
    return {
        "workflow_id": workflow_id,
        "zuora_task_id": task.zuora_task_id,
        "name": task.name,
        "action_type": task.action_type,
        "object": task.object,
        "object_id": task.object_id,
        "call_type": task.call_type,
        "priority": task.priority,
        "parent_task_id": task.parent_task_id,
        "tags": list(task.tags),
        "parameters": dict(task.parameters),
    }


def _append_history(
    conn: Connection, written: dict[int, HashedWorkflow], run_id: int, now: datetime
) -> None:
    """One history row per new distinct content; a content seen before is not repeated."""
    rows = [
        {
            "workflow_id": workflow_id,
            "content_hash": item.content_hash,
            "b_document": item.document_json,
            "active_version": item.fetched.active_version,
            "seen_at": now,
            "run_id": run_id,
        }
        for workflow_id, item in written.items()
    ]
    if rows:
        statement = insert_ignoring_conflicts(conn, WorkflowHistoryRow)
        conn.execute(statement.values(document=_document_text(conn)), rows)
