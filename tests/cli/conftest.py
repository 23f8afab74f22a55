"""Fixtures of the CLI suite: `cli` runs `workflow-sync` in-process with an empty ZWS_HOME.

Every ZWS_* variable of the outer environment is removed, so the key file under ZWS_HOME is
used unless a test sets ZWS_SECRET_KEYS.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from zuora_workflow_sync.cli import app
from zuora_workflow_sync.store.engine import create_engine_for

SECRET = "zuora-test-secret-5b7f0c9e41d2"
CLIENT_ID = "8f14e45f-ceea-467f-a0e6-0a7a5b2c1d3e"  # Zuora's are 36 characters


class Cli:
    """`workflow-sync` with ZWS_HOME = `home`; stdout and stderr are captured apart."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self._runner.invoke(app, list(args), input=input)

    @property
    def database(self) -> Path:
        return self.home / "zws.sqlite3"

    def add(self, name: str = "acme", *options: str, secret: str = SECRET) -> Result:
        """`customers add --no-check` (the host is not a real tenant) with the secret on stdin;
        asserts it worked."""
        tenant = ("--environment", "us-sandbox", "--client-id", CLIENT_ID, "--no-check")
        result = self("customers", "add", "--name", name, *tenant, *options, input=secret + "\n")
        assert result.exit_code == 0, result.output
        return result

    def dump(self) -> list[str]:
        """The whole database as SQL: equal dumps mean nothing was written."""
        with sqlite3.connect(self.database) as connection:
            return list(connection.iterdump())

    def engine(self) -> Engine:
        return create_engine_for(f"sqlite:///{self.database}")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    for name in [name for name in os.environ if name.startswith("ZWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ZWS_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    yield Cli(tmp_path)


def assert_refused(result: Result, *fragments: str) -> None:
    """Exit 1, nothing on stdout, exactly one `Error:` line on stderr holding `fragments`."""
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0]
