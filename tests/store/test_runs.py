"""The ledger: one active run per customer, exclusive claims, leases, fencing, lost runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import IntegrityError

from zuora_workflow_sync.domain.models import RunRequest, RunStatus, RunTrigger, SyncCounts
from zuora_workflow_sync.errors import WorkflowSyncError
from zuora_workflow_sync.store.customers import CustomerRepository
from zuora_workflow_sync.store.engine import db_now
from zuora_workflow_sync.store.runs import LeaseLostError, SyncRunLedger
from zuora_workflow_sync.store.tables import SyncRunRow, WorkflowRow

from .factories import add_customer, count_rows, expire_lease, record, workflow

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def _raw_run(customer_id: int, status: RunStatus) -> dict[str, object]:
    return {
        "customer_id": customer_id,
        "queue": "default",
        "trigger": RunTrigger.COMMAND.value,
        "status": status.value,
        "dispatched_at": NOW,
        "not_before_at": NOW,
        "max_attempts": 3,
        "dispatched_by": "tester@host",
    }


def test_second_active_run_is_refused_by_the_index_when_inserted(engine: Engine) -> None:
    customer = add_customer(engine)
    with engine.begin() as conn:
        conn.execute(insert(SyncRunRow).values(_raw_run(customer.id, RunStatus.QUEUED)))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(SyncRunRow).values(_raw_run(customer.id, RunStatus.RUNNING)))
    assert count_rows(engine, SyncRunRow) == 1


def test_new_active_run_is_allowed_when_the_previous_one_finished(engine: Engine) -> None:
    customer = add_customer(engine)
    with engine.begin() as conn:
        conn.execute(insert(SyncRunRow).values(_raw_run(customer.id, RunStatus.SUCCEEDED)))
        conn.execute(insert(SyncRunRow).values(_raw_run(customer.id, RunStatus.FAILED)))
        conn.execute(insert(SyncRunRow).values(_raw_run(customer.id, RunStatus.QUEUED)))
    assert count_rows(engine, SyncRunRow) == 3


def test_record_batch_skips_customers_when_they_have_an_active_run(engine: Engine) -> None:
    ids = [add_customer(engine, f"c{index}").id for index in range(5)]
    record(engine, ids[:2])
    requests = [RunRequest(customer_id, NOW) for customer_id in [*ids, ids[4]]]
    result = SyncRunLedger(engine).record_batch(
        requests,
        queue="default",
        trigger=RunTrigger.SCHEDULE,
        dispatched_by="cron@host",
        max_attempts=3,
        batch_size=2,
    )
    assert sorted(run.customer_id for run in result.recorded) == ids[2:]
    assert sorted(result.skipped_customer_ids) == [ids[0], ids[1], ids[4]]
    assert count_rows(engine, SyncRunRow) == 5
    run = SyncRunLedger(engine).get(result.recorded[0].run_id)
    assert run is not None and run.status is RunStatus.QUEUED and run.attempt == 0
    assert run.trigger is RunTrigger.SCHEDULE and run.dispatched_by == "cron@host"
    assert run.not_before_at == NOW and run.counts == SyncCounts()


def test_record_batch_adds_nothing_when_rerun_after_success(engine: Engine) -> None:
    ids = [add_customer(engine, f"c{index}").id for index in range(3)]
    assert len(record(engine, ids)) == 3
    assert record(engine, ids) == []
    assert count_rows(engine, SyncRunRow) == 3


def test_claim_takes_the_lease_when_run_is_queued_and_due(engine: Engine) -> None:
    (run,) = record(engine, [add_customer(engine).id])
    claimed = SyncRunLedger(engine).claim(run.run_id, "worker-a", 60)
    assert claimed is not None
    assert (claimed.attempt, claimed.lease_owner) == (1, "worker-a")
    assert claimed.lease_expires_at - claimed.started_at == timedelta(seconds=60)
    assert abs(claimed.started_at - datetime.now(UTC)) < timedelta(seconds=5)


def test_second_claim_returns_none_when_the_run_is_already_claimed(engine: Engine) -> None:
    (run,) = record(engine, [add_customer(engine).id])
    ledger = SyncRunLedger(engine)
    assert ledger.claim(run.run_id, "worker-a", 60) is not None
    assert ledger.claim(run.run_id, "worker-b", 60) is None


def test_claim_returns_none_when_not_before_is_in_the_future(engine: Engine) -> None:
    later = datetime.now(UTC) + timedelta(minutes=10)
    (run,) = record(engine, [add_customer(engine).id], not_before_at=later)
    assert SyncRunLedger(engine).claim(run.run_id, "worker-a", 60) is None


def test_claim_returns_none_when_the_run_is_finished(engine: Engine) -> None:
    (run,) = record(engine, [add_customer(engine).id])
    ledger = SyncRunLedger(engine)
    claimed = ledger.claim(run.run_id, "worker-a", 60)
    assert claimed is not None
    ledger.finish_failed(run.run_id, claimed.attempt, "ServerError", "HTTP 503")
    assert ledger.claim(run.run_id, "worker-b", 60) is None
    assert ledger.claim(999_999, "worker-b", 60) is None


def test_reclaim_increments_attempt_when_the_lease_expired(engine: Engine) -> None:
    (run,) = record(engine, [add_customer(engine).id])
    ledger = SyncRunLedger(engine)
    first = ledger.claim(run.run_id, "worker-a", 60)
    assert first is not None
    expire_lease(engine, run.run_id)
    second = ledger.claim(run.run_id, "worker-b", 60)
    assert second is not None
    assert (second.attempt, second.lease_owner) == (2, "worker-b")
    assert not ledger.renew(run.run_id, first.attempt, 60)


def test_reclaim_is_refused_when_attempts_are_exhausted(engine: Engine) -> None:
    (run,) = record(engine, [add_customer(engine).id], max_attempts=1)
    ledger = SyncRunLedger(engine)
    claimed = ledger.claim(run.run_id, "worker-a", 60)
    assert claimed is not None
    expire_lease(engine, run.run_id)
    assert ledger.claim(run.run_id, "worker-b", 60) is None
    (lost,) = ledger.find_expired_leases()
    assert lost.id == run.run_id and lost.attempt == 1
    assert ledger.abandon(run.run_id, lost.attempt, "lease expired after the last attempt")
    abandoned = ledger.get(run.run_id)
    assert abandoned is not None and abandoned.status is RunStatus.ABANDONED


def test_stale_finish_raises_and_writes_nothing_when_another_attempt_took_over(
    engine: Engine,
) -> None:
    customer = add_customer(engine)
    (run,) = record(engine, [customer.id])
    ledger = SyncRunLedger(engine)
    stale = ledger.claim(run.run_id, "worker-a", 60)
    assert stale is not None
    expire_lease(engine, run.run_id)
    fresh = ledger.claim(run.run_id, "worker-b", 60)
    assert fresh is not None
    from zuora_workflow_sync.store.workflows import apply_sync

    with pytest.raises(LeaseLostError) as caught, engine.begin() as conn:
        counts = apply_sync(conn, customer.id, run.run_id, [workflow(1)], {1}, True, NOW)
        ledger.finish_succeeded(conn, run.run_id, stale.attempt, counts)
    assert isinstance(caught.value, WorkflowSyncError)
    assert count_rows(engine, WorkflowRow) == 0
    current = ledger.get(run.run_id)
    assert current is not None and current.status is RunStatus.RUNNING
    assert (current.attempt, current.lease_owner) == (fresh.attempt, "worker-b")
    with pytest.raises(LeaseLostError):
        ledger.finish_failed(run.run_id, stale.attempt, "X", "stale")
    stored = CustomerRepository(engine).get(customer.id)
    assert stored is not None and stored.consecutive_failures == 0


def test_fence_raises_when_the_attempt_is_stale(engine: Engine) -> None:
    (run,) = record(engine, [add_customer(engine).id])
    ledger = SyncRunLedger(engine)
    claimed = ledger.claim(run.run_id, "worker-a", 60)
    assert claimed is not None
    with engine.begin() as conn:
        ledger.fence(conn, run.run_id, claimed.attempt)
        with pytest.raises(LeaseLostError):
            ledger.fence(conn, run.run_id, claimed.attempt + 1)


def test_success_records_counts_and_resets_failures_when_finished(engine: Engine) -> None:
    customer = add_customer(engine)
    ledger = SyncRunLedger(engine)
    (failed,) = record(engine, [customer.id])
    claimed = ledger.claim(failed.run_id, "worker-a", 60)
    assert claimed is not None
    ledger.finish_failed(failed.run_id, claimed.attempt, "ServerError", "x" * 5000)
    after_failure = CustomerRepository(engine).get(customer.id)
    assert after_failure is not None and after_failure.consecutive_failures == 1
    failed_run = ledger.get(failed.run_id)
    assert failed_run is not None and failed_run.error_message == "x" * 1000
    (run,) = record(engine, [customer.id])
    claimed = ledger.claim(run.run_id, "worker-a", 60)
    assert claimed is not None
    counts = SyncCounts(listed=3, created=1, updated=1, unchanged=1, api_requests=7)
    with engine.begin() as conn:
        ledger.fence(conn, run.run_id, claimed.attempt)
        ledger.finish_succeeded(conn, run.run_id, claimed.attempt, counts)
    finished = ledger.get(run.run_id)
    assert finished is not None and finished.status is RunStatus.SUCCEEDED
    assert finished.counts == counts and finished.finished_at is not None
    assert finished.duration_seconds is not None and 0 <= finished.duration_seconds < 5
    stored = CustomerRepository(engine).get(customer.id)
    assert stored is not None and stored.consecutive_failures == 0
    assert stored.last_synced_at == finished.finished_at


def test_renew_extends_the_lease_when_attempt_matches(engine: Engine) -> None:
    (run,) = record(engine, [add_customer(engine).id])
    ledger = SyncRunLedger(engine)
    claimed = ledger.claim(run.run_id, "worker-a", 1)
    assert claimed is not None
    assert ledger.renew(run.run_id, claimed.attempt, 600)
    renewed = ledger.get(run.run_id)
    assert renewed is not None and renewed.lease_expires_at is not None
    assert renewed.lease_expires_at > claimed.lease_expires_at + timedelta(seconds=500)
    assert not ledger.renew(run.run_id, claimed.attempt + 1, 600)


def test_release_requeues_the_run_when_shutting_down(engine: Engine) -> None:
    (run,) = record(engine, [add_customer(engine).id])
    ledger = SyncRunLedger(engine)
    claimed = ledger.claim(run.run_id, "worker-a", 60)
    assert claimed is not None
    assert ledger.release(run.run_id, claimed.attempt)
    assert not ledger.release(run.run_id, claimed.attempt)
    again = ledger.claim(run.run_id, "worker-b", 60)
    assert again is not None and again.attempt == claimed.attempt + 1


def test_lost_runs_are_found_when_leases_expired_or_queue_went_stale(engine: Engine) -> None:
    ids = [add_customer(engine, f"c{index}").id for index in range(3)]
    runs = record(engine, ids)
    ledger = SyncRunLedger(engine)
    for run in runs[:2]:
        assert ledger.claim(run.run_id, "worker-a", 600) is not None
    expire_lease(engine, runs[0].run_id)
    assert [r.id for r in ledger.find_expired_leases()] == [runs[0].run_id]
    far_future = datetime.now(UTC) + timedelta(hours=2)
    assert {r.id for r in ledger.find_expired_leases(far_future)} == {
        runs[0].run_id,
        runs[1].run_id,
    }
    assert [r.id for r in ledger.find_stale_queued(3600)] == [runs[2].run_id]
    with engine.begin() as conn:
        conn.execute(update(SyncRunRow).values(not_before_at=db_now(-60)))
    assert ledger.find_stale_queued(3600) == []


def test_list_runs_filters_and_orders_newest_first_when_asked(engine: Engine) -> None:
    customer, other = add_customer(engine, "acme"), add_customer(engine, "globex")
    ledger = SyncRunLedger(engine)
    run_ids = []
    for index in range(3):
        (run,) = record(engine, [customer.id])
        claimed = ledger.claim(run.run_id, "worker-a", 60)
        assert claimed is not None
        if index == 1:
            ledger.finish_failed(run.run_id, claimed.attempt, "ServerError", "HTTP 500")
        else:
            with engine.begin() as conn:
                ledger.finish_succeeded(conn, run.run_id, claimed.attempt, SyncCounts())
        run_ids.append(run.run_id)
    record(engine, [other.id])
    assert [r.id for r in ledger.list_runs(customer_id=customer.id)] == run_ids[::-1]
    assert [r.id for r in ledger.list_runs(customer_id=customer.id, limit=1)] == run_ids[2:]
    assert [r.id for r in ledger.list_runs(failed_only=True)] == [run_ids[1]]
    assert len(ledger.list_runs()) == 4
    assert ledger.get(123_456) is None


@pytest.mark.parametrize("lease_seconds", [0, -1, 10**9])
def test_claim_is_refused_when_lease_is_absurd(engine: Engine, lease_seconds: float) -> None:
    (run,) = record(engine, [add_customer(engine).id])
    with pytest.raises(ValueError, match="lease_seconds"):
        SyncRunLedger(engine).claim(run.run_id, "worker-a", lease_seconds)


def test_duplicate_delivery_is_a_no_op_when_the_run_already_succeeded(engine: Engine) -> None:
    (run,) = record(engine, [add_customer(engine).id])
    ledger = SyncRunLedger(engine)
    claimed = ledger.claim(run.run_id, "worker-a", 60)
    assert claimed is not None
    with engine.begin() as conn:
        ledger.finish_succeeded(conn, run.run_id, claimed.attempt, SyncCounts(listed=1))
    before = ledger.get(run.run_id)
    assert ledger.claim(run.run_id, "worker-b", 60) is None
    assert ledger.get(run.run_id) == before
