"""Statements of the run ledger and conversions of its rows, used by `runs.SyncRunLedger`.

Builders only: nothing here opens a transaction or executes a statement.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    String,
    Update,
    and_,
    bindparam,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, RowMapping
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.dml import ReturningInsert

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
        "token_request_count": counts.token_requests,
        "throttled_count": counts.throttled,
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
        token_requests=row["token_request_count"],
        throttled=row["throttled_count"],
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
        pacing_wait_seconds=row["pacing_wait_seconds"],
    )


def add_pacing_wait(seconds: float) -> dict[str, Any]:
    """The column values adding an attempt's pacing wait to the run's total (none if 0)."""
    if seconds <= 0:
        return {}
    return {"pacing_wait_seconds": SyncRunRow.pacing_wait_seconds + round(seconds, 3)}


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


def insert_queued(
    insert: sqlite.Insert | postgresql.Insert,
    chunk: Sequence[RunRequest],
    common: dict[str, Any],
    dialect: Dialect,
    synced_after: datetime | None = None,
) -> ReturningInsert[int, int]:
    """One INSERT ... SELECT of a new queued run per request of `chunk`, RETURNING (id,
    customer_id) of the rows inserted. `insert` is the dialect's INSERT ... ON CONFLICT DO
    NOTHING into the runs; `common` carries `dispatched_at`, read from the database.

    With `synced_after`, a customer synced after that moment gets no run: the due condition
    is checked again in the INSERT itself, so a customer a worker synced between the
    dispatch's SELECT of due customers and this statement is not dispatched twice.

    The per-run values travel as one JSON document, expanded by the database (`json_each`,
    `json_array_elements`): the same ~17 bound parameters whatever the batch size, where a
    multi-row VALUES binds 16 a row (bound by SQLite's 32,766 limit, and parsed by psycopg
    placeholder by placeholder: ~10 s for 100,000 runs) and executemany costs a statement a row.
    """
    rows = _ROW_SOURCES[dialect.name](_per_run_document(chunk, dialect))
    constant = {**common, "status": QUEUED, "attempt": 0, **count_values(SyncCounts())}
    values = [
        *rows,
        *(literal(value, RUNS.c[name].type) for name, value in constant.items()),
    ]
    # SQLite needs a WHERE in INSERT ... SELECT ... ON CONFLICT (its parser would read ON as
    # a join constraint); "WHERE true" is the documented fix.
    source = select(*values).where(true())
    if synced_after is not None:
        synced = select(CustomerRow.id).where(
            CustomerRow.id == rows[0], CustomerRow.last_synced_at > synced_after
        )
        source = source.where(~exists(synced))
    return insert.from_select([*_PER_RUN, *constant], source).returning(
        SyncRunRow.id, SyncRunRow.customer_id
    )


_PER_RUN = ("customer_id", "not_before_at", "full_export")


def _per_run_document(chunk: Sequence[RunRequest], dialect: Dialect) -> str:
    """`[[customer_id, not_before_at, full_export], ...]` as JSON text.

    `not_before_at` is the text SQLite stores, or an ISO 8601 timestamp with its offset, which
    PostgreSQL reads exactly (aware UTC required; see `_moment_text`).
    """
    text = _moment_text(dialect)
    rows = [[r.customer_id, text(r.not_before_at), r.full_export] for r in chunk]
    return json.dumps(rows, separators=(",", ":"))


def _moment_text(dialect: Dialect) -> Callable[[datetime], str]:
    """How a `not_before_at` travels in the JSON document on this dialect.

    What the column type makes of it (UTCDateTime, then the dialect's processor), formatted
    directly: going through both layers cost ~2 us a run. The direct formatter is used only if
    it gives the same text as the column type for probe values; otherwise the column type is.
    """
    found = _MOMENT_TEXTS.get(dialect.name)
    if found is None:
        direct = _sqlite_text if dialect.name == "sqlite" else _iso_text
        through_type = _through_column_type(dialect)
        same = all(direct(probe) == through_type(probe) for probe in _MOMENT_PROBES)
        found = _MOMENT_TEXTS[dialect.name] = direct if same else through_type
    return found


def _through_column_type(dialect: Dialect) -> Callable[[datetime], str]:
    stored = RUNS.c.not_before_at.type.dialect_impl(dialect).bind_processor(dialect)

    def through_type(moment: datetime) -> str:
        value: Any = moment if stored is None else stored(moment)
        return value.isoformat() if isinstance(value, datetime) else str(value)

    return through_type


def _sqlite_text(moment: datetime) -> str:
    # Naive UTC with microseconds, as UTCDateTime and SQLite's DATETIME store it.
    if moment.tzinfo is not UTC:
        moment = _in_utc(moment)
    return moment.isoformat(" ", "microseconds")[:26]


def _iso_text(moment: datetime) -> str:
    return (moment if moment.tzinfo is UTC else _in_utc(moment)).isoformat()


def _in_utc(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError("naive datetime given where an aware UTC datetime is required")
    return moment.astimezone(UTC)


_MOMENT_TEXTS: dict[str, Callable[[datetime], str]] = {}
_MOMENT_PROBES = (
    datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=UTC),
    datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC),
    datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-8))),
)


def _sqlite_rows(document: str) -> list[ColumnElement[Any]]:
    each = func.json_each(bindparam(None, document, String())).table_valued("value")
    return [func.json_extract(each.c.value, f"$[{index}]") for index in range(len(_PER_RUN))]


def _postgresql_rows(document: str) -> list[ColumnElement[Any]]:
    each = func.json_array_elements(cast(bindparam(None, document, String()), JSON)).table_valued(
        "value"
    )
    return [
        cast(each.c.value.op("->>")(index), RUNS.c[name].type)
        for index, name in enumerate(_PER_RUN)
    ]


_ROW_SOURCES: dict[str, Callable[[str], list[ColumnElement[Any]]]] = {
    "sqlite": _sqlite_rows,
    "postgresql": _postgresql_rows,
}


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
