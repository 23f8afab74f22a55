"""Fixtures of the bad-input suite: every case is a bad input from Zuora, the operator, the
environment or the credentials, and asserts exit code, one line on stderr, no traceback and the
database unchanged (a dump before and after).

`cli` (from the CLI suite) runs `workflow-sync` in-process with an empty ZWS_HOME; `run_command`
runs an installed entry point as a real process, for what only a process shows (a traceback
printed by the interpreter, the exit status, the environment read at start).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, assert_refused, cli

__all__ = ["Cli", "Command", "assert_one_line", "assert_refused", "cli", "run_command"]

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Command:
    returncode: int
    stdout: str
    stderr: str


def run_command(
    program: str,
    *args: str,
    home: Path,
    env: dict[str, str] | None = None,
    input: str = "",
    timeout: float = 120,
) -> Command:
    """`program` (`workflow-sync` or `sync-workflows`) as a process with ZWS_HOME = `home`, no other
    ZWS_* variable from outside, then `env` on top; killed (TimeoutExpired) after `timeout`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ZWS_")}
    environment.update({"ZWS_HOME": str(home), "COLUMNS": "200"}, **(env or {}))
    done = subprocess.run(
        [str(BIN / program), *args],
        env=environment,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Command(done.returncode, done.stdout, done.stderr)


def assert_one_line(
    command: Command, *fragments: str, returncode: int = 1, prefix: str = "Error: "
) -> None:
    """Exit `returncode`, exactly one `Error:` line (`Sync failed:` for `sync-workflows`) on
    stderr holding `fragments`, no traceback."""
    assert command.returncode == returncode, (command.stdout, command.stderr)
    assert "Traceback" not in command.stderr + command.stdout
    lines = command.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), command.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path
