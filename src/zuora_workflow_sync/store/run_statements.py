"""Statements of the run ledger and conversions of its rows, used by `runs.SyncRunLedger`.

Builders only: nothing here opens a transaction or executes a statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Update, and_, or_, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.sql import ColumnElement

from zuora_workflow_sync.domain.models import (
    ClaimedRun,
    RunRequest,
    RunStatus,
    RunTrigger,
    SyncCounts,
    SyncRun,
)
from zuora_workflow_sync.store.engine import db_now
from zuora_workflow_sync.store.tables import ERROR_MESSAGE_MAX_LENGTH, CustomerRow, SyncRunRow

RUNS = SyncRunRow.__table__
RUNNING = RunStatus.RUNNING.value
QUEUED = RunStatus.QUEUED.value
_ERROR_CLASS_MAX_LENGTH = 200
_MAX_LEASE_SECONDS = 7 * 24 * 3600.0


def count_values(counts: SyncCounts) -> dict[str, int]:
    """The ledger columns holding `counts`."""
    return {
        "listed_count": counts.listed,
        "created_count": counts.created,
        "updated_count": counts.updated,
        "unchanged_count": counts.unchanged,
        "tombstoned_count": counts.tombstoned,
        "api_request_count": counts.api_requests,
    }


def finished_failed_values(
    status: RunStatus, error_class: str, error_message: str, counts: SyncCounts | None
) -> dict[str, Any]:
    """Column values of a run ending in failure; the (already redacted) message is capped."""
    values: dict[str, Any] = {
        "status": status.value,
        "error_class": error_class[:_ERROR_CLASS_MAX_LENGTH],
        "error_message": error_message[:ERROR_MESSAGE_MAX_LENGTH],
    }
    if counts is not None:
        values.update(count_values(counts))
    return values


def to_counts(row: RowMapping) -> SyncCounts:
    return SyncCounts(
        listed=row["listed_count"],
        created=row["created_count"],
        updated=row["updated_count"],
        unchanged=row["unchanged_count"],
        tombstoned=row["tombstoned_count"],
        api_requests=row["api_request_count"],
    )


def to_claimed_run(row: RowMapping) -> ClaimedRun:
    return ClaimedRun(
        run_id=row["id"],
        customer_id=row["customer_id"],
        attempt=row["attempt"],
        max_attempts=row["max_attempts"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        started_at=row["started_at"],
        trigger=RunTrigger(row["trigger"]),
        full_export=row["full_export"],
    )


def to_sync_run(row: RowMapping) -> SyncRun:
    return SyncRun(
        id=row["id"],
        customer_id=row["customer_id"],
        queue=row["queue"],
        trigger=RunTrigger(row["trigger"]),
        status=RunStatus(row["status"]),
        dispatched_at=row["dispatched_at"],
        not_before_at=row["not_before_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        duration_seconds=row["duration_seconds"],
        attempt=row["attempt"],
        max_attempts=row["max_attempts"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        counts=to_counts(row),
        error_class=row["error_class"],
        error_message=row["error_message"],
        dispatched_by=row["dispatched_by"],
        full_export=row["full_export"],
    )


def check_lease(lease_seconds: float) -> None:
    """Refuse a lease that is not positive or absurdly long (ValueError)."""
    if not 0 < lease_seconds <= _MAX_LEASE_SECONDS:
        raise ValueError(f"lease_seconds must be in (0, {_MAX_LEASE_SECONDS:.0f}]")


def held_by(run_id: int, attempt: int) -> ColumnElement[bool]:
    """The fencing condition: the run is running and `attempt` is its current attempt."""
    return and_(
        SyncRunRow.id == run_id, SyncRunRow.attempt == attempt, SyncRunRow.status == RUNNING
    )


def claim_statement(run_id: int, worker_id: str, lease_seconds: float) -> Update:
    """queued and due, or running with an expired lease and attempts left -> running."""
    now = db_now()
    claimable = or_(
        and_(SyncRunRow.status == QUEUED, SyncRunRow.not_before_at <= now),
        and_(
            SyncRunRow.status == RUNNING,
            SyncRunRow.lease_expires_at < now,
            SyncRunRow.attempt < SyncRunRow.max_attempts,
        ),
    )
    return (
        update(SyncRunRow)
        .where(SyncRunRow.id == run_id, claimable)
        .values(
            status=RUNNING,
            attempt=SyncRunRow.attempt + 1,
            lease_owner=worker_id[:200],
            lease_expires_at=db_now(lease_seconds),
            started_at=now,
        )
    )


def queued_rows(chunk: Sequence[RunRequest], common: dict[str, Any]) -> list[dict[str, Any]]:
    """Values of new queued runs; `common` carries `dispatched_at`, read from the database."""
    return [
        {
            **common,
            "customer_id": request.customer_id,
            "not_before_at": request.not_before_at,
            "full_export": request.full_export,
            "status": QUEUED,
            "attempt": 0,
            **count_values(SyncCounts()),
        }
        for request in chunk
    ]


def count_failure(customer_id: int) -> Update:
    return (
        update(CustomerRow)
        .where(CustomerRow.id == customer_id)
        .values(consecutive_failures=CustomerRow.consecutive_failures + 1)
    )


def deduplicate(requests: Sequence[RunRequest]) -> tuple[list[RunRequest], list[int]]:
    """The first request per customer, and the customer ids of the repeats."""
    seen: set[int] = set()
    unique: list[RunRequest] = []
    duplicates: list[int] = []
    for request in requests:
        if request.customer_id in seen:
            duplicates.append(request.customer_id)
        else:
            seen.add(request.customer_id)
            unique.append(request)
    return unique, duplicates
