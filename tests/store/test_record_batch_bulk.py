"""`record_batch`: one INSERT ... SELECT a batch, writing the rows a plain insert writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, text

from zuora_workflow_sync.domain.models import RunRequest, RunStatus, RunTrigger
from zuora_workflow_sync.store.runs import SyncRunLedger
from zuora_workflow_sync.store.tables import CustomerRow, SyncRunRow

from .factories import add_customer, add_many_customers, count_rows

NOW = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def _record(engine: Engine, requests: list[RunRequest], batch_size: int = 500) -> Any:
    return SyncRunLedger(engine).record_batch(
        requests,
        queue="workflows",
        trigger=RunTrigger.COMMAND,
        dispatched_by="ops@host",
        max_attempts=3,
        batch_size=batch_size,
    )


def _stored(engine: Engine, customer_id: int) -> dict[str, Any]:
    """The row as the driver returns it (SQLite: the stored text), id and customer left out."""
    query = text("SELECT * FROM sync_runs WHERE customer_id = :customer_id")
    with engine.connect() as conn:
        row = conn.execute(query, {"customer_id": customer_id}).one()
    return {k: v for k, v in row._mapping.items() if k not in ("id", "customer_id")}


def test_recorded_row_is_the_row_a_plain_insert_writes(engine: Engine) -> None:
    bulk, plain = add_customer(engine, "bulk"), add_customer(engine, "plain")
    (recorded,) = _record(engine, [RunRequest(bulk.id, NOW, full_export=True)]).recorded
    run = SyncRunLedger(engine).get(recorded.run_id)
    assert run is not None
    with engine.begin() as conn:
        conn.execute(
            insert(SyncRunRow).values(
                customer_id=plain.id,
                queue="workflows",
                trigger="command",
                status="queued",
                dispatched_at=run.dispatched_at,
                not_before_at=NOW,
                attempt=0,
                max_attempts=3,
                dispatched_by="ops@host",
                full_export=True,
            )
        )

    assert _stored(engine, bulk.id) == _stored(engine, plain.id)
    assert (run.status, run.not_before_at, run.full_export) == (RunStatus.QUEUED, NOW, True)
    assert recorded.not_before_at == NOW and recorded.not_before_at.tzinfo is UTC


def test_not_before_is_stored_in_utc_when_given_with_another_offset(engine: Engine) -> None:
    customer = add_customer(engine)
    local = NOW.astimezone(timezone(timedelta(hours=5, minutes=30)))

    (recorded,) = _record(engine, [RunRequest(customer.id, local)]).recorded

    run = SyncRunLedger(engine).get(recorded.run_id)
    assert run is not None and run.not_before_at == NOW and run.not_before_at.tzinfo is UTC
    assert recorded.not_before_at == NOW and recorded.not_before_at.tzinfo is UTC


def test_naive_not_before_is_refused_and_nothing_is_recorded(engine: Engine) -> None:
    customer = add_customer(engine)

    with pytest.raises(ValueError, match="naive datetime"):
        _record(engine, [RunRequest(customer.id, NOW.replace(tzinfo=None))])

    assert count_rows(engine, SyncRunRow) == 0


def test_every_run_is_recorded_when_batches_hold_thousands(engine: Engine) -> None:
    add_many_customers(engine, 2500)
    with engine.connect() as conn:
        ids = list(conn.execute(select(CustomerRow.id).order_by(CustomerRow.id)).scalars())
    _record(engine, [RunRequest(customer_id, NOW) for customer_id in ids[:700]])
    requests = [
        RunRequest(customer_id, NOW + timedelta(microseconds=customer_id)) for customer_id in ids
    ]

    result = _record(engine, requests, batch_size=10_000)

    assert [run.customer_id for run in result.recorded] == ids[700:]
    assert sorted(result.skipped_customer_ids) == ids[:700]
    assert len({run.run_id for run in result.recorded}) == 1800
    assert all(
        run.not_before_at == NOW + timedelta(microseconds=run.customer_id)
        for run in result.recorded
    )
    assert count_rows(engine, SyncRunRow) == 2500
    stored = SyncRunLedger(engine).get(result.recorded[-1].run_id)
    assert stored is not None and stored.not_before_at == result.recorded[-1].not_before_at
