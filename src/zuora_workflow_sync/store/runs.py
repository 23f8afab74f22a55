"""The sync run ledger: record at dispatch, claim with a lease, renew, finish, find lost runs.

`attempt` is the fencing token: claim increments it, and every later write must present it, so a
stale worker can never overwrite the attempt that replaced it (reliability F4). Lease times come
from the database clock only (F20).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, func, select, tuple_, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from zuora_workflow_sync.domain.models import (
    ClaimedRun,
    RecordedRun,
    RunRequest,
    RunStatus,
    RunTrigger,
    SyncCounts,
    SyncRun,
)
from zuora_workflow_sync.errors import WorkflowSyncError
from zuora_workflow_sync.store.engine import (
    db_now,
    db_seconds_since,
    insert_ignoring_conflicts,
    reading,
    writing,
)
from zuora_workflow_sync.store.run_statements import (
    QUEUED,
    RUNNING,
    RUNS,
    add_pacing_wait,
    check_lease,
    claim_statement,
    count_failure,
    count_values,
    deduplicate,
    finished_failed_values,
    held_by,
    insert_queued,
    to_claimed_run,
    to_sync_run,
)
from zuora_workflow_sync.store.tables import CustomerRow, SyncRunRow

# One multi-row INSERT binds ~16 values a row: stay well under SQLite's 32,766 limit.
_MAX_INSERT_ROWS = 1000
# Runs recorded in one transaction (one INSERT ... SELECT, a few bound parameters).
_MAX_RECORD_ROWS = 10_000
# Ids bound in one IN list by read queries.
_MAX_IDS_PER_QUERY = 500


class LeaseLostError(WorkflowSyncError):
    """The fencing check failed: this attempt no longer holds the run.

    Another worker reclaimed it, or it was released or finished. The caller's transaction is
    rolled back (nothing it wrote is kept) and the worker must drop the run.
    """

    def __init__(self, run_id: int, attempt: int) -> None:
        super().__init__(f"sync run {run_id} is no longer held by attempt {attempt}")
        self.run_id = run_id
        self.attempt = attempt


class RecordResult(NamedTuple):
    """What `record_batch` did: runs to enqueue, and customers skipped for an active run."""

    recorded: list[RecordedRun]
    skipped_customer_ids: list[int]


class SyncRunLedger:
    """The ledger of sync runs, through `engine`; the database is the source of truth."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record_batch(
        self,
        requests: Sequence[RunRequest],
        *,
        queue: str,
        trigger: RunTrigger,
        dispatched_by: str,
        max_attempts: int,
        batch_size: int = 500,
        synced_after: datetime | None = None,
    ) -> RecordResult:
        """Record one queued run per request, `batch_size` rows per transaction.

        A customer that already has a queued or running run is skipped (the partial unique
        index decides, so concurrent dispatchers cannot both record one), and so, with
        `synced_after`, is one whose last sync ended after it (checked by the INSERT: a
        customer synced since the dispatch found it due). Rerunning after a crash halfway
        records only what is missing.
        """
        if max_attempts < 1 or batch_size < 1:
            raise ValueError("max_attempts and batch_size must be at least 1")
        unique, skipped = deduplicate(requests)
        batch_size = min(batch_size, _MAX_RECORD_ROWS)
        recorded: list[RecordedRun] = []
        common = {
            "queue": queue,
            "trigger": trigger.value,
            "dispatched_by": dispatched_by[:200],
            "max_attempts": max_attempts,
        }
        for start in range(0, len(unique), batch_size):
            chunk = unique[start : start + batch_size]
            run_ids = self._insert_runs(chunk, common, synced_after)
            for request in chunk:
                run_id = run_ids.get(request.customer_id)
                if run_id is None:
                    skipped.append(request.customer_id)
                else:
                    # not_before_at is stored exactly (microseconds, UTC), so the request's
                    # value in UTC is the stored one, without reading it back.
                    moment = request.not_before_at.astimezone(UTC)
                    recorded.append(RecordedRun(run_id, request.customer_id, moment))
        return RecordResult(recorded, skipped)

    def _insert_runs(
        self, chunk: Sequence[RunRequest], common: dict[str, Any], synced_after: datetime | None
    ) -> dict[int, int]:
        """Insert a queued run per request in one transaction: {customer id: new run id}."""
        # One INSERT ... SELECT of the whole chunk, its values in a few bound parameters: no
        # per-row SQL to compile, bind or parse (see `insert_queued`).
        with writing(self._engine) as conn:
            dispatched_at = conn.execute(select(db_now())).scalar_one()
            statement = insert_queued(
                insert_ignoring_conflicts(conn, SyncRunRow),
                chunk,
                {**common, "dispatched_at": dispatched_at},
                conn.dialect,
                synced_after,
            )
            rows = conn.execute(statement).all()
        return {customer_id: run_id for run_id, customer_id in rows}

    def claim(
        self, run_id: int, worker_id: str, lease_seconds: float, *, bind: Connection | None = None
    ) -> ClaimedRun | None:
        """Take the run: queued and due, or running with an expired lease (a reclaim).

        One UPDATE ... RETURNING, so of two claims exactly one wins. Returns None when the run
        is not due yet, held by another worker, finished, or out of attempts (a duplicate
        delivery is then a no-op: reliability F19). In its own transaction, or in the caller's
        (`bind`), which then holds the claim until it commits.
        """
        check_lease(lease_seconds)
        statement = claim_statement(run_id, worker_id, lease_seconds).returning(*RUNS.columns)
        if bind is not None:
            row = bind.execute(statement).first()
        else:
            with writing(self._engine) as conn:
                row = conn.execute(statement).first()
        return None if row is None else to_claimed_run(row._mapping)

    def renew(self, run_id: int, attempt: int, lease_seconds: float) -> bool:
        """Extend the lease to db now + `lease_seconds`; False when this attempt lost the run."""
        check_lease(lease_seconds)
        statement = (
            update(SyncRunRow)
            .where(held_by(run_id, attempt))
            .values(lease_expires_at=db_now(lease_seconds))
        )
        with writing(self._engine) as conn:
            return conn.execute(statement).rowcount == 1

    def renew_many(
        self, held: Sequence[tuple[int, int]], lease_seconds: float
    ) -> set[tuple[int, int]]:
        """Extend the leases of the `(run id, attempt)` pairs that still hold their run, in
        one statement (a worker's heartbeat): the pairs renewed; the others lost their run."""
        check_lease(lease_seconds)
        if not held:
            return set()
        statement = (
            update(SyncRunRow)
            .where(
                tuple_(SyncRunRow.id, SyncRunRow.attempt).in_(list(held)),
                SyncRunRow.status == RUNNING,
            )
            .values(lease_expires_at=db_now(lease_seconds))
            .returning(SyncRunRow.id, SyncRunRow.attempt)
        )
        with writing(self._engine) as conn:
            return {(row.id, row.attempt) for row in conn.execute(statement)}

    def release(self, run_id: int, attempt: int, *, pacing_wait_seconds: float = 0.0) -> bool:
        """Give the lease back (running -> queued) for a shutdown; False if lost."""
        statement = (
            update(SyncRunRow)
            .where(held_by(run_id, attempt))
            .values(
                status=QUEUED,
                lease_owner=None,
                lease_expires_at=None,
                **add_pacing_wait(pacing_wait_seconds),
            )
        )
        with writing(self._engine) as conn:
            return conn.execute(statement).rowcount == 1

    def fence(self, bind: Session | Connection, run_id: int, attempt: int) -> None:
        """Check, inside the caller's transaction, that `attempt` still holds the run.

        Call it first in the finishing transaction: on PostgreSQL it also locks the run row,
        so a reclaim waits for this transaction. Raises LeaseLostError otherwise.
        """
        statement = (
            update(SyncRunRow)
            .where(held_by(run_id, attempt))
            .values(attempt=SyncRunRow.attempt)
            .returning(SyncRunRow.id)
        )
        if _connection(bind).execute(statement).first() is None:
            raise LeaseLostError(run_id, attempt)

    def finish_succeeded(
        self,
        bind: Session | Connection,
        run_id: int,
        attempt: int,
        counts: SyncCounts,
        *,
        pacing_wait_seconds: float = 0.0,
    ) -> None:
        """Mark the run succeeded inside the caller's transaction (with the workflows' writes).

        Sets the customer's last_synced_at (database time) and resets its failure count.
        Raises LeaseLostError when `attempt` no longer holds the run: the caller must then
        roll back its whole transaction, workflow writes included.
        """
        conn = _connection(bind)
        values = {
            "status": RunStatus.SUCCEEDED.value,
            **count_values(counts),
            **add_pacing_wait(pacing_wait_seconds),
        }
        customer_id, finished_at = _finish(conn, run_id, attempt, values)
        conn.execute(
            update(CustomerRow)
            .where(CustomerRow.id == customer_id)
            .values(last_synced_at=finished_at, consecutive_failures=0)
        )

    def finish_failed(
        self,
        run_id: int,
        attempt: int,
        error_class: str,
        error_message: str,
        *,
        counts: SyncCounts | None = None,
    ) -> None:
        """Mark the run failed (in its own transaction) and count a customer failure.

        `error_message` must already be redacted; at most 1,000 characters are kept.
        Raises LeaseLostError when `attempt` no longer holds the run (nothing written).
        """
        values = finished_failed_values(RunStatus.FAILED, error_class, error_message, counts)
        with writing(self._engine) as conn:
            customer_id, _ = _finish(conn, run_id, attempt, values)
            conn.execute(count_failure(customer_id))

    def abandon(self, run_id: int, attempt: int, reason: str) -> bool:
        """End a lost run (expired lease out of attempts, or stale in the queue) as abandoned.

        `attempt` must be the attempt the caller saw, so a run that moved on is left alone.
        """
        values = finished_failed_values(RunStatus.ABANDONED, "Abandoned", reason, None)
        statement = (
            update(SyncRunRow)
            .where(
                SyncRunRow.id == run_id,
                SyncRunRow.attempt == attempt,
                SyncRunRow.status.in_((QUEUED, RUNNING)),
            )
            .values(**values, finished_at=db_now(), lease_expires_at=None)
            .returning(SyncRunRow.customer_id)
        )
        with writing(self._engine) as conn:
            customer_id = conn.execute(statement).scalar_one_or_none()
            if customer_id is not None:
                conn.execute(count_failure(customer_id))
        return customer_id is not None

    def abandon_undispatched(self, run_ids: Sequence[int], reason: str) -> int:
        """End runs that never reached the queue (it was unavailable) as abandoned.

        Only still-queued, never-claimed runs change; the customers' failure counts do not,
        since the customer did nothing wrong. Returns how many runs were abandoned.
        """
        values = finished_failed_values(RunStatus.ABANDONED, "QueueUnavailableError", reason, None)
        done = 0
        with writing(self._engine) as conn:
            for start in range(0, len(run_ids), _MAX_INSERT_ROWS):
                chunk = list(run_ids[start : start + _MAX_INSERT_ROWS])
                statement = (
                    update(SyncRunRow)
                    .where(
                        SyncRunRow.id.in_(chunk),
                        SyncRunRow.status == QUEUED,
                        SyncRunRow.attempt == 0,
                    )
                    .values(**values, finished_at=db_now())
                )
                done += conn.execute(statement).rowcount
        return done

    def count_active(self, queues: Sequence[str]) -> int:
        """How many runs of `queues` are queued or running (what `worker --drain` waits for)."""
        statement = (
            select(func.count())
            .select_from(SyncRunRow)
            .where(SyncRunRow.queue.in_(list(queues)), SyncRunRow.status.in_((QUEUED, RUNNING)))
        )
        with reading(self._engine) as conn:
            return int(conn.execute(statement).scalar_one())

    def active_run_ids(self, customer_ids: Sequence[int]) -> dict[int, int]:
        """The queued-or-running run of each of `customer_ids` that has one: {customer: run}."""
        found: dict[int, int] = {}
        with reading(self._engine) as conn:
            for start in range(0, len(customer_ids), _MAX_INSERT_ROWS):
                chunk = list(customer_ids[start : start + _MAX_INSERT_ROWS])
                statement = select(SyncRunRow.customer_id, SyncRunRow.id).where(
                    SyncRunRow.customer_id.in_(chunk), SyncRunRow.status.in_((QUEUED, RUNNING))
                )
                found.update({row.customer_id: row.id for row in conn.execute(statement)})
        return found

    def find_expired_leases(
        self, now: datetime | None = None, *, limit: int = 1000
    ) -> list[SyncRun]:
        """Running runs whose lease expired before `now` (default: the database clock)."""
        moment: Any = db_now() if now is None else now
        return self._select(
            (SyncRunRow.status == RUNNING, SyncRunRow.lease_expires_at < moment),
            SyncRunRow.lease_expires_at,
            limit,
        )

    def find_stale_queued(self, older_than_seconds: float, *, limit: int = 1000) -> list[SyncRun]:
        """Queued runs due for more than `older_than_seconds` (their job was probably lost)."""
        return self._select(
            (
                SyncRunRow.status == QUEUED,
                SyncRunRow.not_before_at < db_now(-older_than_seconds),
            ),
            SyncRunRow.not_before_at,
            limit,
        )

    def list_runs(
        self, *, customer_id: int | None = None, failed_only: bool = False, limit: int = 50
    ) -> list[SyncRun]:
        """Newest first; `failed_only` keeps failed and abandoned runs."""
        criteria: list[ColumnElement[bool]] = []
        if customer_id is not None:
            criteria.append(SyncRunRow.customer_id == customer_id)
        if failed_only:
            failed = (RunStatus.FAILED.value, RunStatus.ABANDONED.value)
            criteria.append(SyncRunRow.status.in_(failed))
        return self._select(criteria, SyncRunRow.id.desc(), limit)

    def get(self, run_id: int) -> SyncRun | None:
        found = self._select((SyncRunRow.id == run_id,), SyncRunRow.id, 1)
        return found[0] if found else None

    def latest_runs(self, customer_ids: Sequence[int]) -> dict[int, SyncRun]:
        """The newest run of each customer of `customer_ids` that has one."""
        latest: dict[int, SyncRun] = {}
        for start in range(0, len(customer_ids), _MAX_IDS_PER_QUERY):
            chunk = customer_ids[start : start + _MAX_IDS_PER_QUERY]
            newest = (
                select(func.max(SyncRunRow.id))
                .where(SyncRunRow.customer_id.in_(chunk))
                .group_by(SyncRunRow.customer_id)
            )
            runs = self._select((SyncRunRow.id.in_(newest),), SyncRunRow.id, len(chunk))
            latest.update((run.customer_id, run) for run in runs)
        return latest

    def _select(
        self, criteria: Iterable[ColumnElement[bool]], order: Any, limit: int
    ) -> list[SyncRun]:
        query = select(RUNS).where(*criteria).order_by(order, SyncRunRow.id).limit(limit)
        with reading(self._engine) as conn:
            return [to_sync_run(row._mapping) for row in conn.execute(query)]

    def requeue_expired(self, run_id: int, attempt: int) -> bool:
        """Running -> queued (due now) for a run whose lease expired with attempts left (repair).

        Only while `attempt` still holds it and its lease expired on the database clock; the
        next claim takes it as attempt + 1, and the lost worker, should it wake, is fenced out.
        """
        statement = (
            update(SyncRunRow)
            .where(
                held_by(run_id, attempt),
                SyncRunRow.lease_expires_at < db_now(),
                SyncRunRow.attempt < SyncRunRow.max_attempts,
            )
            .values(status=QUEUED, lease_owner=None, lease_expires_at=None, not_before_at=db_now())
        )
        with writing(self._engine) as conn:
            return conn.execute(statement).rowcount == 1

    def fail_expired(self, run_id: int, attempt: int, reason: str) -> bool:
        """End as failed a run whose lease expired on its last attempt; count a customer failure.

        Only while `attempt` still holds it and its lease expired on the database clock.
        """
        values = finished_failed_values(RunStatus.FAILED, "LeaseExpired", reason, None)
        statement = (
            update(SyncRunRow)
            .where(
                held_by(run_id, attempt),
                SyncRunRow.lease_expires_at < db_now(),
                SyncRunRow.attempt >= SyncRunRow.max_attempts,
            )
            .values(**values, finished_at=db_now(), lease_expires_at=None)
            .returning(SyncRunRow.customer_id)
        )
        with writing(self._engine) as conn:
            customer_id = conn.execute(statement).scalar_one_or_none()
            if customer_id is not None:
                conn.execute(count_failure(customer_id))
        return customer_id is not None

    def touch_stale_queued(self, run_id: int, attempt: int, older_than_seconds: float) -> bool:
        """Set `not_before_at` to now on a queued run due for over `older_than_seconds`.

        Repair calls it when it re-enqueues the run, so the run counts as stale again only
        after another grace period. The run stays claimable.
        """
        statement = (
            update(SyncRunRow)
            .where(
                SyncRunRow.id == run_id,
                SyncRunRow.attempt == attempt,
                SyncRunRow.status == QUEUED,
                SyncRunRow.not_before_at < db_now(-older_than_seconds),
            )
            .values(not_before_at=db_now())
        )
        with writing(self._engine) as conn:
            return conn.execute(statement).rowcount == 1

    def retry_later(
        self,
        run_id: int,
        attempt: int,
        delay_seconds: float,
        error_class: str,
        error_message: str,
        *,
        pacing_wait_seconds: float = 0.0,
    ) -> bool:
        """Running -> queued, due in `delay_seconds` (db clock), for the next attempt of a run
        whose attempt failed with a retriable error; the error stays on the run for `runs`.

        Fenced: only while `attempt` still holds the run and attempts are left; False otherwise
        (nothing written). The customer's failures are not counted: the run has not failed yet.
        """
        statement = (
            update(SyncRunRow)
            .where(held_by(run_id, attempt), SyncRunRow.attempt < SyncRunRow.max_attempts)
            .values(**_queued_again(error_class, error_message, delay_seconds, pacing_wait_seconds))
        )
        with writing(self._engine) as conn:
            return conn.execute(statement).rowcount == 1

    def defer(
        self,
        run_id: int,
        attempt: int,
        delay_seconds: float,
        error_class: str,
        error_message: str,
        *,
        pacing_wait_seconds: float = 0.0,
    ) -> bool:
        """As `retry_later`, for an attempt that pacing alone held back (a pause or a used-up
        quota longer than a request waits): the attempt is given back (`max_attempts` + 1, so
        the fencing token still only grows), and it is queued again even on its last attempt.
        """
        statement = (
            update(SyncRunRow)
            .where(held_by(run_id, attempt))
            .values(
                **_queued_again(error_class, error_message, delay_seconds, pacing_wait_seconds),
                max_attempts=SyncRunRow.max_attempts + 1,
            )
        )
        with writing(self._engine) as conn:
            return conn.execute(statement).rowcount == 1

    def fail_attempt(
        self,
        bind: Connection,
        run_id: int,
        attempt: int,
        error_class: str,
        error_message: str,
        *,
        pacing_wait_seconds: float = 0.0,
    ) -> int:
        """End the run failed inside the caller's transaction, without counting the customer's
        failure (the caller does, with its circuit); returns the customer id.

        Raises LeaseLostError when `attempt` no longer holds the run.
        """
        values = {
            **finished_failed_values(RunStatus.FAILED, error_class, error_message, None),
            **add_pacing_wait(pacing_wait_seconds),
        }
        customer_id, _ = _finish(bind, run_id, attempt, values)
        return customer_id


