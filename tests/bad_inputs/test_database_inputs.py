"""Bad databases: a SQLite file damaged in the middle, a PostgreSQL database never migrated or
missing a constraint. `workflow-sync db check` says what to do, a worker refuses to start, and
nothing is written into a database that fails the check."""

from __future__ import annotations

import hashlib
import random
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.bad_inputs.conftest import Cli, Command, assert_one_line, run_command
from tests.services import connect_admin, postgres_url, run_admin
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.store.engine import create_engine_for

TENANT = "tenant-001"
PAGE = 4096


def _synced_home(cli: Cli, admin: SimulatorAdmin) -> Path:
    """A ZWS_HOME whose SQLite database holds customer 1 synced from the simulator, its WAL
    checkpointed into the file."""
    credentials = admin.credentials(TENANT)
    added = cli(
        "customers",
        "add",
        "--name",
        "acme",
        "--base-url",
        credentials.base_url,
        "--client-id",
        credentials.client_id,
        input=credentials.client_secret + "\n",
    )
    assert added.exit_code == 0, added.output
    synced = run_command("sync-workflows", "1", "--force", "--sync", home=cli.home)
    assert synced.returncode == 0, synced.stderr
    with sqlite3.connect(cli.database) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return cli.home


def _damage_the_middle(database: Path) -> None:
    """Random bytes over four pages in the middle of the file (not the header, not the end)."""
    pages = database.stat().st_size // PAGE
    assert pages >= 12, pages
    garbage = random.Random(15).randbytes(4 * PAGE)
    with database.open("r+b") as handle:
        handle.seek((pages // 2 - 2) * PAGE)
        handle.write(garbage)
    with sqlite3.connect(database) as connection:
        try:
            checked = connection.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError:
            checked = [("unreadable",)]
    assert checked != [("ok",)], "the damage must be one the check can see"


def _fingerprint(database: Path) -> tuple[str, int]:
    """The file's hash and its WAL's size: both unchanged means nothing was written."""
    wal = database.with_name(database.name + "-wal")
    return (
        hashlib.sha256(database.read_bytes()).hexdigest(),
        wal.stat().st_size if wal.exists() else 0,
    )


def _assert_failed_in_one_line(command: Command, *fragments: str, prefix: str) -> None:
    assert command.returncode == 1, (command.stdout, command.stderr)
    assert "Traceback" not in command.stdout + command.stderr
    lines = command.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), command.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def damaged_home(cli: Cli, sim_admin: SimulatorAdmin) -> Path:
    home = _synced_home(cli, sim_admin)
    _damage_the_middle(cli.database)
    return home


def test_db_check_passes_when_the_sqlite_file_is_sound(cli: Cli, sim_admin: SimulatorAdmin) -> None:
    home = _synced_home(cli, sim_admin)
    checked = run_command("workflow-sync", "db", "check", home=home)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("Database OK: integrity check passed")


def test_sync_writes_nothing_when_the_sqlite_file_is_damaged_in_the_middle(
    cli: Cli, damaged_home: Path
) -> None:
    before = _fingerprint(cli.database)
    synced = run_command("sync-workflows", "1", "--force", "--sync", home=damaged_home)
    _assert_failed_in_one_line(synced, "integrity check", prefix="Sync failed: ")
    assert _fingerprint(cli.database) == before


def test_db_check_says_what_to_do_when_the_sqlite_file_is_damaged(
    cli: Cli, damaged_home: Path
) -> None:
    before = _fingerprint(cli.database)
    checked = run_command("workflow-sync", "db", "check", home=damaged_home)
    assert_one_line(checked, "integrity check", "restore the file from a backup")
    assert _fingerprint(cli.database) == before


def test_worker_refuses_to_start_when_the_sqlite_file_is_damaged(
    cli: Cli, damaged_home: Path
) -> None:
    before = _fingerprint(cli.database)
    started = run_command("workflow-sync", "worker", "--drain", home=damaged_home)
    assert_one_line(started, "integrity check")
    assert "Worker started" not in started.stdout
    assert _fingerprint(cli.database) == before


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """An empty PostgreSQL database on which `db upgrade` never ran."""
    admin = connect_admin()
    name = f"zws_fresh_{uuid.uuid4().hex}"
    run_admin(admin, f'CREATE DATABASE "{name}"')
    try:
        yield postgres_url(name)
    finally:
        run_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "command",
    [("status",), ("customers", "list"), ("runs",), ("worker", "--drain"), ("db", "check")],
    ids=lambda command: "-".join(command),
)
def test_command_says_run_db_upgrade_when_postgresql_was_never_migrated(
    home: Path, fresh_postgres: str, command: tuple[str, ...]
) -> None:
    env = {"ZWS_DATABASE_URL": fresh_postgres, "ZWS_QUEUE_URL": f"sqlite:///{home / 'q.db'}"}
    done = run_command("workflow-sync", *command, home=home, env=env)
    assert_one_line(done, "run `workflow-sync db upgrade`")
    assert "server is up" not in done.stderr


@pytest.mark.postgres
def test_db_check_names_the_missing_constraint_when_postgresql_lost_one(
    home: Path, cloned_postgres_url: str
) -> None:
    engine = create_engine_for(cloned_postgres_url)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX uq_sync_runs_one_active_per_customer"))
    engine.dispose()
    env = {"ZWS_DATABASE_URL": cloned_postgres_url}
    checked = run_command("workflow-sync", "db", "check", home=home, env=env)
    assert_one_line(checked, "uq_sync_runs_one_active_per_customer")
    started = run_command("workflow-sync", "worker", "--drain", home=home, env=env)
    assert_one_line(started, "uq_sync_runs_one_active_per_customer")


@pytest.mark.postgres
def test_db_check_passes_when_postgresql_is_at_the_newest_revision(
    home: Path, cloned_postgres_url: str
) -> None:
    checked = run_command(
        "workflow-sync", "db", "check", home=home, env={"ZWS_DATABASE_URL": cloned_postgres_url}
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("Database OK")
