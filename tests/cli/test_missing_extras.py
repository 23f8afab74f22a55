"""The core install without the `[postgres]` and `[redis]` extras, in real processes.

A finder on `sys.meta_path` makes the drivers' imports fail as they do when the packages are not
installed (the suite itself runs with every extra installed), then the entry point runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zuora_workflow_sync.simulator import SimulatorAdmin

DRIVERS = ("psycopg", "psycopg_binary", "psycopg_c", "redis", "hiredis")
ENTRY_POINTS = {
    "workflow-sync": "zuora_workflow_sync.cli",
    "sync-workflows": "zuora_workflow_sync.cli.sync_workflows",
}
# Runs an entry point with the DRIVERS unimportable: argv[1] names it, the rest is its argv.
WITHOUT_DRIVERS = f"""
import importlib, sys
from importlib.abc import MetaPathFinder

class Absent(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {DRIVERS!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Absent())
entry = {ENTRY_POINTS!r}[sys.argv[1]]
sys.argv = sys.argv[1:]
importlib.import_module(entry).main()
"""
POSTGRES_LINE = "PostgreSQL support is not installed: pip install 'zuora-workflow-sync[postgres]'"
REDIS_LINE = "Redis support is not installed: pip install 'zuora-workflow-sync[redis]'"
NO_SERVER_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:1/zws"
NO_SERVER_REDIS = "redis://127.0.0.1:1/0"


def run_without_drivers(
    home: Path, command: str, *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("ZWS_")}
    environment.update(ZWS_HOME=str(home), ZWS_STAGGER_MIN_SECONDS="0", COLUMNS="200")
    environment.update(ZWS_STAGGER_MAX_SECONDS="0", **(env or {}))
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_DRIVERS, command, *args],
        input=stdin,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("setting", "command", "line"),
    [
        pytest.param(
            ("ZWS_DATABASE_URL", NO_SERVER_POSTGRES),
            ("workflow-sync", "status"),
            POSTGRES_LINE,
            id="postgresql+psycopg-status",
        ),
        pytest.param(
            ("ZWS_DATABASE_URL", NO_SERVER_POSTGRES.replace("+psycopg", "")),
            ("workflow-sync", "db", "upgrade"),
            POSTGRES_LINE,
            id="postgresql-db-upgrade",
        ),
        pytest.param(
            ("ZWS_DATABASE_URL", NO_SERVER_POSTGRES),
            ("sync-workflows",),
            POSTGRES_LINE,
            id="postgresql-sync-workflows",
        ),
        pytest.param(
            ("ZWS_QUEUE_URL", NO_SERVER_REDIS),
            ("workflow-sync", "worker", "--drain"),
            REDIS_LINE,
            id="redis-queue-worker",
        ),
        pytest.param(
            ("ZWS_QUEUE_URL", NO_SERVER_REDIS),
            ("sync-workflows",),
            REDIS_LINE,
            id="redis-queue-sync-workflows",
        ),
        pytest.param(
            ("ZWS_COORDINATION_URL", NO_SERVER_REDIS),
            ("workflow-sync", "status"),
            REDIS_LINE,
            id="redis-coordination-status",
        ),
    ],
)
def test_one_line_names_the_extra_when_a_url_needs_a_missing_driver(
    tmp_path: Path, setting: tuple[str, str], command: tuple[str, ...], line: str
) -> None:
    result = run_without_drivers(tmp_path, *command, env=dict([setting]))

    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.endswith(f": {line}\n")
    assert not (tmp_path / "zws.sqlite3").exists()  # refused before any work


def test_core_syncs_a_customer_on_sqlite_when_no_driver_is_installed(
    tmp_path: Path, sim_admin: SimulatorAdmin
) -> None:
    tenant = next(t["name"] for t in sim_admin.tenants() if not t["multi_entity"])
    credentials = sim_admin.credentials(tenant)
    add = ["customers", "add", "--name", "acme", "--base-url", credentials.base_url]
    add += ["--client-id", credentials.client_id, "--secret-stdin"]

    steps = [
        run_without_drivers(tmp_path, "workflow-sync", *add, stdin=credentials.client_secret),
        run_without_drivers(tmp_path, "sync-workflows"),
        run_without_drivers(tmp_path, "workflow-sync", "worker", "--drain"),
        status := run_without_drivers(tmp_path, "workflow-sync", "status", "--json"),
    ]

    for step in steps:
        assert step.returncode == 0, step.stderr
        assert "Traceback" not in step.stderr
    (row,) = json.loads(status.stdout)
    assert row["last_outcome"] == "succeeded"
    assert row["live_workflows"] == len(sim_admin.workflows(tenant)) > 0
