"""`sync-workflows --spread SECONDS`: parsed, validated, dispatched evenly, shown in --json and
--dry-run; the ledger is read back to check the delays."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner, Result

from zuora_workflow_sync.cli.sync_workflows import app
from zuora_workflow_sync.domain.models import SyncRun
from zuora_workflow_sync.store.runs import SyncRunLedger

from .conftest import Cli


def _sync_workflows(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _runs(cli: Cli) -> list[SyncRun]:
    engine = cli.engine()
    try:
        runs = SyncRunLedger(engine).list_runs(limit=100)
    finally:
        engine.dispose()
    return sorted(runs, key=lambda run: run.customer_id)


def _add(cli: Cli, count: int) -> None:
    for index in range(count):
        cli.add(f"customer {index}")


def test_spread_dispatches_customers_evenly_over_the_window(cli: Cli) -> None:
    _add(cli, 4)

    done = _sync_workflows("--spread", "120", "--json")

    assert done.exit_code == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["spread_seconds"] == 120.0
    assert result["queued_count"] == 4
    runs = _runs(cli)
    first = runs[0].not_before_at
    offsets = [(run.not_before_at - first).total_seconds() for run in runs]
    assert offsets == pytest.approx([0.0, 30.0, 60.0, 90.0], abs=1e-6)


def test_spread_is_null_in_json_when_one_customer_is_named(cli: Cli) -> None:
    _add(cli, 2)

    done = _sync_workflows("2", "--spread", "120", "--json")

    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["spread_seconds"] is None
    assert [run.customer_id for run in _runs(cli)] == [2]


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "604801"])
def test_bad_spread_fails_with_one_line_and_dispatches_nothing(cli: Cli, value: str) -> None:
    _add(cli, 1)

    done = _sync_workflows("--spread", value)

    assert done.exit_code == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Sync failed: invalid spread"), done.stderr
    assert _runs(cli) == []


def test_spread_that_is_not_a_number_is_a_usage_error(cli: Cli) -> None:
    done = _sync_workflows("--spread", "soon")

    assert done.exit_code == 2
    assert "--spread" in done.stderr


def test_dry_run_shows_the_spread_and_dispatches_nothing(cli: Cli) -> None:
    _add(cli, 2)

    done = _sync_workflows("--dry-run", "--spread", "3600")

    assert done.exit_code == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (
        "Dry run: 2 to dispatch, 0 skipped, spread evenly over 3600 seconds"
    )
    assert _runs(cli) == []


def test_help_explains_the_spread(cli: Cli) -> None:
    done = _sync_workflows("--help")

    text = " ".join(done.stdout.split())  # the help is wrapped to the terminal's width
    assert "--spread SECONDS" in text and "No effect with CUSTOMER_ID" in text
