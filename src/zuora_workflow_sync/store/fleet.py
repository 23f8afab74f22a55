"""The fleet's SQL for the dashboard and the metrics collector: counts of customers, runs,
workflows and tasks, the queue's backlog, runs by hour, Zuora usage per customer, and the run
ledger with filters.

Each method is one short read transaction of aggregate or keyset queries with bound
parameters, so a page or a scrape costs the same however large the ledger is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, case, func, literal, select

from zuora_workflow_sync.domain.circuit import CircuitStatus
from zuora_workflow_sync.domain.fleet import (
    Backlog,
    CustomerCount,
    HourlyRuns,
    RunFilter,
    StoredCounts,
    TenantUsage,
)
from zuora_workflow_sync.domain.models import RunStatus, SyncRun
from zuora_workflow_sync.store.engine import reading
from zuora_workflow_sync.store.run_statements import RUNS, to_sync_run
from zuora_workflow_sync.store.tables import CustomerRow, SyncRunRow, WorkflowRow, WorkflowTaskRow

_QUEUED = RunStatus.QUEUED.value


def _circuit_status(now: datetime) -> ColumnElement[str]:
    """The circuit's status at `now`, as `domain.circuit.Circuit.status` computes it."""
    return case(
        (CustomerRow.circuit_held, literal(CircuitStatus.HELD.value)),
        (CustomerRow.circuit_open_until.is_(None), literal(CircuitStatus.CLOSED.value)),
        (CustomerRow.circuit_open_until > now, literal(CircuitStatus.OPEN.value)),
        else_=literal(CircuitStatus.HALF_OPEN.value),
    )


def _hour(dialect: str, moment: Any) -> ColumnElement[str]:
    """`YYYY-MM-DD HH` of a UTC moment (SQLite stores UTC text, PostgreSQL timestamptz)."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", moment), "YYYY-MM-DD HH24")
    return func.substr(moment, 1, 13)


class FleetReader:
    """Reads the fleet's state through `engine`; never writes."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def customer_counts(self, now: datetime) -> list[CustomerCount]:
        """Customers by status and circuit status at `now`."""
        circuit = _circuit_status(now).label("circuit")
        query = select(CustomerRow.sync_status, circuit, func.count()).group_by(
            CustomerRow.sync_status, circuit
        )
        with reading(self._engine) as conn:
            rows = conn.execute(query).all()
        return sorted(CustomerCount(row[0], row[1], int(row[2])) for row in rows)

    def run_counts(self) -> dict[str, int]:
        """Runs of the whole ledger by status."""
        query = select(SyncRunRow.status, func.count()).group_by(SyncRunRow.status)
        with reading(self._engine) as conn:
            return {row[0]: int(row[1]) for row in conn.execute(query)}

    def stored_counts(self) -> StoredCounts:
        """Live workflows (not tombstoned), and the tasks of their current content.

        The tasks are counted as all tasks less those of tombstoned workflows (few, found
        through the index on `(customer_id, deleted_at)`): joining every task to its workflow's
        row read the whole `workflows` table, documents and all (0.36 s at 375,000 tasks on
        SQLite; this way 11 ms).
        """
        tombstoned = select(WorkflowRow.id).where(WorkflowRow.deleted_at.is_not(None))
        workflows = select(func.count()).select_from(WorkflowRow)
        tasks = select(func.count()).select_from(WorkflowTaskRow)
        with reading(self._engine) as conn:
            live = conn.execute(workflows.where(WorkflowRow.deleted_at.is_(None))).scalar_one()
            every = conn.execute(tasks).scalar_one()
            gone = conn.execute(
                tasks.where(WorkflowTaskRow.workflow_id.in_(tombstoned))
            ).scalar_one()
        return StoredCounts(int(live), int(every) - int(gone))

    def backlog(self, now: datetime) -> Backlog:
        """Queued runs due at `now` (waiting for a worker), those not due yet, the running
        ones, and the oldest due run's `not_before_at`."""
        due = SyncRunRow.not_before_at <= now
        query = select(
            func.count().filter(SyncRunRow.status == _QUEUED, due),
            func.count().filter(SyncRunRow.status == _QUEUED, ~due),
            func.count().filter(SyncRunRow.status == RunStatus.RUNNING.value),
            func.min(SyncRunRow.not_before_at).filter(SyncRunRow.status == _QUEUED, due),
        ).where(SyncRunRow.status.in_((_QUEUED, RunStatus.RUNNING.value)))
        with reading(self._engine) as conn:
            row = conn.execute(query).one()
        return Backlog(int(row[0]), int(row[1]), int(row[2]), row[3])

    def runs_by_hour(self, since: datetime) -> list[HourlyRuns]:
        """Runs finished since `since`, counted by hour (`YYYY-MM-DD HH`, UTC) and status."""
        hour = _hour(self._engine.dialect.name, SyncRunRow.finished_at).label("hour")
        query = (
            select(hour, SyncRunRow.status, func.count())
            .where(SyncRunRow.finished_at >= since)
            .group_by(hour, SyncRunRow.status)
        )
        with reading(self._engine) as conn:
            rows = conn.execute(query).all()
        return sorted(HourlyRuns(row[0], row[1], int(row[2])) for row in rows)

    def tenant_usage(self, since: datetime, limit: int) -> list[TenantUsage]:
        """Zuora requests, token requests and 429 replies of runs finished since `since`, per
        customer, the busiest first (what the runs' clients counted; see `SyncCounts`)."""
        requests = func.sum(SyncRunRow.api_request_count)
        query = (
            select(
                CustomerRow.id,
                CustomerRow.name,
                func.count(),
                requests,
                func.sum(SyncRunRow.throttled_count),
                func.sum(SyncRunRow.token_request_count),
            )
            .join(CustomerRow, CustomerRow.id == SyncRunRow.customer_id)
            .where(SyncRunRow.finished_at >= since)
            .group_by(CustomerRow.id, CustomerRow.name)
            .order_by(requests.desc(), CustomerRow.id)
            .limit(limit)
        )
        with reading(self._engine) as conn:
            rows = conn.execute(query).all()
        return [
            TenantUsage(row[0], row[1], *(int(value or 0) for value in row[2:])) for row in rows
        ]

    def runs(self, wanted: RunFilter, before_id: int | None, limit: int) -> list[SyncRun]:
        """Runs newest first (by id), before the id `before_id`."""
        query = select(RUNS).where(*_run_conditions(wanted))
        if before_id is not None:
            query = query.where(SyncRunRow.id < before_id)
        query = query.order_by(SyncRunRow.id.desc()).limit(limit)
        with reading(self._engine) as conn:
            return [to_sync_run(row._mapping) for row in conn.execute(query)]

    def customer_names(self, customer_ids: Sequence[int]) -> dict[int, str]:
        if not customer_ids:
            return {}
        query = select(CustomerRow.id, CustomerRow.name).where(
            CustomerRow.id.in_(sorted(set(customer_ids)))
        )
        with reading(self._engine) as conn:
            return {row[0]: row[1] for row in conn.execute(query)}


def _run_conditions(wanted: RunFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if wanted.customer_id is not None:
        conditions.append(SyncRunRow.customer_id == wanted.customer_id)
    if wanted.statuses:
        conditions.append(SyncRunRow.status.in_([status.value for status in wanted.statuses]))
    if wanted.queue is not None:
        conditions.append(SyncRunRow.queue == wanted.queue)
    if wanted.trigger is not None:
        conditions.append(SyncRunRow.trigger == wanted.trigger.value)
    return conditions
