"""Bad inputs from the operator on the command line: each is one line on stderr, the CLI's usual
exit code, no traceback and the database unchanged (a dump before and after)."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest

from tests.cli.conftest import CLIENT_ID, SECRET

from .conftest import Cli, assert_one_line, assert_refused, run_command

SYNC_FAILED = "Sync failed: "


def _three_customers(cli: Cli) -> list[str]:
    """Customers 1 to 3, so that a misread "٣" would reach one; the dump of the database."""
    for name in ("acme", "globex", "initech"):
        cli.add(name)
    return cli.dump()


@pytest.mark.parametrize(
    "argument",
    [
        pytest.param("1" * 4301, id="4301-digits"),  # past Python's int-string limit
        pytest.param("9" * 131_000, id="131000-digits"),
        pytest.param("²", id="superscript-two"),  # isdigit() but int() refuses it
        pytest.param("٣", id="arabic-indic-three"),  # int() reads it as 3
        pytest.param("\uff13", id="fullwidth-three"),
        pytest.param("1٣", id="mixed-digits"),
    ],
)
def test_sync_workflows_refuses_a_customer_id_when_it_is_not_ascii_digits(
    cli: Cli, home: Path, argument: str
) -> None:
    before = _three_customers(cli)

    done = run_command("sync-workflows", argument, "--force", home=home)

    assert_one_line(done, "invalid customer id", "expected a positive integer", prefix=SYNC_FAILED)
    assert len(done.stderr) < 300  # the operator's text is quoted cut short
    assert cli.dump() == before


@pytest.mark.parametrize("value", ["٣", "\uff12", "³"])
def test_set_pacing_refuses_max_in_flight_when_it_is_not_ascii_digits(cli: Cli, value: str) -> None:
    before = _three_customers(cli)

    result = cli("customers", "set-pacing", "1", "--max-in-flight", value)

    assert_refused(result, "--max-in-flight must be an integer from 1 to 40")
    assert cli.dump() == before


@pytest.mark.parametrize("program", ["workflow-sync", "sync-workflows"])
def test_version_prints_the_package_version_when_asked(program: str, home: Path) -> None:
    done = run_command(program, "--version", home=home)

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{program} {version('zuora-workflow-sync')}\n"
    assert done.stderr == ""
    assert list(home.iterdir()) == []  # no database, log or key file made


@pytest.mark.parametrize(
    ("client_id", "fragment"),
    [
        pytest.param("abc", "exactly 36 characters, got 3", id="short"),
        pytest.param(CLIENT_ID[:-1], "exactly 36 characters, got 35", id="one-short"),
        pytest.param(CLIENT_ID + "0", "exactly 36 characters, got 37", id="one-long"),
        pytest.param("x" * 200, "exactly 36 characters, got 200", id="column-wide"),
        pytest.param(CLIENT_ID[:20] + " " + CLIENT_ID[21:], "must not contain spaces", id="space"),
    ],
)
def test_customers_add_refuses_a_client_id_when_it_is_not_36_characters(
    cli: Cli, client_id: str, fragment: str
) -> None:
    before = _three_customers(cli)

    result = cli(
        "customers",
        "add",
        "--name",
        "umbrella",
        "--environment",
        "us-sandbox",
        "--client-id",
        client_id,
        "--no-check",
        input=SECRET + "\n",
    )

    assert_refused(result, fragment)
    assert cli.dump() == before
    assert "exactly 36 characters" in cli("customers", "add", "--help").stdout


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(SECRET[:10] + "\x1b[31m" + SECRET[10:], id="escape"),
        pytest.param(SECRET[:10] + "\t" + SECRET[10:], id="tab"),
        pytest.param(SECRET[:10] + "\x00" + SECRET[10:], id="nul"),
        pytest.param(SECRET[:10] + "\n" + SECRET[10:] + "\n", id="line-break-inside"),
        pytest.param(SECRET + "\r\r\n", id="carriage-returns"),
        pytest.param(SECRET + "\x7f", id="delete"),
        pytest.param(SECRET + "\u200b", id="zero-width-space"),
    ],
)
def test_customers_add_refuses_a_client_secret_when_it_holds_a_control_character(
    cli: Cli, secret: str
) -> None:
    before = _three_customers(cli)
    tenant = ("--environment", "us-sandbox", "--client-id", CLIENT_ID, "--no-check")

    result = cli("customers", "add", "--name", "umbrella", *tenant, input=secret)

    assert_refused(result, "the client secret holds a control character")
    assert SECRET[10:] not in result.stderr
    assert cli.dump() == before


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("worker", "--concurrency", "٣"), "Invalid value for '--concurrency'"),
        (("worker", "--bogus"), "no such option: --bogus"),
        (("scheduler", "--bogus"), "no such option: --bogus"),
        (("simulator", "--port", "x"), "Invalid value for '--port'"),
        (("serve", "--port", "x"), "Invalid value for '--port'"),
        (("runs", "--limit", "²"), "Invalid value for '--limit'"),
    ],
    ids=["worker-digit", "worker-option", "scheduler-option", "simulator", "serve", "runs"],
)
def test_a_long_running_command_refuses_a_bad_option_in_one_line_before_it_starts(
    home: Path, args: tuple[str, ...], fragment: str
) -> None:
    done = run_command("workflow-sync", *args, home=home, timeout=60)
    assert_one_line(done, fragment)
    assert not (home / "zws.sqlite3").exists(), "it opened the database first"
