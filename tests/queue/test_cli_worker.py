"""`workflow-sync worker`: options, one-line errors, and the ledger half of `--drain`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from tests.store.factories import add_customer, record
from zuora_workflow_sync.cli.app import app
from zuora_workflow_sync.cli.worker import _ledger_idle
from zuora_workflow_sync.domain.models import SyncCounts
from zuora_workflow_sync.store.engine import create_engine_for, writing
from zuora_workflow_sync.store.migrate import upgrade
from zuora_workflow_sync.store.runs import SyncRunLedger


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """ZWS_HOME in tmp_path (the root conftest removes the command's log handler afterwards)."""
    for name in ("ZWS_DATABASE_URL", "ZWS_QUEUE_URL", "ZWS_DEFAULT_QUEUE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZWS_HOME", str(tmp_path))
    yield tmp_path


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    upgrade(url)
    engine = create_engine_for(url)
    yield engine
    engine.dispose()


def test_worker_command_exits_when_drain_finds_nothing_to_do(home: Path) -> None:
    arguments = ["worker", "--drain", "--queue", "q1", "--queue", "q2", "--queue", "q1"]

    result = CliRunner().invoke(app, [*arguments, "--concurrency", "2"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Worker started: queues=q1,q2, concurrency=2",
        "Worker stopped: drained",
    ]
    assert (home / "queue.sqlite3").is_file()


def test_worker_command_fails_in_one_line_when_queue_file_cannot_open(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZWS_QUEUE_URL", "sqlite:////proc/queue.sqlite3")

    result = CliRunner().invoke(app, ["worker", "--drain"])

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: queue workflows unavailable (unable to open database file)"
    )
    assert "Worker started" not in result.stdout


@pytest.mark.parametrize("option", [["--queue", "bad name"], ["--concurrency", "0"]])
def test_worker_command_refuses_when_an_option_is_invalid(home: Path, option: list[str]) -> None:
    result = CliRunner().invoke(app, ["worker", "--drain", *option])

    assert result.exit_code != 0
    assert "Worker started" not in result.stdout


def test_ledger_is_busy_when_a_run_of_the_queue_is_queued_or_running(engine: Engine) -> None:
    ledger = SyncRunLedger(engine)
    (run,) = record(engine, [add_customer(engine).id])  # queue "default"
    mine, other = _ledger_idle(ledger, ["default"]), _ledger_idle(ledger, ["other"])
    assert (mine(), other()) == (False, True)

    claimed = ledger.claim(run.run_id, "host:1:default:Worker-1", 60.0)
    assert claimed is not None
    assert (mine(), other()) == (False, True)

    with writing(engine) as conn:
        ledger.finish_succeeded(conn, run.run_id, claimed.attempt, SyncCounts())
    assert (mine(), other()) == (True, True)
