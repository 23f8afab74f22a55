"""Concurrent workers: claims are exclusive, and SQLite writers wait instead of failing."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context

from sqlalchemy import Engine, update

from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.store.engine import create_engine_for, writing
from zuora_workflow_sync.store.runs import SyncRunLedger
from zuora_workflow_sync.store.tables import CustomerRow, WorkflowRow
from zuora_workflow_sync.store.workflows import apply_sync

from .factories import add_many_customers, count_rows, record, workflow

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def test_exactly_one_claim_wins_when_threads_race_for_a_run(engine: Engine) -> None:
    add_many_customers(engine, 1)
    (run,) = record(engine, [1])
    ledger = SyncRunLedger(engine)
    barrier = threading.Barrier(8)

    def _claim(worker: int) -> bool:
        barrier.wait()
        return ledger.claim(run.run_id, f"worker-{worker}", 60) is not None

    with ThreadPoolExecutor(max_workers=8) as pool:
        wins = list(pool.map(_claim, range(8)))
    assert wins.count(True) == 1
    claimed = ledger.get(run.run_id)
    assert claimed is not None and claimed.attempt == 1


def test_sqlite_writer_waits_for_the_lock_when_another_transaction_holds_it(
    sqlite_engine: Engine,
) -> None:
    add_many_customers(sqlite_engine, 1)
    (run,) = record(sqlite_engine, [1])
    holding = threading.Event()

    def _hold_the_write_lock() -> None:
        with writing(sqlite_engine) as conn:
            conn.execute(update(CustomerRow).values(consecutive_failures=0))
            holding.set()
            time.sleep(0.5)

    holder = threading.Thread(target=_hold_the_write_lock)
    holder.start()
    holding.wait(5)
    started = time.monotonic()
    claimed = SyncRunLedger(sqlite_engine).claim(run.run_id, "worker", 60)
    waited = time.monotonic() - started
    holder.join()
    assert claimed is not None
    assert waited > 0.2


def _work_through_runs(url: str, run_ids: list[int], worker: str, start_at: float) -> list[int]:
    """One worker process: claim every run it can, sync it and finish it."""
    engine = create_engine_for(url)
    ledger = SyncRunLedger(engine)
    won: list[int] = []
    try:
        time.sleep(max(0.0, start_at - time.time()))
        for run_id in run_ids:
            claimed = ledger.claim(run_id, worker, 60)
            if claimed is None:
                continue
            with engine.begin() as conn:
                ledger.fence(conn, run_id, claimed.attempt)
                fetched = [workflow(1), workflow(2, worker)]
                counts = apply_sync(conn, claimed.customer_id, run_id, fetched, {1, 2}, True, NOW)
                ledger.finish_succeeded(conn, run_id, claimed.attempt, counts)
            won.append(run_id)
    finally:
        engine.dispose()
    return won


def test_processes_share_runs_without_lock_errors_when_writing_one_sqlite_file(
    sqlite_engine: Engine, sqlite_url: str
) -> None:
    add_many_customers(sqlite_engine, 40)
    run_ids = [run.run_id for run in record(sqlite_engine, list(range(1, 41)))]
    start_at = time.time() + 1.5
    with ProcessPoolExecutor(max_workers=4, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(
                _work_through_runs,
                sqlite_url,
                run_ids[index * 10 :] + run_ids[: index * 10],
                f"worker-{index}",
                start_at,
            )
            for index in range(4)
        ]
        won = [run_id for future in futures for run_id in future.result(timeout=60)]
    assert sorted(won) == sorted(run_ids)
    runs = SyncRunLedger(sqlite_engine).list_runs(limit=100)
    assert {run.status for run in runs} == {RunStatus.SUCCEEDED}
    assert {run.attempt for run in runs} == {1}
    assert count_rows(sqlite_engine, WorkflowRow) == 80
