"""The ledger's side of job retries: a failed attempt queues its run again, fenced, with the
error kept; `fail_attempt` ends a run inside the caller's transaction, fenced too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.store.engine import writing
from zuora_workflow_sync.store.runs import LeaseLostError, SyncRunLedger

from .factories import add_customer, expire_lease, record


def test_retry_later_queues_the_run_again_with_its_error_when_the_attempt_holds_it(
    engine: Engine,
) -> None:
    customer = add_customer(engine)
    (run,) = record(engine, [customer.id])
    ledger = SyncRunLedger(engine)
    claimed = ledger.claim(run.run_id, "w1", 60)
    assert claimed is not None

    before = datetime.now(UTC)
    assert ledger.retry_later(run.run_id, 1, 120.0, "ServerError", "boom (HTTP 503)")

    stored = ledger.get(run.run_id)
    assert stored is not None and stored.status is RunStatus.QUEUED
    assert (stored.attempt, stored.lease_owner, stored.lease_expires_at) == (1, None, None)
    assert (stored.error_class, stored.error_message) == ("ServerError", "boom (HTTP 503)")
    # Due in 120 s on the database clock (a few seconds of slack for the test machine).
    wait = (stored.not_before_at - before).total_seconds()
    assert 115 < wait < 125
    assert ledger.claim(run.run_id, "w2", 60) is None  # not due yet
    assert not ledger.retry_later(run.run_id, 1, 0.0, "ServerError", "again")  # not running


def test_retry_later_is_refused_when_a_newer_attempt_holds_the_run(engine: Engine) -> None:
    customer = add_customer(engine)
    (run,) = record(engine, [customer.id])
    ledger = SyncRunLedger(engine)
    assert ledger.claim(run.run_id, "stale", 60) is not None
    expire_lease(engine, run.run_id)
    assert ledger.claim(run.run_id, "fresh", 60) is not None

    assert not ledger.retry_later(run.run_id, 1, 0.0, "ServerError", "from the stale worker")

    stored = ledger.get(run.run_id)
    assert stored is not None and stored.status is RunStatus.RUNNING
    assert (stored.attempt, stored.lease_owner, stored.error_class) == (2, "fresh", None)


def test_retry_later_is_refused_when_no_attempt_is_left(engine: Engine) -> None:
    customer = add_customer(engine)
    (run,) = record(engine, [customer.id], max_attempts=1)
    ledger = SyncRunLedger(engine)
    assert ledger.claim(run.run_id, "w1", 60) is not None
    assert not ledger.retry_later(run.run_id, 1, 0.0, "ServerError", "boom")
    stored = ledger.get(run.run_id)
    assert stored is not None and stored.status is RunStatus.RUNNING


def test_retried_run_is_claimed_as_the_next_attempt_when_due(engine: Engine) -> None:
    customer = add_customer(engine)
    (run,) = record(engine, [customer.id])
    ledger = SyncRunLedger(engine)
    assert ledger.claim(run.run_id, "w1", 60) is not None
    assert ledger.retry_later(run.run_id, 1, 0.0, "RequestTimeoutError", "slow")
    again = ledger.claim(run.run_id, "w2", 60)
    assert again is not None and again.attempt == 2


def test_fail_attempt_ends_the_run_without_counting_when_it_holds_the_run(
    engine: Engine,
) -> None:
    customer = add_customer(engine)
    (run,) = record(engine, [customer.id])
    ledger = SyncRunLedger(engine)
    assert ledger.claim(run.run_id, "w1", 60) is not None
    with writing(engine) as conn:
        assert ledger.fail_attempt(conn, run.run_id, 1, "NotFoundError", "gone") == customer.id
    stored = ledger.get(run.run_id)
    assert stored is not None and stored.status is RunStatus.FAILED
    assert stored.finished_at is not None and stored.error_class == "NotFoundError"
    with writing(engine) as conn, pytest.raises(LeaseLostError):
        ledger.fail_attempt(conn, run.run_id, 1, "NotFoundError", "twice")
    assert stored.finished_at - stored.dispatched_at < timedelta(hours=1)
