"""The read side's SQL: workflows by filter and keyset, one workflow, its history, task search.

Every query is one short read transaction with bound parameters; listings are ordered by a
unique key and continue after the last key seen (keyset pagination), so a page costs the same
at any depth and a sync running meanwhile cannot make one skip or repeat a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Engine, Select, func, select, tuple_
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

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
T = TypeVar("T")


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
        plan = _SearchPlan.of(wanted, self._engine.dialect.name)
        query = query.where(*_task_conditions(wanted, plan))
        if after is not None:
            query = query.where(plan.task_id() > after)
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


@dataclass(frozen=True, slots=True)
class _SearchPlan:
    """How a task search steers SQLite's planner, which has no statistics (the product never
    runs ANALYZE) and takes any index on a task column it can. Measured on 375,000 tasks
    (benchmarks/read_paths.py): narrowed to a customer, it walked the Email tasks of every
    customer (105 ms) instead of reading the customer's few hundred tasks (0.1 ms), and the
    text matches of every customer (53 ms, not 17); with several action types it collected and
    sorted every task of each (264 ms) where reading tasks in id order stops at the first page
    (0.1 ms; 71 ms when nothing matches). A unary + on a column is SQLite's documented way to
    keep a term off an index; PostgreSQL plans by its statistics and gets the plain columns."""

    dialect: str
    narrowed: bool  # to one customer or workflow: start from its workflows
    several_types: bool

    @classmethod
    def of(cls, wanted: TaskFilter, dialect: str) -> _SearchPlan:
        narrowed = wanted.customer_id is not None or wanted.workflow_id is not None
        sqlite = dialect == "sqlite"
        return cls(dialect, sqlite and narrowed, sqlite and len(wanted.action_types) > 1)

    def task_id(self) -> ColumnElement[int]:
        return _unindexed(WorkflowTaskRow.id, self.narrowed)

    def action_type(self) -> ColumnElement[str | None]:
        return _unindexed(WorkflowTaskRow.action_type, self.narrowed or self.several_types)

    def label(self, column: QueryableAttribute[str | None]) -> ColumnElement[str | None]:
        return _unindexed(column, self.narrowed)


def _unindexed(column: QueryableAttribute[T], hidden: bool) -> ColumnElement[T]:
    """`column`, or `+column` (the same value, which SQLite looks up by no index) if `hidden`."""
    expression = column.expression
    if not hidden:
        return expression
    return UnaryExpression(expression, operator=custom_op("+"), type_=expression.type)


def _task_conditions(wanted: TaskFilter, plan: _SearchPlan) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if wanted.customer_id is not None:
        conditions.append(WorkflowRow.customer_id == wanted.customer_id)
    if wanted.workflow_id is not None:
        conditions.append(WorkflowTaskRow.workflow_id == wanted.workflow_id)
    if wanted.action_types:
        conditions.append(plan.action_type().in_(wanted.action_types))
    if wanted.object is not None:
        conditions.append(plan.label(WorkflowTaskRow.object) == wanted.object)
    if wanted.priority is not None:
        conditions.append(plan.label(WorkflowTaskRow.priority) == wanted.priority)
    if wanted.workflow_status is not None:
        conditions.append(WorkflowRow.status == wanted.workflow_status)
    if wanted.text is not None:
        conditions.append(task_text_matches(plan.dialect, plan.task_id(), wanted.text))
    return conditions


def _task_hit(row: Sequence[Any]) -> TaskHit:
    return TaskHit(*row)


def _summary(row: Sequence[Any]) -> WorkflowSummary:
    return WorkflowSummary(*row[: len(_SUMMARY_COLUMNS)])


def _record(row: Sequence[Any]) -> WorkflowRecord:
    rest = row[len(_SUMMARY_COLUMNS) :]
    return WorkflowRecord(_summary(row), *rest)
