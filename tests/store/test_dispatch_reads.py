"""Ledger and customer reads/writes behind dispatch, dry run and drain, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from zuora_workflow_sync.domain.models import CustomerStatus, RunStatus
from zuora_workflow_sync.store.customers import CustomerRepository
from zuora_workflow_sync.store.runs import SyncRunLedger

from .factories import add_customer, add_many_customers, record


def test_count_due_matches_iter_due_when_statuses_and_windows_differ(engine: Engine) -> None:
    add_many_customers(engine, 30)
    customers = CustomerRepository(engine)
    ids = [c.id for c in customers.list()]
    customers.set_status(ids[0], CustomerStatus.PAUSED)
    now = datetime.now(UTC)
    for force in (False, True):
        due = list(customers.iter_due(now, 3600, force=force, batch_size=7))
        assert customers.count_due(now, 3600, force=force) == len(due) == 29


def test_active_runs_are_found_and_counted_per_queue(engine: Engine) -> None:
    acme, globex, initech = (add_customer(engine, n).id for n in ("acme", "globex", "initech"))
    runs = {r.customer_id: r.run_id for r in record(engine, [acme, globex])}
    ledger = SyncRunLedger(engine)
    assert ledger.active_run_ids([acme, globex, initech]) == runs
    assert ledger.count_active(["default"]) == 2
    assert ledger.count_active(["other"]) == 0
    claimed = ledger.claim(runs[acme], "w", 60)
    assert claimed is not None
    ledger.finish_failed(runs[acme], claimed.attempt, "X", "boom")
    assert ledger.count_active(["default", "other"]) == 1
    assert ledger.active_run_ids([acme]) == {}


def test_abandon_undispatched_ends_queued_runs_without_blaming_the_customer(
    engine: Engine,
) -> None:
    acme, globex = (add_customer(engine, n).id for n in ("acme", "globex"))
    runs = {r.customer_id: r.run_id for r in record(engine, [acme, globex])}
    ledger = SyncRunLedger(engine)
    assert ledger.claim(runs[globex], "w", 60) is not None  # claimed runs are left alone

    assert ledger.abandon_undispatched(list(runs.values()), "queue unavailable: down") == 1

    abandoned = ledger.get(runs[acme])
    assert abandoned is not None and abandoned.status is RunStatus.ABANDONED
    assert abandoned.error_message == "queue unavailable: down"
    customer = CustomerRepository(engine).get(acme)
    assert customer is not None and customer.consecutive_failures == 0
    running = ledger.get(runs[globex])
    assert running is not None and running.status is RunStatus.RUNNING
    # the customer can be dispatched again at once
    again = record(engine, [acme], not_before_at=datetime.now(UTC) + timedelta(seconds=1))
    assert len(again) == 1
