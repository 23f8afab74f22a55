"""A customer a worker syncs between the dispatch's SELECT of due customers and the ledger's
INSERT is not dispatched again: the INSERT checks `last_synced_at` itself (both engines)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update

from zuora_workflow_sync.domain.models import RunRequest
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.store.engine import writing
from zuora_workflow_sync.store.runs import RecordResult, SyncRunLedger
from zuora_workflow_sync.store.tables import CustomerRow
from zuora_workflow_sync.sync.dispatch import DispatchOptions
from zuora_workflow_sync.sync.dispatch_now import dispatch_now

from .conftest import AddCustomer


class SyncedMeanwhile(SyncRunLedger):
    """The real ledger, but `synced` customers finish a sync (a worker's commit) just before
    each batch is inserted: after the dispatch planned them, before the INSERT."""

    def __init__(self, runtime: Runtime, synced: Sequence[int]) -> None:
        super().__init__(runtime.engine)
        self._engine_of_test = runtime.engine
        self._synced = list(synced)

    def record_batch(self, requests: Sequence[RunRequest], **options: Any) -> RecordResult:
        with writing(self._engine_of_test) as conn:
            conn.execute(
                update(CustomerRow)
                .where(CustomerRow.id.in_(self._synced))
                .values(last_synced_at=datetime.now(UTC))
            )
        return super().record_batch(requests, **options)


def _dispatched(runtime: Runtime, options: DispatchOptions) -> list[int]:
    dispatch_now(runtime, options, say=lambda line: None)
    return sorted(run.customer_id for run in runtime.ledger.list_runs())


def test_dispatch_skips_a_customer_when_it_was_synced_between_plan_and_insert(
    runtime: Runtime, add_customer: AddCustomer
) -> None:
    synced, other = add_customer("tenant-001"), add_customer("tenant-002")
    runtime.ledger = SyncedMeanwhile(runtime, [synced.id])

    assert _dispatched(runtime, DispatchOptions(customer_id=None)) == [other.id]


def test_dispatch_of_one_customer_skips_it_when_it_was_synced_between_plan_and_insert(
    runtime: Runtime, add_customer: AddCustomer
) -> None:
    synced = add_customer("tenant-001")
    runtime.ledger = SyncedMeanwhile(runtime, [synced.id])

    assert _dispatched(runtime, DispatchOptions(customer_id=synced.id)) == []


@pytest.mark.parametrize("customer_id", [None, 1])
def test_forced_dispatch_records_the_run_when_the_customer_was_synced_meanwhile(
    runtime: Runtime, add_customer: AddCustomer, customer_id: int | None
) -> None:
    synced = add_customer("tenant-001")
    runtime.ledger = SyncedMeanwhile(runtime, [synced.id])

    options = DispatchOptions(customer_id=customer_id, force=True)
    assert _dispatched(runtime, options) == [synced.id]
