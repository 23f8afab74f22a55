"""`workflow-sync status`, `runs` and `retry`: tables and JSON shapes read from the ledger, and
failed runs re-dispatched (recorded first, then enqueued) without doubling a customer's sync.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType

import pytest
from sqlalchemy import Engine

import zuora_workflow_sync.queue.app
from tests.store.factories import PAST, add_many_customers, record, workflow
from zuora_workflow_sync.domain.models import RunRequest, RunStatus, RunTrigger, SyncCounts
from zuora_workflow_sync.store.customers import CustomerRepository
from zuora_workflow_sync.store.runs import SyncRunLedger
from zuora_workflow_sync.store.workflows import apply_sync

from .conftest import Cli, assert_refused

STATUS_KEYS = {
    "id",
    "name",
    "status",
    "last_synced_at",
    "last_outcome",
    "last_run_id",
    "consecutive_failures",
    "live_workflows",
    "attention_reason",
    "circuit",
}
RUN_KEYS = {
    "id",
    "customer_id",
    "customer_name",
    "queue",
    "trigger",
    "status",
    "attempt",
    "max_attempts",
    "full_export",
    "dispatched_at",
    "dispatched_by",
    "not_before_at",
    "started_at",
    "finished_at",
    "duration_seconds",
    "pacing_wait_seconds",
    "counts",
    "error_class",
    "error_message",
}
NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
LEAKY_ERROR = "token call failed\r\nclient_secret=abcdef123456 forged line"


@pytest.fixture
def engine(cli: Cli) -> Iterator[Engine]:
    cli("db", "upgrade")
    built = cli.engine()
    yield built
    built.dispose()


@pytest.fixture
def queue_app() -> ModuleType:
    return zuora_workflow_sync.queue.app


def _succeed(
    engine: Engine, customer_id: int, workflow_ids: list[int], pacing_wait: float = 0.0
) -> int:
    ledger = SyncRunLedger(engine)
    (run,) = record(engine, [customer_id])
    claimed = ledger.claim(run.run_id, "worker-1", 60)
    assert claimed is not None
    with engine.begin() as conn:
        fetched = [workflow(i) for i in workflow_ids]
        counts = apply_sync(conn, customer_id, run.run_id, fetched, set(workflow_ids), True, NOW)
        ledger.finish_succeeded(
            conn, run.run_id, claimed.attempt, counts, pacing_wait_seconds=pacing_wait
        )
    return run.run_id


def _fail(engine: Engine, customer_id: int, message: str = "401 Unauthorized") -> int:
    ledger = SyncRunLedger(engine)
    (run,) = record(engine, [customer_id])
    claimed = ledger.claim(run.run_id, "worker-1", 60)
    assert claimed is not None
    ledger.finish_failed(run.run_id, claimed.attempt, "AuthenticationError", message)
    return run.run_id


def test_status_shows_every_customer_when_runs_and_workflows_exist(
    cli: Cli, engine: Engine
) -> None:
    for name in ("acme", "globex", "initech"):
        cli.add(name)
    _succeed(engine, 1, [10, 11, 12])
    _fail(engine, 2)
    failed = _fail(engine, 2)
    CustomerRepository(engine).set_attention(2, "credentials rejected\nby Zuora")

    rows = json.loads(cli("status", "--json").stdout)
    table = cli("status")

    assert [set(row) for row in rows] == [STATUS_KEYS] * 3
    acme, globex, initech = rows
    assert (acme["last_outcome"], acme["live_workflows"], acme["consecutive_failures"]) == (
        "succeeded",
        3,
        0,
    )
    assert acme["last_synced_at"] is not None
    assert (globex["last_outcome"], globex["last_run_id"]) == ("failed", failed)
    assert globex["consecutive_failures"] == 2
    assert globex["attention_reason"] == "credentials rejected by Zuora"
    assert acme["circuit"] == globex["circuit"] == "closed"
    assert (initech["last_outcome"], initech["live_workflows"]) == (None, 0)
    assert table.exit_code == 0 and "credentials rejected by Zuora" in table.stdout
    assert "succeeded" in table.stdout and "initech" in table.stdout


def test_status_streams_every_customer_when_more_than_a_table_holds(
    cli: Cli, engine: Engine
) -> None:
    add_many_customers(engine, 1_205)

    rows = json.loads(cli("status", "--json").stdout)
    table = cli("status")

    assert len(rows) == 1_205 and rows[-1]["name"] == "customer-001204"
    assert table.stdout.endswith("Only the first 1,000 rows are shown; use --json for all.\n")
    assert "customer-000999" in table.stdout and "customer-001000" not in table.stdout


def test_status_says_so_when_there_are_no_customers(cli: Cli) -> None:
    assert cli("status").stdout == "No customers.\n"
    assert json.loads(cli("status", "--json").stdout) == []


def test_runs_lists_newest_first_when_filtered_by_customer_failure_and_limit(
    cli: Cli, engine: Engine
) -> None:
    cli.add("acme")
    cli.add("globex")
    first = _succeed(engine, 1, [1, 2])
    failed = _fail(engine, 2)
    last = _succeed(engine, 1, [1])

    every = json.loads(cli("runs", "--json").stdout)
    only_failed = json.loads(cli("runs", "--failed", "--json").stdout)
    acme = json.loads(cli("runs", "--customer", "1", "--json").stdout)
    newest = json.loads(cli("runs", "--limit", "1", "--json").stdout)

    assert [run["id"] for run in every] == [last, failed, first]
    assert [set(run) for run in every] == [RUN_KEYS] * 3
    assert [run["id"] for run in only_failed] == [failed]
    assert [run["id"] for run in acme] == [last, first]
    assert [run["id"] for run in newest] == [last]
    assert every[2]["counts"] == {
        "listed": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "tombstoned": 0,
        "api_requests": 0,
        "token_requests": 0,
        "throttled": 0,
    }
    assert every[1]["customer_name"] == "globex" and every[1]["status"] == "failed"
    assert every[1]["trigger"] == "command" and every[1]["attempt"] == 1
    assert [run["pacing_wait_seconds"] for run in every] == [0.0, 0.0, 0.0]


def test_runs_shows_how_long_pacing_held_a_run_back_in_the_table_and_as_json(
    cli: Cli, engine: Engine
) -> None:
    cli.add("acme")
    _succeed(engine, 1, [1, 2], pacing_wait=12.345)

    (shown,) = json.loads(cli("runs", "--json").stdout)
    table = cli("runs")

    assert shown["pacing_wait_seconds"] == 12.345
    assert table.exit_code == 0
    assert "(paced 12.3s)" in " ".join(table.stdout.split())


def test_runs_prints_errors_redacted_on_one_line_when_messages_carry_secrets(
    cli: Cli, engine: Engine
) -> None:
    cli.add("acme")
    _fail(engine, 1, LEAKY_ERROR)

    table = cli("runs")
    shown = json.loads(cli("runs", "--json").stdout)[0]

    assert "abcdef123456" not in table.stdout + json.dumps(shown)
    assert "AuthenticationError: token call failed" in table.stdout
    assert "[REDACTED]" in table.stdout
    assert shown["error_message"] == "token call failed client_secret=[REDACTED] forged line"


@pytest.mark.parametrize("limit", ["0", "-5", "1001", "99999999999999999999", "abc"])
def test_runs_refuses_when_the_limit_is_absurd(cli: Cli, limit: str) -> None:
    assert_refused(cli("runs", "--limit", limit), "--limit")


def test_runs_says_so_when_there_are_no_runs(cli: Cli) -> None:
    assert cli("runs").stdout == "No runs.\n"
    assert json.loads(cli("runs", "--json").stdout) == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((), "give either a RUN_ID or --all-failed"),
        (("1", "--all-failed"), "give either a RUN_ID or --all-failed"),
        (("1", "--queue", "default"), "--queue goes with --all-failed only"),
        (("--all-failed", "--queue", "no such queue!"), "a queue name is"),
        (("99",), "no run with id 99"),
        (("{succeeded}",), "is succeeded; only failed or abandoned runs are retried"),
        (("{paused}",), "is paused; make it active first"),
    ],
)
def test_retry_refuses_and_writes_nothing_when_input_is_bad(
    cli: Cli, engine: Engine, args: tuple[str, ...], fragment: str
) -> None:
    cli.add("acme")
    cli.add("globex")
    runs = {"{succeeded}": str(_succeed(engine, 1, [1])), "{paused}": str(_fail(engine, 2))}
    cli("customers", "set-status", "2", "paused")
    before = cli.dump()

    result = cli("retry", *(runs.get(arg, arg) for arg in args))

    assert_refused(result, fragment)
    assert cli.dump() == before


def test_retry_records_and_enqueues_a_new_run_when_the_run_failed(
    cli: Cli, engine: Engine, queue_app: ModuleType
) -> None:
    cli.add("acme")
    failed = _fail(engine, 1)

    result = cli("retry", str(failed))

    assert result.exit_code == 0, result.output
    newest = SyncRunLedger(engine).list_runs(customer_id=1, limit=1)[0]
    assert result.stdout == f"Retried run {failed} as run {newest.id} for customer: acme\n"
    assert (newest.trigger, newest.status, newest.queue) == (
        RunTrigger.RETRY,
        RunStatus.QUEUED,
        "default",
    )
    assert _pending(cli, queue_app, "default") == 1


def test_retry_skips_the_customer_when_it_already_has_an_active_run(
    cli: Cli, engine: Engine, queue_app: ModuleType
) -> None:
    cli.add("acme")
    failed = _fail(engine, 1)
    record(engine, [1])
    before = cli.dump()

    result = cli("retry", str(failed))

    assert result.exit_code == 0
    assert result.stdout == "Customer 1 (acme) already has an active run; skipped\n"
    assert cli.dump() == before


def test_retry_all_failed_dispatches_each_failed_or_abandoned_customer_once_when_rerun(
    cli: Cli, engine: Engine, queue_app: ModuleType
) -> None:
    for name in ("acme", "globex", "initech", "paused"):
        cli.add(name)
    _fail(engine, 1)
    _succeed(engine, 2, [1])
    (lost,) = record(engine, [3])
    SyncRunLedger(engine).abandon(lost.run_id, 0, "lost in the queue")
    _fail(engine, 4)
    cli("customers", "set-status", "4", "paused")

    first = cli("retry", "--all-failed")
    second = cli("retry", "--all-failed")

    assert first.exit_code == 0, first.output
    lines = first.stdout.splitlines()
    assert lines[-1] == "Retried 2 runs; skipped 0 customers with an active run"
    assert [line.rsplit(": ", 1)[1] for line in lines[:-1]] == ["acme", "initech"]
    assert second.stdout == "Retried 0 runs; skipped 0 customers with an active run\n"
    assert _pending(cli, queue_app, "default") == 2


def test_retry_all_failed_keeps_to_one_queue_when_a_queue_is_named(
    cli: Cli, engine: Engine, queue_app: ModuleType
) -> None:
    cli.add("acme")
    cli.add("globex")
    _fail(engine, 1)
    ledger = SyncRunLedger(engine)
    request = RunRequest(2, PAST)
    (run,) = ledger.record_batch(
        [request], queue="other", trigger=RunTrigger.COMMAND, dispatched_by="t", max_attempts=1
    ).recorded
    claimed = ledger.claim(run.run_id, "worker-1", 60)
    assert claimed is not None
    ledger.finish_failed(run.run_id, claimed.attempt, "ServerError", "503", counts=SyncCounts())

    result = cli("retry", "--all-failed", "--queue", "other")

    assert (
        result.stdout.splitlines()[-1] == "Retried 1 runs; skipped 0 customers with an active run"
    )
    assert (_pending(cli, queue_app, "other"), _pending(cli, queue_app, "default")) == (1, 0)


def test_retry_fails_in_one_line_and_writes_nothing_when_the_queue_is_unreachable(
    cli: Cli, engine: Engine, queue_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.add("acme")
    failed = _fail(engine, 1)
    before = cli.dump()
    monkeypatch.setenv("ZWS_QUEUE_URL", "redis://:hunter2@127.0.0.1:1/0")

    result = cli("retry", str(failed))

    assert_refused(result)
    assert "hunter2" not in result.stderr
    assert cli.dump() == before


def _pending(cli: Cli, queue_app: ModuleType, name: str) -> int:
    job_queue = queue_app.open_queue(f"sqlite:///{cli.home / 'queue.sqlite3'}", name)
    try:
        return int(job_queue.pending_count())
    finally:
        job_queue.close()