def _queued_again(
    error_class: str, error_message: str, delay_seconds: float, pacing_wait_seconds: float
) -> dict[str, Any]:
    """A run queued for a later attempt: the failure's columns (capped), no lease, due later."""
    return {
        **finished_failed_values(RunStatus.QUEUED, error_class, error_message, None),
        **add_pacing_wait(pacing_wait_seconds),
        "lease_owner": None,
        "lease_expires_at": None,
        "not_before_at": db_now(max(0.0, delay_seconds)),
    }


def _connection(bind: Session | Connection) -> Connection:
    return bind.connection() if isinstance(bind, Session) else bind


def _finish(
    conn: Connection, run_id: int, attempt: int, values: dict[str, Any]
) -> tuple[int, datetime]:
    """End the run if `attempt` still holds it: its customer id and finish time (db clock)."""
    statement = (
        update(SyncRunRow)
        .where(held_by(run_id, attempt))
        .values(
            **values,
            finished_at=db_now(),
            duration_seconds=db_seconds_since(SyncRunRow.started_at),
            lease_expires_at=None,
        )
        .returning(SyncRunRow.customer_id, SyncRunRow.finished_at)
    )
    row = conn.execute(statement).first()
    if row is None or row.finished_at is None:
        raise LeaseLostError(run_id, attempt)
    return row.customer_id, row.finished_at
