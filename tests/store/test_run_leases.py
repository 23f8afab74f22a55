"""The ledger's side of heartbeat leases: renewing many leases at once, deferring a run that
pacing held back without counting its attempt, and each run's total pacing wait."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from zuora_workflow_sync.domain.models import RunStatus, SyncCounts
from zuora_workflow_sync.store.runs import SyncRunLedger

from .factories import add_customer, expire_lease, record


def _claimed(engine: Engine, count: int, lease: float = 30.0) -> list[tuple[int, int]]:
    ledger = SyncRunLedger(engine)
    runs = record(engine, [add_customer(engine, f"c{n}").id for n in range(count)])
    pairs = []
    for run in runs:
        claimed = ledger.claim(run.run_id, "worker-a", lease)
        assert claimed is not None
        pairs.append((claimed.run_id, claimed.attempt))
    return pairs


def test_renew_many_extends_every_lease_still_held_in_one_call(engine: Engine) -> None:
    ledger = SyncRunLedger(engine)
    pairs = _claimed(engine, 3, lease=5.0)
    before = {run_id: ledger.get(run_id) for run_id, _ in pairs}

    assert ledger.renew_many(pairs, 600.0) == set(pairs)

    for run_id, _ in pairs:
        run, old = ledger.get(run_id), before[run_id]
        assert run is not None and old is not None
        assert run.lease_expires_at is not None and old.lease_expires_at is not None
        assert run.lease_expires_at > old.lease_expires_at + timedelta(seconds=500)


def test_renew_many_leaves_out_the_runs_that_moved_on(engine: Engine) -> None:
    ledger = SyncRunLedger(engine)
    (kept, released, reclaimed, finished) = _claimed(engine, 4)
    assert ledger.release(*released)
    expire_lease(engine, reclaimed[0])
    assert ledger.claim(reclaimed[0], "worker-b", 30.0) is not None  # attempt 2 now
    ledger.finish_failed(*finished, "Boom", "boom")

    assert ledger.renew_many([kept, released, reclaimed, finished], 60.0) == {kept}
    assert ledger.renew_many([], 60.0) == set()


def test_deferred_run_is_queued_with_its_attempt_given_back_even_on_its_last_attempt(
    engine: Engine,
) -> None:
    ledger = SyncRunLedger(engine)
    customer = add_customer(engine)
    (run,) = record(engine, [customer.id], max_attempts=1)
    claimed = ledger.claim(run.run_id, "worker-a", 30.0)
    assert claimed is not None and claimed.attempt == claimed.max_attempts == 1
    assert not ledger.retry_later(run.run_id, 1, 0.0, "RateLimitedError", "no attempts left")

    assert ledger.defer(
        run.run_id, 1, 0.0, "PacedTooLongError", "paused for 400s", pacing_wait_seconds=400.5
    )

    deferred = ledger.get(run.run_id)
    assert deferred is not None
    assert (deferred.status, deferred.attempt, deferred.max_attempts) == (RunStatus.QUEUED, 1, 2)
    assert (deferred.error_class, deferred.pacing_wait_seconds) == ("PacedTooLongError", 400.5)
    assert deferred.lease_owner is None
    again = ledger.claim(run.run_id, "worker-b", 30.0)
    assert again is not None and again.attempt == 2  # the fencing token still grows
    assert not ledger.defer(run.run_id, 1, 0.0, "PacedTooLongError", "stale")  # fenced
    refreshed = ledger.get(run.run_id)
    assert refreshed is not None and refreshed.max_attempts == 2


def test_pacing_wait_adds_up_over_the_attempts_of_a_run(engine: Engine) -> None:
    ledger = SyncRunLedger(engine)
    customer = add_customer(engine)
    (run,) = record(engine, [customer.id])
    first = ledger.claim(run.run_id, "worker-a", 30.0)
    assert first is not None
    assert ledger.retry_later(run.run_id, 1, 0.0, "ServerError", "5xx", pacing_wait_seconds=2.25)
    second = ledger.claim(run.run_id, "worker-a", 30.0)
    assert second is not None
    with engine.begin() as conn:
        ledger.finish_succeeded(conn, run.run_id, 2, SyncCounts(), pacing_wait_seconds=1.5)

    done = ledger.get(run.run_id)
    assert done is not None and done.status is RunStatus.SUCCEEDED
    assert done.pacing_wait_seconds == 3.75
