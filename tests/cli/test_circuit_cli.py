"""`customers reset`, `customers set-pacing`, the pacing options of `customers add`, and the
circuit shown by `customers list/show` and `status`."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from zuora_workflow_sync.domain.circuit import CircuitPolicy
from zuora_workflow_sync.store.customers import CustomerRepository
from zuora_workflow_sync.store.engine import writing

from .conftest import CLIENT_ID, Cli, assert_refused

WORKFLOW_VIEW = "the Zuora user lacks Workflow View Access"


def _hold(cli: Cli, customer_id: int) -> None:
    """What a worker records after a 403: the circuit held, the attention reason set."""
    engine = cli.engine()
    try:
        with writing(engine) as conn:
            CustomerRepository(engine).record_failure(
                conn,
                customer_id,
                CircuitPolicy(),
                datetime.now(UTC),
                hold=True,
                attention=WORKFLOW_VIEW,
            )
    finally:
        engine.dispose()


def test_reset_closes_a_held_circuit_and_clears_attention_when_asked(cli: Cli) -> None:
    cli.add("acme")
    _hold(cli, 1)
    assert json.loads(cli("customers", "show", "1", "--json").stdout)["circuit"] == "held"
    (row,) = json.loads(cli("status", "--json").stdout)
    assert (row["circuit"], row["attention_reason"]) == ("held", WORKFLOW_VIEW)
    assert f"circuit held; {WORKFLOW_VIEW}" in cli("status").stdout
    assert "held" in cli("customers", "list").stdout

    result = cli("customers", "reset", "1")

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Circuit of customer 1 reset: acme (was held; now closed, failures 0, "
        "attention reason cleared)\n"
    )
    shown = json.loads(cli("customers", "show", "1", "--json").stdout)
    assert (shown["circuit"], shown["circuit_held"], shown["attention_reason"]) == (
        "closed",
        False,
        None,
    )
    assert shown["consecutive_failures"] == 0
    assert "circuit" not in cli("status").stdout.split("attention")[-1]


@pytest.mark.parametrize(
    ("customer_id", "fragment"),
    [
        ("7", "no customer with id 7"),
        ("abc", "a customer id must be a whole number"),
        ("-1", "customer id"),
    ],
)
def test_reset_refuses_and_writes_nothing_when_the_id_is_bad(
    cli: Cli, customer_id: str, fragment: str
) -> None:
    cli.add("acme")
    before = cli.dump()
    assert_refused(cli("customers", "reset", customer_id), fragment)
    assert cli.dump() == before


def test_add_stores_pacing_when_given_the_options(cli: Cli) -> None:
    cli.add("acme", "--max-in-flight", "8", "--tenant-type", "api-sandbox")
    cli.add("globex")
    acme = json.loads(cli("customers", "show", "1", "--json").stdout)
    globex = json.loads(cli("customers", "show", "2", "--json").stdout)
    assert (acme["max_in_flight"], acme["tenant_type"]) == (8, "api_sandbox")
    assert (globex["max_in_flight"], globex["tenant_type"]) == (None, None)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--max-in-flight", "0"], "from 1 to 40"),
        (["--max-in-flight", "41"], "from 1 to 40"),
        (["--max-in-flight", "lots"], "from 1 to 40"),
        (["--tenant-type", "staging"], "unknown tenant type 'staging'"),
    ],
)
def test_add_refuses_and_writes_nothing_when_pacing_is_bad(
    cli: Cli, options: list[str], fragment: str
) -> None:
    cli.add("acme")
    before = cli.dump()
    args = ["--name", "globex", "--environment", "us-sandbox", "--client-id", CLIENT_ID, *options]
    args.append("--no-check")
    assert_refused(cli("customers", "add", *args, input="secret\n"), fragment)
    assert cli.dump() == before


def test_set_pacing_changes_only_what_is_given_when_run(cli: Cli) -> None:
    cli.add("acme", "--max-in-flight", "8")

    typed = cli("customers", "set-pacing", "1", "--tenant-type", "production")
    cleared = cli("customers", "set-pacing", "1", "--max-in-flight", "default")

    assert typed.stdout == "Customer 1 paced: max in flight 8, tenant type production\n"
    assert cleared.stdout == "Customer 1 paced: max in flight default, tenant type production\n"
    shown = json.loads(cli("customers", "show", "1", "--json").stdout)
    assert (shown["max_in_flight"], shown["tenant_type"]) == (None, "production")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["1"], "give --max-in-flight, --tenant-type or both"),
        (["1", "--max-in-flight", "99"], "from 1 to 40"),
        (["2", "--max-in-flight", "4"], "no customer with id 2"),
    ],
)
def test_set_pacing_refuses_and_writes_nothing_when_input_is_bad(
    cli: Cli, args: list[str], fragment: str
) -> None:
    cli.add("acme")
    before = cli.dump()
    assert_refused(cli("customers", "set-pacing", *args), fragment)
    assert cli.dump() == before
