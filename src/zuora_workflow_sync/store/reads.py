"""The read side's SQL: workflows by filter and keyset, one workflow, its history, task search.

Every query is one short read transaction with bound parameters; listings are ordered by a
unique key and continue after the last key seen (keyset pagination), so a page costs the same
at any depth and a sync running meanwhile cannot make one skip or repeat a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, func, select, tuple_

from zuora_workflow_sync.domain.records import (
    HistoryEntry,
    TaskFilter,
    TaskHit,
    WorkflowFilter,
    WorkflowRecord,
    WorkflowSummary,
)
from zuora_workflow_sync.store.engine import reading
from zuora_workflow_sync.store.search import escape_like, task_text_matches
from zuora_workflow_sync.store.tables import (
    CustomerRow,
    WorkflowHistoryRow,
    WorkflowRow,
    WorkflowTaskRow,
)

_TASK_COUNT = (
    select(func.count())
    .where(WorkflowTaskRow.workflow_id == WorkflowRow.id)
    .correlate(WorkflowRow)
    .scalar_subquery()
)
_SUMMARY_COLUMNS = (
    WorkflowRow.id,
    WorkflowRow.customer_id,
    CustomerRow.name,
    WorkflowRow.zuora_workflow_id,
    WorkflowRow.name,
    WorkflowRow.status,
    WorkflowRow.active_version,
    _TASK_COUNT,
    WorkflowRow.last_changed_at,
    WorkflowRow.last_seen_at,
    WorkflowRow.deleted_at,
)
_RECORD_COLUMNS = (
    *_SUMMARY_COLUMNS,
    WorkflowRow.description,
    WorkflowRow.zuora_created_at,
    WorkflowRow.zuora_updated_at,
    WorkflowRow.first_seen_at,
    WorkflowRow.content_hash,
    CustomerRow.last_synced_at,
    WorkflowRow.document,
)
_HISTORY_COLUMNS = (
    WorkflowHistoryRow.id,
    WorkflowHistoryRow.content_hash,
    WorkflowHistoryRow.active_version,
    WorkflowHistoryRow.seen_at,
    WorkflowHistoryRow.run_id,
)
_HISTORY_ORDER = (WorkflowHistoryRow.seen_at, WorkflowHistoryRow.id)


class WorkflowReader:
    """Reads what was synced through `engine`; never writes."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def summaries(
        self, wanted: WorkflowFilter, after: tuple[int, int] | None, limit: int
    ) -> list[WorkflowSummary]:
        """Workflows in (customer id, Zuora id) order, after the key `after`."""
        query = _with_customer(select(*_SUMMARY_COLUMNS)).where(*_workflow_conditions(wanted))
        if after is not None:
            query = query.where(
                tuple_(WorkflowRow.customer_id, WorkflowRow.zuora_workflow_id) > tuple_(*after)
            )
        query = query.order_by(WorkflowRow.customer_id, WorkflowRow.zuora_workflow_id)
        with reading(self._engine) as conn:
            return [_summary(row) for row in conn.execute(query.limit(limit))]

    def record(self, workflow_id: int) -> WorkflowRecord | None:
        return self._one_record(WorkflowRow.id == workflow_id)

    def record_by_zuora_id(self, customer_id: int, zuora_workflow_id: int) -> WorkflowRecord | None:
        return self._one_record(
            WorkflowRow.customer_id == customer_id,
            WorkflowRow.zuora_workflow_id == zuora_workflow_id,
        )

    def _one_record(self, *conditions: ColumnElement[bool]) -> WorkflowRecord | None:
        query = _with_customer(select(*_RECORD_COLUMNS)).where(*conditions)
        with reading(self._engine) as conn:
            row = conn.execute(query).first()
        return None if row is None else _record(row)

    def history(self, workflow_id: int) -> list[HistoryEntry]:
        """Every distinct content of the workflow, oldest first, numbered from 1."""
        query = (
            select(*_HISTORY_COLUMNS)
            .where(WorkflowHistoryRow.workflow_id == workflow_id)
            .order_by(*_HISTORY_ORDER)
        )
        with reading(self._engine) as conn:
            rows = conn.execute(query).all()
        return [HistoryEntry(row[0], number, *row[1:]) for number, row in enumerate(rows, 1)]

    def history_documents(self, history_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The export documents of these history entries, by entry id."""
        if not history_ids:
            return {}
        query = select(WorkflowHistoryRow.id, WorkflowHistoryRow.document).where(
            WorkflowHistoryRow.id.in_(list(history_ids))
        )
        with reading(self._engine) as conn:
            return {row[0]: row[1] for row in conn.execute(query)}

    def search_tasks(self, wanted: TaskFilter, after: int | None, limit: int) -> list[TaskHit]:
        """Tasks of live workflows in task id order, after the id `after`."""
        query = (
            select(*_TASK_HIT_COLUMNS)
            .join(WorkflowRow, WorkflowRow.id == WorkflowTaskRow.workflow_id)
            .join(CustomerRow, CustomerRow.id == WorkflowRow.customer_id)
            .where(WorkflowRow.deleted_at.is_(None))
        )
        dialect = self._engine.dialect.name
        query = query.where(*_task_conditions(wanted, dialect))
        if after is not None:
            query = query.where(WorkflowTaskRow.id > after)
        query = query.order_by(WorkflowTaskRow.id).limit(limit)
        with reading(self._engine) as conn:
            return [_task_hit(row) for row in conn.execute(query)]

    def customer_workflows(self, customer_id: int) -> list[WorkflowRecord]:
        """Every live workflow of a customer with its document, in Zuora id order (backups)."""
        query = (
            _with_customer(select(*_RECORD_COLUMNS))
            .where(WorkflowRow.customer_id == customer_id, WorkflowRow.deleted_at.is_(None))
            .order_by(WorkflowRow.zuora_workflow_id)
        )
        with reading(self._engine) as conn:
            return [_record(row) for row in conn.execute(query)]


_TASK_HIT_COLUMNS = (
    WorkflowTaskRow.id,
    WorkflowTaskRow.zuora_task_id,
    WorkflowTaskRow.name,
    WorkflowTaskRow.action_type,
    WorkflowTaskRow.object,
    WorkflowTaskRow.call_type,
    WorkflowTaskRow.priority,
    WorkflowRow.id,
    WorkflowRow.zuora_workflow_id,
    WorkflowRow.name,
    WorkflowRow.status,
    CustomerRow.id,
    CustomerRow.name,
)


def _with_customer(query: Select[Any]) -> Select[Any]:
    return query.select_from(WorkflowRow).join(
        CustomerRow, CustomerRow.id == WorkflowRow.customer_id
    )


def _workflow_conditions(wanted: WorkflowFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if wanted.customer_id is not None:
        conditions.append(WorkflowRow.customer_id == wanted.customer_id)
    if wanted.status is not None:
        conditions.append(WorkflowRow.status == wanted.status)
    if wanted.search is not None:
        pattern = "%" + escape_like(wanted.search) + "%"
        conditions.append(WorkflowRow.name.ilike(pattern, escape="\\"))
    if wanted.changed_since is not None:
        conditions.append(WorkflowRow.last_changed_at >= wanted.changed_since)
    if not wanted.include_deleted:
        conditions.append(WorkflowRow.deleted_at.is_(None))
    return conditions


def _task_conditions(wanted: TaskFilter, dialect: str) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if wanted.customer_id is not None:
        conditions.append(WorkflowRow.customer_id == wanted.customer_id)
    if wanted.workflow_id is not None:
        conditions.append(WorkflowTaskRow.workflow_id == wanted.workflow_id)
    if wanted.action_types:
        conditions.append(WorkflowTaskRow.action_type.in_(wanted.action_types))
    if wanted.object is not None:
        conditions.append(WorkflowTaskRow.object == wanted.object)
    if wanted.priority is not None:
        conditions.append(WorkflowTaskRow.priority == wanted.priority)
    if wanted.workflow_status is not None:
        conditions.append(WorkflowRow.status == wanted.workflow_status)
    if wanted.text is not None:
        conditions.append(task_text_matches(dialect, WorkflowTaskRow.id, wanted.text))
    return conditions


def _task_hit(row: Sequence[Any]) -> TaskHit:
    return TaskHit(*row)


def _summary(row: Sequence[Any]) -> WorkflowSummary:
    return WorkflowSummary(*row[: len(_SUMMARY_COLUMNS)])


def _record(row: Sequence[Any]) -> WorkflowRecord:
    rest = row[len(_SUMMARY_COLUMNS) :]
    return WorkflowRecord(_summary(row), *rest)
