"""`workflow-sync customers`: add (secret from stdin, env or file only), list, show, status,
remove, set-secret; every bad input is one line on stderr, exit 1, nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.store.factories import record
from zuora_workflow_sync.domain.models import CustomerStatus
from zuora_workflow_sync.store.customers import CustomerRepository
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.store.tables import SyncRunRow

from .conftest import CLIENT_ID, SECRET, Cli, assert_refused

ADD_BASE = ("customers", "add", "--client-id", CLIENT_ID)
# The hosts are not real tenants: the credentials check is skipped (see test_check.py).
ADD = (*ADD_BASE, "--environment", "us-sandbox", "--no-check")
BAD_IDS = ["abc", "-1", "0", "99999999999999999999", "1.5", " "]


def _stored_secret(cli: Cli, customer_id: int) -> str:
    engine = cli.engine()
    try:
        customer = CustomerRepository(engine).get(customer_id)
    finally:
        engine.dispose()
    assert customer is not None
    token = customer.client_secret_encrypted
    assert SECRET not in token
    keyring = Keyring.from_sources(None, cli.home / "secret.key", create=False)
    return keyring.decrypt(token).get_secret_value()


@pytest.mark.parametrize("flag", [[], ["--secret-stdin"]], ids=["default", "flag"])
def test_add_stores_encrypted_secret_when_secret_comes_from_stdin(
    cli: Cli, flag: list[str]
) -> None:
    result = cli(*ADD, "--name", "acme", *flag, input=SECRET + "\n")

    assert result.exit_code == 0, result.output
    assert result.stdout == "Customer 1 added: acme (https://rest.sandbox.na.zuora.com)\n"
    assert _stored_secret(cli, 1) == SECRET
    assert (cli.home / "secret.key").stat().st_mode & 0o077 == 0


def test_add_reads_secret_when_given_an_environment_variable(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_SECRET", SECRET)

    result = cli(*ADD, "--name", "acme", "--secret-env", "ACME_SECRET", "--id", "42")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Customer 42 added: acme ")
    assert _stored_secret(cli, 42) == SECRET


def test_add_reads_secret_and_drops_one_newline_when_given_a_file(cli: Cli, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET + "\r\n", encoding="utf-8")

    result = cli(*ADD, "--name", "acme", "--secret-file", str(secret_file))

    assert result.exit_code == 0, result.output
    assert _stored_secret(cli, 1) == SECRET


def test_add_stores_name_as_given_when_it_looks_like_sql(cli: Cli) -> None:
    name = "Robert'); DROP TABLE customers;--"
    cli.add(name)

    result = cli("customers", "show", "1", "--json")

    assert json.loads(result.stdout)["name"] == name
    assert cli("customers", "list").exit_code == 0


@pytest.mark.parametrize(
    "option", [["--client-secret", SECRET], [f"--secret={SECRET}"], ["--password", SECRET]]
)
def test_add_refuses_secret_when_passed_on_the_command_line(cli: Cli, option: list[str]) -> None:
    result = cli(*ADD, "--name", "acme", *option)

    assert_refused(result, "--secret-stdin", "--secret-env VAR", "--secret-file PATH")
    assert SECRET not in result.stderr
    assert not cli.database.exists()


def test_add_never_echoes_an_unexpected_argument_when_one_is_given(cli: Cli) -> None:
    result = cli(*ADD, "--name", "acme", SECRET, input=SECRET)

    assert_refused(result, "unexpected argument")
    assert SECRET not in result.stderr


@pytest.mark.parametrize(
    ("options", "stdin", "fragment"),
    [
        (["--name", ""], SECRET, "customer name"),
        (["--name", "x" * 201], SECRET, "customer name"),
        (["--name", "bad\tname"], SECRET, "customer name"),
        (["--name", "a", "--entity-id", "not-a-uuid"], SECRET, "UUID"),
        (["--name", "a", "--id", "abc"], SECRET, "customer id"),
        (["--name", "a", "--id", "-1"], SECRET, "customer id"),
        (["--name", "a", "--id", "0"], SECRET, "customer id"),
        (["--name", "a", "--id", "99999999999999999999"], SECRET, "customer id"),
        (["--name", "a"], "", "client secret is empty"),
        (["--name", "a"], "\n", "client secret is empty"),
        (["--name", "a"], "s" * 4097, "over 4096"),
        (["--name", "a", "--secret-env", "NOT_SET_ANYWHERE"], None, "is not set"),
        (["--name", "a", "--secret-env", "1; rm"], None, "not an environment variable"),
        (["--name", "a", "--secret-file", "/nonexistent/secret"], None, "cannot read"),
        (["--name", "a", "--secret-stdin", "--secret-env", "HOME"], SECRET, "give one of"),
        (["--name", "a", "--environment", "mars"], SECRET, "unknown Zuora environment"),
        (["--name", "a", "--base-url", "http://example.com"], SECRET, "plain http"),
        (["--name", "a", "--base-url", "https://u:p@x.zuora.com"], SECRET, "credentials"),
    ],
)
def test_add_refuses_and_writes_nothing_when_input_is_bad(
    cli: Cli, options: list[str], stdin: str | None, fragment: str
) -> None:
    cli.add("existing")
    before = cli.dump()
    command = ADD_BASE if "--base-url" in options or "--environment" in options else ADD

    result = cli(*command, *options, input=stdin)

    assert_refused(result, fragment)
    assert cli.dump() == before


def test_add_refuses_when_environment_and_base_url_are_both_or_neither_given(cli: Cli) -> None:
    both = ("--environment", "us-sandbox", "--base-url", "https://rest.zuora.com")
    neither = cli("customers", "add", "--name", "a", "--client-id", CLIENT_ID, input=SECRET)
    twice = cli("customers", "add", "--name", "a", "--client-id", CLIENT_ID, *both, input=SECRET)

    assert_refused(neither, "exactly one")
    assert_refused(twice, "exactly one")
    assert not cli.database.exists()


@pytest.mark.parametrize(
    ("name", "explicit_id", "fragment"),
    [("acme", None, "already exists"), ("globex", "1", "id 1 is already taken")],
)
def test_add_refuses_and_writes_nothing_when_name_or_id_is_taken(
    cli: Cli, name: str, explicit_id: str | None, fragment: str
) -> None:
    cli.add("acme")
    before = cli.dump()
    extra = [] if explicit_id is None else ["--id", explicit_id]

    result = cli(*ADD, "--name", name, *extra, input=SECRET)

    assert_refused(result, fragment)
    assert cli.dump() == before


def test_add_refuses_when_the_key_cannot_open_stored_secrets(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.add("acme")
    before = cli.dump()
    monkeypatch.setenv("ZWS_SECRET_KEYS", Keyring.generate_key())

    result = cli(*ADD, "--name", "globex", input=SECRET)

    assert_refused(result, "cannot decrypt a stored client secret", "missing encryption key")
    assert cli.dump() == before


def test_add_creates_no_key_when_secrets_are_stored_and_the_key_file_is_gone(cli: Cli) -> None:
    cli.add("acme")
    (cli.home / "secret.key").unlink()
    before = cli.dump()

    result = cli(*ADD, "--name", "globex", input=SECRET)

    assert_refused(result, "no encryption key")
    assert not (cli.home / "secret.key").exists()
    assert cli.dump() == before


def test_list_shows_customers_when_asked_for_a_table_or_json(cli: Cli) -> None:
    cli.add("acme")
    cli.add("[red]globex")
    cli("customers", "set-status", "2", "paused")

    table = cli("customers", "list")
    paused = cli("customers", "list", "--status", "paused", "--json")

    assert table.exit_code == 0 and "acme" in table.stdout and "[red]globex" in table.stdout
    rows = json.loads(paused.stdout)
    assert [(row["id"], row["status"]) for row in rows] == [(2, "paused")]
    assert rows[0]["client_secret"] == "(encrypted)"
    assert_refused(cli("customers", "list", "--status", "sleeping"), "unknown status")


def test_list_says_so_when_there_are_no_customers(cli: Cli) -> None:
    assert cli("customers", "list").stdout == "No customers.\n"
    assert json.loads(cli("customers", "list", "--json").stdout) == []


def test_show_prints_details_but_never_the_secret_when_shown(cli: Cli) -> None:
    cli.add("acme", "--entity-id", "8a8082c45a0e4e2b015a101c0fce0a6b")

    text = cli("customers", "show", "1")
    shown = json.loads(cli("customers", "show", "1", "--json").stdout)

    assert "client_secret: (encrypted)" in text.stdout.splitlines()
    assert shown["client_secret"] == "(encrypted)"
    assert shown["entity_id"] == "8a8082c45a0e4e2b015a101c0fce0a6b"
    assert shown["zuora_environment"] == "us-cloud1-api-sandbox"
    assert SECRET not in text.stdout + json.dumps(shown)


@pytest.mark.parametrize(
    "command",
    [
        ["customers", "show"],
        ["customers", "set-status", "{id}", "paused"],
        ["customers", "remove", "--yes"],
        ["customers", "set-secret", "--secret-env", "HOME"],
        ["runs", "--customer"],
        ["retry"],
    ],
    ids=lambda command: "-".join(command[:2]),
)
@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_commands_refuse_and_write_nothing_when_an_id_is_bad(
    cli: Cli, command: list[str], bad_id: str
) -> None:
    cli.add("acme")
    before = cli.dump()
    args = [bad_id if part == "{id}" else part for part in command]
    if "{id}" not in command:
        args.append(bad_id)

    result = cli(*args)

    assert_refused(result, "id must be a whole number")
    assert cli.dump() == before


@pytest.mark.parametrize(
    "command",
    [
        ["customers", "show", "9"],
        ["customers", "set-status", "9", "paused"],
        ["customers", "remove", "9", "--yes"],
        ["customers", "set-secret", "9", "--secret-env", "HOME"],
        ["runs", "--customer", "9"],
    ],
    ids=lambda command: "-".join(command[:2]),
)
def test_commands_refuse_when_the_customer_does_not_exist(cli: Cli, command: list[str]) -> None:
    cli.add("acme")
    before = cli.dump()

    assert_refused(cli(*command), "no customer with id 9")
    assert cli.dump() == before


def test_set_status_changes_the_status_when_valid(cli: Cli) -> None:
    cli.add("acme")

    result = cli("customers", "set-status", "1", "PAUSED")

    assert result.stdout == "Customer 1 is now paused\n"
    engine = cli.engine()
    customer = CustomerRepository(engine).get(1)
    engine.dispose()
    assert customer is not None and customer.sync_status is CustomerStatus.PAUSED
    before = cli.dump()
    assert_refused(cli("customers", "set-status", "1", "asleep"), "unknown status")
    assert cli.dump() == before


def test_remove_deletes_the_customer_when_confirmed(cli: Cli) -> None:
    cli.add("acme")
    cli.add("globex")

    by_flag = cli("customers", "remove", "1", "--yes")
    by_answer = cli("customers", "remove", "2", input="y\n")

    assert by_flag.stdout == "Customer 1 removed: acme\n"
    assert by_answer.stdout.endswith("Customer 2 removed: globex\n")
    assert json.loads(cli("customers", "list", "--json").stdout) == []


@pytest.mark.parametrize("answer", ["n\n", ""])
def test_remove_writes_nothing_when_not_confirmed(cli: Cli, answer: str) -> None:
    cli.add("acme")
    before = cli.dump()

    result = cli("customers", "remove", "1", input=answer)

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: not removed: not confirmed (pass --yes to skip the question)"
    ]
    assert cli.dump() == before


def test_remove_is_refused_when_the_customer_has_an_active_run(cli: Cli) -> None:
    cli.add("acme")
    engine = cli.engine()
    record(engine, [1])
    engine.dispose()
    before = cli.dump()

    assert_refused(cli("customers", "remove", "1", "--yes"), "queued or running")
    assert cli.dump() == before


def test_set_secret_replaces_secret_and_clears_attention_when_rotated(
    cli: Cli, tmp_path: Path
) -> None:
    cli.add("acme")
    engine = cli.engine()
    CustomerRepository(engine).set_attention(1, "401: bad credentials")
    engine.dispose()
    new_file = tmp_path / "new.txt"
    new_file.write_text("rotated-secret-value\n", encoding="utf-8")

    result = cli("customers", "set-secret", "1", "--secret-file", str(new_file))

    assert result.exit_code == 0, result.output
    assert result.stdout == "Client secret of customer 1 replaced: acme\n"
    assert _stored_secret(cli, 1) == "rotated-secret-value"
    shown = json.loads(cli("customers", "show", "1", "--json").stdout)
    assert shown["attention_reason"] is None
    assert "rotated-secret-value" not in result.stdout + result.stderr


def test_set_secret_refuses_and_writes_nothing_when_secret_is_on_command_line(cli: Cli) -> None:
    cli.add("acme")
    before = cli.dump()

    result = cli("customers", "set-secret", "1", "--client-secret=hunter2-hunter2")

    assert_refused(result, "never accepted on the command line")
    assert "hunter2" not in result.stderr
    assert cli.dump() == before


def test_remove_deletes_finished_runs_too_when_no_run_is_active(cli: Cli) -> None:
    cli.add("acme")
    engine = cli.engine()
    (run,) = record(engine, [1])
    with engine.begin() as conn:
        conn.execute(update(SyncRunRow).where(SyncRunRow.id == run.run_id).values(status="failed"))
    engine.dispose()

    assert cli("customers", "remove", "1", "--yes").exit_code == 0
    assert json.loads(cli("runs", "--json").stdout) == []
