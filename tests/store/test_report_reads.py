"""Reads behind the operator's commands: live workflows and newest run per customer, new secret."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.store.customers import CustomerNotFoundError, CustomerRepository
from zuora_workflow_sync.store.runs import SyncRunLedger
from zuora_workflow_sync.store.workflows import WorkflowRepository, apply_sync

from .factories import add_customer, add_many_customers, record, workflow

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def test_count_live_leaves_out_tombstones_when_workflows_were_deleted(engine: Engine) -> None:
    acme, globex, empty = (add_customer(engine, name).id for name in ("acme", "globex", "empty"))
    runs = {run.customer_id: run.run_id for run in record(engine, [acme, globex])}
    for customer_id, ids in ((acme, {1, 2, 3}), (globex, {7})):
        with engine.begin() as conn:
            fetched = [workflow(i) for i in sorted(ids)]
            apply_sync(conn, customer_id, runs[customer_id], fetched, ids, True, NOW)
    with engine.begin() as conn:
        apply_sync(conn, acme, runs[acme], [], {1, 2}, True, NOW)

    counts = WorkflowRepository(engine).count_live([acme, globex, empty])

    assert counts == {acme: 2, globex: 1}


def test_latest_runs_returns_newest_per_customer_when_many_ids_are_asked(engine: Engine) -> None:
    add_many_customers(engine, 1200)
    ids = [customer.id for customer in CustomerRepository(engine).list(limit=1200)]
    ledger = SyncRunLedger(engine)
    first = {run.customer_id: run.run_id for run in record(engine, ids)}
    for run_id in (first[ids[0]], first[ids[-1]]):
        claimed = ledger.claim(run_id, "worker", 60)
        assert claimed is not None
        ledger.finish_failed(run_id, claimed.attempt, "AuthenticationError", "401")
    (second,) = record(engine, [ids[0]])

    latest = ledger.latest_runs(ids)

    assert len(latest) == 1200
    assert latest[ids[0]].id == second.run_id and latest[ids[0]].status is RunStatus.QUEUED
    assert latest[ids[-1]].status is RunStatus.FAILED
    assert ledger.latest_runs([]) == {}


def test_set_client_secret_replaces_token_and_clears_attention_when_rotated(
    engine: Engine,
) -> None:
    customers = CustomerRepository(engine)
    customer = add_customer(engine, "acme")
    customers.set_attention(customer.id, "401 from the token endpoint")

    customers.set_client_secret(customer.id, "gAAAAA-new-token")

    stored = customers.get(customer.id)
    assert stored is not None
    assert stored.client_secret_encrypted == "gAAAAA-new-token"
    assert stored.attention_reason is None
    with pytest.raises(CustomerNotFoundError):
        customers.set_client_secret(customer.id + 1, "gAAAAA-other")
