"""What a CLI start imports, in fresh processes: each command loads only what it uses.

`workflow-sync --help` needs Typer and rich (its help is rich's), no database, HTTP client or
queue; `status` and `sync-workflows --dry-run` need SQLAlchemy, the settings and the store, and
skip Alembic while the schema is at the head revision. benchmarks/cli_start.py times them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from zuora_workflow_sync.cli.app import COMMANDS, app, register
from zuora_workflow_sync.cli.version import VersionFlag
from zuora_workflow_sync.store import migrate

# Runs an entry point (argv[1]: its module, the rest: its argv), then writes the names of every
# module loaded to the file named by argv[2] (not the None placeholders of refused imports).
RUN_AND_LIST = """
import importlib, json, sys
module, out = sys.argv[1], sys.argv[2]
sys.argv = ["prog", *sys.argv[3:]]
try:
    importlib.import_module(module).main()
except SystemExit:
    pass
finally:
    with open(out, "w") as handle:
        json.dump(sorted(name for name, m in sys.modules.items() if m is not None), handle)
"""
# Needed by no start: servers, the queue, the drivers of the scaled-out mode, HTTP clients.
NEVER = (
    "aiohttp",
    "huey",
    "psycopg",
    "redis",
    "httpx",
    "starlette",
    "jinja2",
    "uvicorn",
    "prometheus_client",
    "zuora_workflow_sync.simulator",
    "zuora_workflow_sync.web",
    "zuora_workflow_sync.queue",
    "zuora_workflow_sync.zuora.client",
)
# Needed by commands that open the database, never by --help.
DATABASE = ("sqlalchemy", "pydantic_settings", "cryptography", "zuora_workflow_sync.store")
WORKFLOW_SYNC = "zuora_workflow_sync.cli"
SYNC_WORKFLOWS = "zuora_workflow_sync.cli.sync_workflows"


def loaded_modules(home: Path, entry: str, *argv: str) -> set[str]:
    """The modules a fresh process has loaded after running `entry` with `argv`."""
    out = home / "modules.json"
    env = {name: value for name, value in os.environ.items() if not name.startswith("ZWS_")}
    env["ZWS_HOME"] = str(home)
    command = [sys.executable, "-c", RUN_AND_LIST, entry, str(out), *argv]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return set(json.loads(out.read_text()))


def present(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    """The `packages` (or any of their submodules) found in `modules`."""
    return [
        package
        for package in packages
        if any(name == package or name.startswith(package + ".") for name in modules)
    ]


@pytest.fixture
def migrated_home(tmp_path: Path) -> Path:
    migrate.upgrade(f"sqlite:///{tmp_path / 'zws.sqlite3'}")
    return tmp_path


def test_help_imports_no_database_http_or_queue_module_when_it_lists_the_commands(
    tmp_path: Path,
) -> None:
    modules = loaded_modules(tmp_path, WORKFLOW_SYNC, "--help")
    assert present(modules, (*NEVER, *DATABASE, "alembic")) == []
    cli_modules = {name for name in modules if name.startswith("zuora_workflow_sync.cli.")}
    assert cli_modules == {"zuora_workflow_sync.cli.app", "zuora_workflow_sync.cli.version"}


def test_sync_workflows_help_imports_no_http_client_or_queue(tmp_path: Path) -> None:
    modules = loaded_modules(tmp_path, SYNC_WORKFLOWS, "--help")
    assert present(modules, (*NEVER, "alembic")) == []


def test_status_skips_alembic_and_http_when_the_schema_is_at_head(migrated_home: Path) -> None:
    modules = loaded_modules(migrated_home, WORKFLOW_SYNC, "status")
    assert present(modules, (*NEVER, "alembic", "mako")) == []
    assert "sqlalchemy" in modules  # it did open the database


def test_dry_run_skips_alembic_rich_and_http_when_the_schema_is_at_head(
    migrated_home: Path,
) -> None:
    modules = loaded_modules(migrated_home, SYNC_WORKFLOWS, "--dry-run")
    assert present(modules, (*NEVER, "alembic", "rich", "zuora_workflow_sync.sync.job")) == []


def test_a_dispatch_to_the_sqlite_queue_loads_huey_without_drivers_or_the_zuora_client(
    migrated_home: Path,
) -> None:
    # A customer id that does not exist still opens the queue first (the run would go there).
    modules = loaded_modules(migrated_home, SYNC_WORKFLOWS, "1")
    assert "huey" in modules and "zuora_workflow_sync.queue" in modules
    held_out = ("aiohttp", "httpx", "redis", "psycopg", "alembic", "zuora_workflow_sync.sync.job")
    assert present(modules, held_out) == []


def test_a_worker_on_the_embedded_default_loads_no_redis_psycopg_or_alembic(
    migrated_home: Path,
) -> None:
    modules = loaded_modules(migrated_home, WORKFLOW_SYNC, "worker", "--drain")
    assert present(modules, ("huey", "aiohttp", "zuora_workflow_sync.sync.job")) == [
        "huey",
        "aiohttp",
        "zuora_workflow_sync.sync.job",
    ]
    assert present(modules, ("redis", "psycopg", "alembic", "mako")) == []


def test_status_migrates_with_alembic_when_the_schema_is_behind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'zws.sqlite3'}"
    migrate.upgrade(url, "0005")
    modules = loaded_modules(tmp_path, WORKFLOW_SYNC, "status")
    assert "alembic" in modules
    assert migrate.current(url) == migrate.head_revision()


def test_known_head_is_the_head_alembic_finds() -> None:
    assert migrate.known_head() == migrate.head_revision()


def test_help_lists_each_command_as_the_eagerly_registered_app_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    eager = typer_app_with_every_command()
    runner = CliRunner()
    lazy_help = runner.invoke(app, ["--help"])
    eager_help = runner.invoke(eager, ["--help"])
    assert lazy_help.exit_code == eager_help.exit_code == 0
    assert lazy_help.stdout == eager_help.stdout
    for name in COMMANDS:
        assert f" {name} " in lazy_help.stdout


def typer_app_with_every_command() -> typer.Typer:
    """The root app as it was before its subcommands were lazy: every module imported."""
    eager = typer.Typer(
        no_args_is_help=True,
        add_completion=False,
        help="Keep a local, versioned copy of the Zuora Workflow definitions of many customers.",
    )

    @eager.callback()
    def _root(version: VersionFlag = False) -> None:
        """Keep a local, versioned copy of the Zuora Workflow definitions of many customers."""

    registered: set[tuple[str, str]] = set()
    for name, entry in COMMANDS.items():
        if entry.kind == "merged" and (entry.module, entry.attribute) in registered:
            continue  # one add_typer registers every command of a merged sub-app
        registered.add((entry.module, entry.attribute))
        register(eager, name, entry)
    return eager


# Imports a worker's modules (what `workflow-sync worker` loads before its first job), then
# writes the names of every module loaded and what httpx's own CLI entry point says.
WORKER_IMPORTS = """
import contextlib, io, json, sys
import zuora_workflow_sync.cli.worker, zuora_workflow_sync.sync.job, httpx
said = io.StringIO()
with contextlib.redirect_stdout(said), contextlib.suppress(SystemExit):
    httpx.main()
loaded = sorted(name for name, module in sys.modules.items() if module is not None)
json.dump({"modules": loaded, "said": said.getvalue()}, sys.stdout)
"""


def test_a_worker_loads_httpx_without_its_command_line_client() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WORKER_IMPORTS], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    modules = set(loaded["modules"])
    assert "httpx" in modules and "aiohttp" in modules
    # httpx._main would have brought rich's console, progress and syntax, and pygments.
    assert present(modules, ("httpx._main", "pygments", "rich")) == []
    # httpx caught the refused import the way it does when its CLI extras are missing.
    assert "pip install 'httpx[cli]'" in loaded["said"]
