"""What reaches the log from bad or remote input: each string capped (with how much was cut) as
well as redacted and folded; the log file keeps its own level; a run's secret is redacted while
the run executes and forgotten when it ends."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zuora_workflow_sync.cli.sync_workflows import app as sync_app
from zuora_workflow_sync.monitoring.logs import (
    MASK,
    JsonFormatter,
    RedactingFilter,
    SecretRegistry,
    clean,
)
from zuora_workflow_sync.simulator import SimulatorAdmin

from .conftest import Cli, assert_one_line, run_command

TENANTS = ("tenant-001", "tenant-002", "tenant-003")
# The caps of `monitoring.logs` (FIELD_MAX_CHARS, MESSAGE_MAX_CHARS), as the docs state them.
FIELD_MAX_CHARS = 500
MESSAGE_MAX_CHARS = 1000


def _log_lines(home: Path) -> list[dict[str, object]]:
    path = home / "zws.log"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return [json.loads(line) for line in text.splitlines()]


def _add_tenants(home: Path, admin: SimulatorAdmin) -> list[str]:
    """The simulated tenants as customers, added by real processes (a secret registered by an
    in-process `customers add` would stay in this process's registry); their secrets."""
    secrets = []
    for number, tenant in enumerate(TENANTS, start=1):
        credentials = admin.credentials(tenant)
        done = run_command(
            "workflow-sync",
            "customers",
            "add",
            "--name",
            f"customer {number}",
            "--base-url",
            credentials.base_url,
            "--client-id",
            credentials.client_id,
            "--no-check",
            home=home,
            input=credentials.client_secret,
        )
        assert done.returncode == 0, done.stderr
        secrets.append(credentials.client_secret)
    return secrets


@pytest.mark.parametrize(
    "argument",
    [
        pytest.param("x" * 131_000, id="131000-characters"),
        pytest.param("1" * 5000 + "\r\n{}" + "a" * 3000, id="digits-then-a-forged-line"),
    ],
)
def test_log_line_is_capped_when_an_invalid_id_is_huge(cli: Cli, home: Path, argument: str) -> None:
    cli.add("acme")
    before = cli.dump()

    done = run_command("sync-workflows", argument, home=home)

    assert_one_line(done, "invalid customer id", prefix="Sync failed: ")
    failed = [line for line in _log_lines(home) if line.get("event") == "dispatch_failed"]
    assert len(failed) == 1
    raw = json.dumps(failed[0])
    assert len(raw) < 2 * FIELD_MAX_CHARS + MESSAGE_MAX_CHARS
    assert f"{len(argument) - FIELD_MAX_CHARS:,} more characters cut" in str(
        failed[0]["customer_id"]
    )
    assert cli.dump() == before


def test_secret_is_redacted_when_it_straddles_the_cut() -> None:
    registry = SecretRegistry()
    secret = "straddling-secret-" + "s" * 40
    registry.register(secret)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(registry))
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("tests.bad_inputs.cap")
    log.addHandler(handler)
    log.propagate = False
    try:
        for shift in range(0, len(secret), 7):
            field = "f" * (FIELD_MAX_CHARS - shift) + secret + "g" * 200
            message = "m" * (MESSAGE_MAX_CHARS - shift) + secret + "h" * 200
            log.warning(message, extra={"remote": field})
    finally:
        log.removeHandler(handler)
        log.propagate = True
    for line in stream.getvalue().splitlines():
        entry = json.loads(line)
        for text in (entry["message"], entry["remote"]):
            assert "straddling-secret" not in text and "more characters cut" in text


def test_sync_writes_one_json_line_per_attempt_to_the_file_when_the_console_is_quiet(
    cli: Cli, home: Path, sim_admin: SimulatorAdmin
) -> None:
    _add_tenants(home, sim_admin)
    quiet = {"ZWS_LOG_LEVEL": "WARNING"}  # what ./scripts/demo sets

    done = run_command("sync-workflows", "--sync", home=home, env=quiet)

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    finished = [line for line in _log_lines(home) if line.get("event") == "sync_run_finished"]
    assert sorted(line["customer_id"] for line in finished) == [1, 2, 3]  # type: ignore[type-var]
    assert {line["outcome"] for line in finished} == {"succeeded"}
    assert {line["level"] for line in finished} == {"info"}


def test_log_file_level_is_its_own_setting_when_set(
    cli: Cli, home: Path, sim_admin: SimulatorAdmin
) -> None:
    _add_tenants(home, sim_admin)
    env = {"ZWS_LOG_LEVEL": "DEBUG", "ZWS_LOG_FILE_LEVEL": "ERROR"}

    done = run_command("sync-workflows", "--sync", home=home, env=env)

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert [line for line in _log_lines(home) if line["level"] != "error"] == []


def test_sync_says_the_runs_execute_here_when_nothing_was_queued(
    cli: Cli, home: Path, sim_admin: SimulatorAdmin
) -> None:
    _add_tenants(home, sim_admin)

    one = run_command("sync-workflows", "1", "--sync", home=home)
    every = run_command("sync-workflows", "--force", "--sync", home=home)
    down = run_command(
        "sync-workflows", "2", "--force", home=home, env={"ZWS_QUEUE_URL": "redis://127.0.0.1:1/0"}
    )

    for done in (one, every, down):
        assert done.returncode == 0, done.stderr
        assert "dispatched" not in done.stdout
    assert "Sync run recorded for customer: customer 1; running it here" in one.stdout
    assert "Sync runs recorded for 3 customers; running them here" in every.stdout
    assert down.stdout.splitlines()[-1] == (
        "Sync run recorded for customer: customer 2; running it here"
    )


class _DuringTheRun(logging.Handler):
    """At each run's last log line (still inside the run), how `clean` shows every secret."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets
        self.seen: list[list[str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "event", None) == "sync_run_finished":
            self.seen.append([clean(secret) for secret in self.secrets])


def test_redaction_forgets_each_secret_when_its_run_ends(
    cli: Cli, home: Path, sim_admin: SimulatorAdmin
) -> None:
    secrets = _add_tenants(home, sim_admin)
    assert [clean(secret) for secret in secrets] == secrets  # nothing registered here yet
    during = _DuringTheRun(secrets)
    logging.getLogger().addHandler(during)
    try:
        result = CliRunner().invoke(sync_app, ["--sync"])  # three runs, one after another
    finally:
        logging.getLogger().removeHandler(during)

    assert result.exit_code == 0, result.output
    # Each run's own secret was masked while it ran; only that one.
    assert sorted(seen.index(MASK) for seen in during.seen if seen.count(MASK) == 1) == [0, 1, 2]
    assert [clean(secret) for secret in secrets] == secrets  # the registry is empty again
