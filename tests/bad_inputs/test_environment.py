"""Bad inputs from the environment (ZWS_* settings, paths, the queue): every command refuses them
with one line naming the setting, before anything is written; no traceback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .conftest import Cli, assert_one_line, assert_refused, run_command

SYNC_FAILED = "Sync failed: "
CLOSED_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1
# `workflow-sync` commands (in this process) of each kind: a read, a list, a write; and
# `sync-workflows` as a real process (what the interpreter prints shows there).
COMMANDS = [
    pytest.param(("status",), id="status"),
    pytest.param(("customers", "list"), id="customers-list"),
    pytest.param(("customers", "set-status", "1", "paused"), id="customers-set-status"),
    pytest.param(("sync-workflows", "1", "--force"), id="sync-workflows"),
]


def _refused(
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[str, ...],
    env: dict[str, str],
    *fragments: str,
) -> str:
    """`command` under `env` is one line holding `fragments` (returned); nothing written under
    ZWS_HOME."""
    before, files = cli.dump(), _files(cli.home)
    if command[0] == "sync-workflows":
        done = run_command(*command, home=cli.home, env=env)
        assert_one_line(done, *fragments, prefix=SYNC_FAILED)
        stderr = done.stderr
    else:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        result = cli(*command)
        assert_refused(result, *fragments)
        stderr = result.stderr
        for name in env:
            monkeypatch.delenv(name)
    assert cli.dump() == before and _files(cli.home) == files
    return stderr


def _files(home: Path) -> dict[str, bytes | None]:
    """Every file under `home` with its content; SQLite files by name only (the dump compares
    their rows; their -wal and -shm come and go with the dump's own connection)."""
    return {
        path.name: None if ".sqlite3" in path.name else path.read_bytes()
        for path in sorted(home.rglob("*"))
        if path.is_file() and not path.name.endswith(("-wal", "-shm"))
    }


@pytest.fixture
def installed(cli: Cli) -> Cli:
    """One customer added, so that a command that got past the settings would write."""
    cli.add("acme")
    return cli


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("env", "fragments"),
    [
        pytest.param(
            {"ZWS_HOME": "/proc/nope"},
            ("ZWS_HOME", "cannot create the folder /proc/nope"),
            id="home-uncreatable",
        ),
        pytest.param({"ZWS_HOME": "/dev/null"}, ("ZWS_HOME", "is not a folder"), id="home-file"),
        pytest.param(
            {"ZWS_DATABASE_URL": "sqlite:////proc/nope/x.db"},
            ("ZWS_DATABASE_URL", "cannot create the folder /proc/nope"),
            id="database-uncreatable",
        ),
        pytest.param(
            {"ZWS_LOG_FILE": "/proc/nope/x.log"},
            ("ZWS_LOG_FILE", "cannot create the folder /proc/nope"),
            id="log-file-uncreatable",
        ),
        pytest.param(
            {"ZWS_LOG_FILE": "/tmp"},
            ("ZWS_LOG_FILE", "cannot write the log file /tmp"),
            id="log-file-a-folder",
        ),
    ],
)
def test_every_command_names_the_setting_when_a_path_cannot_be_used(
    installed: Cli,
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[str, ...],
    env: dict[str, str],
    fragments: tuple[str],
) -> None:
    _refused(installed, monkeypatch, command, env, *fragments)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("env", "fragments"),
    [
        pytest.param(
            {"ZWS_ALERT_WEBHOOK_URL": "not-a-url"},
            ("ZWS_ALERT_WEBHOOK_URL", "expected an http:// or https:// URL"),
            id="webhook-not-a-url",
        ),
        pytest.param(
            {"ZWS_ALERT_WEBHOOK_URL": "ftp://hooks.example.com/T0/B0/secret-token"},
            ("ZWS_ALERT_WEBHOOK_URL", "expected an http:// or https:// URL"),
            id="webhook-not-http",
        ),
        pytest.param(
            {"ZWS_SCHEDULE_CRON": "every hour"},
            ("ZWS_SCHEDULE_CRON", "expected 5 fields"),
            id="cron-words",
        ),
        pytest.param(
            {"ZWS_SCHEDULE_CRON": "61 * * * *"},
            ("ZWS_SCHEDULE_CRON", "Bad minute"),
            id="cron-minute-61",
        ),
        pytest.param({"ZWS_LOG_FILE_LEVEL": "loud"}, ("ZWS_LOG_FILE_LEVEL",), id="log-file-level"),
    ],
)
def test_every_command_refuses_a_setting_when_only_another_command_would_use_it(
    installed: Cli,
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[str, ...],
    env: dict[str, str],
    fragments: tuple[str],
) -> None:
    # The webhook URL embeds its token: the line names the setting, never the value.
    line = _refused(installed, monkeypatch, command, env, "invalid setting", *fragments)
    assert "secret-token" not in line


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({"ZWS_MAX_ATTEMPTS": "0"}, id="out-of-range"),
        pytest.param({"ZWS_LEASE_SECONDS": "soon"}, id="not-a-number"),
        pytest.param({"ZWS_JOB_TIMEOUT_SECONDS": "60"}, id="retired"),
    ],
)
def test_sync_workflows_prints_only_the_error_when_a_setting_is_bad(
    installed: Cli, home: Path, env: dict[str, str]
) -> None:
    before = installed.dump()

    done = run_command("sync-workflows", "1", home=home, env=env)

    assert_one_line(done, next(iter(env)), prefix=SYNC_FAILED)
    assert "Workflow sync command failed" not in done.stderr
    assert installed.dump() == before


@pytest.mark.parametrize(
    ("command", "fragment"),
    [
        pytest.param(("worker", "--drain"), "queue workflows unavailable", id="worker-drain"),
        pytest.param(
            ("scheduler", "--once"), "nothing was dispatched or repaired", id="scheduler-once"
        ),
    ],
)
def test_command_fails_in_one_line_within_seconds_when_the_queue_is_down(
    installed: Cli, home: Path, command: tuple[str, ...], fragment: str
) -> None:
    before = installed.dump()
    env = {"ZWS_QUEUE_URL": CLOSED_REDIS}
    started = time.monotonic()

    done = run_command("workflow-sync", *command, home=home, env=env, timeout=60)

    # Seconds, not a hang: most of it is the interpreter starting on a loaded machine.
    assert time.monotonic() - started < 30
    assert_one_line(done, fragment, "Connection refused")
    assert installed.dump() == before
