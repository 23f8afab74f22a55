"""`workflow-sync db`: upgrade applies the migrations, current reports the revision."""

from __future__ import annotations

import pytest

from zuora_workflow_sync.store import migrate

from .conftest import Cli, assert_refused


def test_upgrade_brings_database_to_head_when_run(cli: Cli) -> None:
    head = migrate.head_revision()

    upgraded = cli("db", "upgrade")
    again = cli("db", "upgrade")
    current = cli("db", "current")

    assert upgraded.exit_code == 0, upgraded.output
    assert upgraded.stdout == again.stdout == current.stdout == f"Database at revision {head}\n"


def test_current_reports_no_revision_and_creates_nothing_when_database_is_missing(
    cli: Cli,
) -> None:
    result = cli("db", "current")

    assert result.exit_code == 0
    assert result.stdout.startswith("Database at revision (none)")
    assert "workflow-sync db upgrade" in result.stdout
    assert not cli.database.exists()


def test_current_reports_behind_when_database_is_older(cli: Cli) -> None:
    url = f"sqlite:///{cli.database}"
    migrate.upgrade(url)
    migrate.downgrade(url, "base")

    result = cli("db", "current")

    assert result.stdout.startswith("Database at revision (none) (newest: ")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://user:hunter2@db/zws", "unsupported database"),
        ("::not a url::", "malformed"),
        ("postgresql+psycopg://zws:hunter2@127.0.0.1:1/zws", "database error"),
    ],
)
def test_commands_fail_in_one_line_without_the_url_when_the_database_is_unusable(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, url: str, fragment: str
) -> None:
    monkeypatch.setenv("ZWS_DATABASE_URL", url)

    for command in (("db", "upgrade"), ("db", "current"), ("status",)):
        result = cli(*command)
        assert_refused(result, fragment)
        assert "hunter2" not in result.stderr
