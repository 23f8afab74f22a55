"""Items of the security checklist (docs/reliability.md) that no other suite proves: nothing a
sync prints, logs or stores holds the client secret, the access token or the encryption key;
one token per run, cached for the next; dependencies pinned; the README's permission line."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.bad_inputs.conftest import Cli, Command, run_command
from zuora_workflow_sync.simulator import SimulatorAdmin, SimulatorServer
from zuora_workflow_sync.store.customers import CustomerRepository
from zuora_workflow_sync.store.runs import SyncRunLedger

ROOT = Path(__file__).resolve().parents[2]


def _add(cli: Cli, admin: SimulatorAdmin, tenant: str) -> str:
    credentials = admin.credentials(tenant)
    added = cli(
        "customers",
        "add",
        "--name",
        tenant,
        "--base-url",
        credentials.base_url,
        "--client-id",
        credentials.client_id,
        input=credentials.client_secret + "\n",
    )
    assert added.exit_code == 0, added.output
    return credentials.client_secret


def _everything_written(home: Path, commands: list[Command]) -> bytes:
    """Every command's output and every file under ZWS_HOME but the key file: the log, the
    database and its WAL, the queue, the coordination store (tokens, sealed)."""
    files = [p for p in sorted(home.rglob("*")) if p.is_file() and p.name != "secret.key"]
    outputs = "".join(done.stdout + done.stderr for done in commands).encode()
    return outputs + b"".join(path.read_bytes() for path in files)


def test_no_secret_token_or_key_reaches_any_output_or_file_when_syncing_with_debug_logs(
    cli: Cli, sim_admin: SimulatorAdmin, simulator: SimulatorServer
) -> None:
    secrets = [_add(cli, sim_admin, tenant) for tenant in ("tenant-001", "tenant-002")]
    sim_admin.forbid("tenant-002")  # a failing customer logs its error too
    debug = {"ZWS_LOG_LEVEL": "DEBUG", "ZWS_LOG_JSON": "1"}
    commands = [
        run_command("sync-workflows", "--force", "--sync", home=cli.home, env=debug),
        run_command("sync-workflows", "1", "--force", home=cli.home, env=debug),
        run_command("workflow-sync", "worker", "--drain", home=cli.home, env=debug),
        run_command("workflow-sync", "runs", "--json", home=cli.home, env=debug),
        run_command("workflow-sync", "customers", "list", "--json", home=cli.home, env=debug),
    ]
    sim_admin.forbid("tenant-002", False)
    written = _everything_written(cli.home, commands)
    tokens = list(simulator.state.tokens)
    key = (cli.home / "secret.key").read_text(encoding="ascii").strip()

    assert b"Workflow View Access" in written and len(tokens) >= 1
    for secret in secrets:
        assert secret.encode() not in written
    for token in tokens:
        assert token.encode() not in written
    assert key.encode() not in written
    assert b"Bearer " not in written


def test_a_run_asks_for_one_token_and_the_next_reuses_it_when_it_has_not_expired(
    cli: Cli, sim_admin: SimulatorAdmin
) -> None:
    _add(cli, sim_admin, "tenant-001")
    for _ in range(2):
        done = run_command("sync-workflows", "1", "--force", "--sync", home=cli.home)
        assert done.returncode == 0, done.stderr

    engine = cli.engine()
    try:
        runs = sorted(SyncRunLedger(engine).list_runs(), key=lambda run: run.id)
        assert CustomerRepository(engine).get(1) is not None
    finally:
        engine.dispose()
    assert [run.counts.token_requests for run in runs] == [1, 0]


def test_key_file_is_private_when_the_first_customer_creates_it(cli: Cli) -> None:
    cli.add("acme")
    assert (cli.home / "secret.key").stat().st_mode & 0o777 == 0o600


def _requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found = list(project["project"]["dependencies"])
    for extra in project["project"].get("optional-dependencies", {}).values():
        found += extra
    for group in project.get("dependency-groups", {}).values():
        found += [item for item in group if isinstance(item, str)]
    return found


@pytest.mark.parametrize("requirement", _requirements())
def test_dependency_is_pinned_to_one_version_when_declared(requirement: str) -> None:
    if requirement.startswith("zuora-workflow-sync["):
        return  # the project's own extras
    assert re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[a-z,]+\])?==[0-9][0-9A-Za-z.]*", requirement)
    assert (ROOT / "uv.lock").is_file()


def test_readme_says_the_zuora_user_needs_workflow_view_access_only() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "needs **Workflow View Access**" in readme


# SQL text built with an f-string, by file: each one interpolates only module constants or a
# formatted int (PRAGMAs take no bound parameters; DDL names are the migration's own). Any new
# one must be reviewed and added here; everything else goes through bound parameters.
FORMATTED_SQL = {
    "store/engine.py": 1,  # PRAGMA busy_timeout = {int:d}
    "store/integrity.py": 1,  # PRAGMA quick_check({constant})
    "store/migrations/versions/v0004_search.py": 8,  # DDL on the revision's own names
}
_FORMATTED = re.compile(r"\b(?:text|exec_driver_sql|execute|executescript)\(\s*f[\"']")


def test_sql_is_only_formatted_where_reviewed_when_the_source_is_scanned() -> None:
    package = ROOT / "src" / "zuora_workflow_sync"
    found = {
        str(path.relative_to(package)): len(_FORMATTED.findall(path.read_text(encoding="utf-8")))
        for path in sorted(package.rglob("*.py"))
    }
    assert {name: count for name, count in found.items() if count} == FORMATTED_SQL
