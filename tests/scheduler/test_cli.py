"""`workflow-sync scheduler`: what it prints, and start-up refusals of it and the worker (F22)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from tests.store.factories import add_customer
from zuora_workflow_sync.cli.app import app
from zuora_workflow_sync.store.engine import create_engine_for
from zuora_workflow_sync.store.leases import LeaseRepository
from zuora_workflow_sync.store.migrate import upgrade
from zuora_workflow_sync.store.runs import SyncRunLedger
from zuora_workflow_sync.sync.schedule import SCHEDULER_LEASE

BIN = Path(sys.executable).parent
OWNER_PREFIX = "Scheduler started (owner "


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty ZWS_HOME; the root conftest removes the command's log handler afterwards."""
    for name in [name for name in os.environ if name.startswith("ZWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ZWS_HOME", str(tmp_path))
    monkeypatch.setenv("ZWS_STAGGER_MAX_SECONDS", "0")
    monkeypatch.setenv("ZWS_STAGGER_MIN_SECONDS", "0")
    # The factories' customers hold (fake) encrypted secrets: a key must exist for a dispatch.
    monkeypatch.setenv("ZWS_SECRET_KEYS", Fernet.generate_key().decode())
    yield tmp_path


def _database(home: Path) -> str:
    url = f"sqlite:///{home / 'zws.sqlite3'}"
    upgrade(url)
    return url


def test_scheduler_once_says_it_holds_the_lease_and_dispatches_when_it_is_alone(
    home: Path,
) -> None:
    engine = create_engine_for(_database(home))
    try:
        add_customer(engine, name="acme")
        add_customer(engine, name="globex")

        result = CliRunner().invoke(app, ["scheduler", "--once"])

        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert lines[0].startswith(OWNER_PREFIX) and lines[0].endswith(")")
        assert lines[1:] == [
            "Holding the scheduler lease: this scheduler dispatches and repairs",
            "Dispatching sync jobs for 2 customers",
            "Sync jobs dispatched for 2 customers",
            "Repair: 0 re-enqueued after a lost worker, 0 after a lost job, 0 failed",
            "Scheduler stopped",
        ]
        assert LeaseRepository(engine).holder(SCHEDULER_LEASE) is None
        again = CliRunner().invoke(app, ["scheduler", "--once"])
        assert again.stdout.splitlines()[2] == "Scheduled dispatch: no cron tick due"
        assert len(SyncRunLedger(engine).list_runs()) == 2
    finally:
        engine.dispose()


def test_scheduler_once_stands_by_when_another_scheduler_holds_the_lease(home: Path) -> None:
    engine = create_engine_for(_database(home))
    try:
        add_customer(engine)
        assert LeaseRepository(engine).acquire(SCHEDULER_LEASE, "other-host:42:abc", 60)

        result = CliRunner().invoke(app, ["scheduler", "--once"])

        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[1:] == [
            "Standing by: the scheduler lease is held by other-host:42:abc",
            "Scheduler stopped",
        ]
        assert SyncRunLedger(engine).list_runs() == []
        held = LeaseRepository(engine).holder(SCHEDULER_LEASE)
        assert held is not None and held.owner == "other-host:42:abc"
    finally:
        engine.dispose()


def test_scheduler_refuses_to_start_in_one_line_when_the_cron_is_invalid(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZWS_SCHEDULE_CRON", "0 25 * * *")

    result = CliRunner().invoke(app, ["scheduler", "--once"])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "Error: invalid setting ZWS_SCHEDULE_CRON: '0 25 * * *': Bad hour"
    ]


def _refusal(tmp_path: Path, command: list[str], settings: dict[str, str]) -> str:
    """The one line a command prints when it refuses `settings`, having touched nothing."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZWS_")}
    env.update({"ZWS_HOME": str(tmp_path), **settings})

    result = subprocess.run(
        [str(BIN / "workflow-sync"), *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert not (tmp_path / "zws.sqlite3").exists()  # refused before touching anything
    (line,) = result.stderr.splitlines()
    return line


@pytest.mark.parametrize("command", [["worker", "--drain"], ["scheduler", "--once"]])
@pytest.mark.parametrize("heartbeat", ["30", "15.5"])
def test_command_refuses_to_start_in_one_line_when_the_heartbeat_is_not_well_within_the_lease(
    tmp_path: Path, command: list[str], heartbeat: str
) -> None:
    line = _refusal(
        tmp_path, command, {"ZWS_LEASE_SECONDS": "30", "ZWS_HEARTBEAT_SECONDS": heartbeat}
    )
    assert line.startswith("Error: invalid setting")
    assert "heartbeat_seconds must be at most half of lease_seconds" in line


def test_command_refuses_in_one_line_when_the_no_progress_timeout_is_within_a_request_deadline(
    tmp_path: Path,
) -> None:
    settings = {"ZWS_HTTP_DEADLINE_SECONDS": "120", "ZWS_JOB_IDLE_TIMEOUT_SECONDS": "120"}
    line = _refusal(tmp_path, ["worker", "--drain"], settings)
    assert "job_idle_timeout_seconds must be longer than http_deadline_seconds" in line


def test_command_refuses_in_one_line_naming_what_replaced_the_job_timeout_when_it_is_set(
    tmp_path: Path,
) -> None:
    line = _refusal(tmp_path, ["worker", "--drain"], {"ZWS_JOB_TIMEOUT_SECONDS": "600"})
    assert line.startswith("Error: ZWS_JOB_TIMEOUT_SECONDS is no longer read: replaced by")
    assert "ZWS_JOB_IDLE_TIMEOUT_SECONDS" in line and "ZWS_JOB_MAX_SECONDS" in line
