"""`workflow-sync customers`: add, list, show, pause, remove and re-key the customers we sync.

A client secret is stored only as a Fernet token (read as `keys.read_client_secret` says); no
command prints it.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table
from rich.text import Text

from zuora_workflow_sync.cli.common import command_errors, emit_table, fail
from zuora_workflow_sync.cli.db import OneLineCommand, open_runtime, parse_id
from zuora_workflow_sync.cli.keys import (
    SecretEnv,
    SecretFile,
    SecretStdin,
    existing_keyring,
    read_client_secret,
)
from zuora_workflow_sync.domain.models import Customer, CustomerStatus
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.monitoring.logs import clean
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.store.customers import CustomerNotFoundError
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.store.tables import NAME_MAX_LENGTH
from zuora_workflow_sync.zuora.environments import ALIASES, resolve_base_url

T = TypeVar("T")

TABLE_ROW_CAP = 1000
_PAGE_SIZE = 500
_CLIENT_ID_MAX_LENGTH = 200  # the column's width; Zuora's client ids have 36 characters
_ENTITY_ID = re.compile(r"[0-9a-f]{8}(-?)[0-9a-f]{4}\1[0-9a-f]{4}\1[0-9a-f]{4}\1[0-9a-f]{12}", re.I)

customers_app = typer.Typer(
    no_args_is_help=True, help="Add, list, show, pause, remove and re-key the customers we sync."
)

CustomerId = Annotated[str, typer.Argument(metavar="ID", help="The customer's id.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@dataclass(frozen=True, slots=True)
class _NewCustomer:
    name: str
    base_url: str
    environment: str | None
    client_id: str
    entity_id: str | None
    customer_id: int | None


@customers_app.command("add", cls=OneLineCommand)
def add(
    name: Annotated[str, typer.Option(help="Unique name, 1-200 printable characters.")],
    client_id: Annotated[
        str, typer.Option(help="OAuth client id of the tenant's Zuora API user (36 characters).")
    ],
    environment: Annotated[
        str | None,
        typer.Option(help="Zuora environment, e.g. us-production or eu-sandbox; or --base-url."),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="Zuora REST base URL instead of --environment (https; http: loopback)."),
    ] = None,
    entity_id: Annotated[
        str | None, typer.Option(help="Entity id (a UUID) of a multi-entity tenant.")
    ] = None,
    customer_id: Annotated[
        str | None, typer.Option("--id", help="Explicit id (a positive integer); default: next.")
    ] = None,
    secret_stdin: SecretStdin = False,
    secret_env: SecretEnv = None,
    secret_file: SecretFile = None,
) -> None:
    """Add a customer; its client secret is stored encrypted, never taken as an argument."""
    with command_errors():
        new = _new_customer(name, environment, base_url, client_id, entity_id, customer_id)
        secret = read_client_secret(secret_stdin, secret_env, secret_file)
    with open_runtime() as runtime:
        keyring = _keyring_for_new_secret(runtime)
        customer = runtime.customers.add(
            new.name,
            zuora_base_url=new.base_url,
            zuora_environment=new.environment,
            client_id=new.client_id,
            client_secret_encrypted=keyring.encrypt(secret),
            entity_id=new.entity_id,
            customer_id=new.customer_id,
        )
    typer.echo(f"Customer {customer.id} added: {customer.name} ({customer.zuora_base_url})")


@customers_app.command("list", cls=OneLineCommand)
def list_customers(
    status: Annotated[
        str | None, typer.Option(help="Only customers with this status: active, paused, disabled.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """List customers in id order (the table shows the first 1,000; --json streams all)."""
    with command_errors():
        wanted = None if status is None else parse_status(status)
    with open_runtime() as runtime:
        customers = iter_customers(runtime, wanted)
        if as_json:
            echo_json_array(customer_json(customer) for customer in customers)
            return
        table = new_table("id", "name", "status", "tenant", "client id", "last synced")
        shown, more = take(customers, TABLE_ROW_CAP)
    for customer in shown:
        tenant = customer.zuora_environment or customer.zuora_base_url
        status_text = customer.sync_status.value
        when = format_time(customer.last_synced_at)
        add_row(table, customer.id, customer.name, status_text, tenant, customer.client_id, when)
    print_table(table, more, empty="No customers.")


@customers_app.command("show", cls=OneLineCommand)
def show(customer_id: CustomerId, as_json: AsJson = False) -> None:
    """Show one customer (the client secret only as "(encrypted)")."""
    with command_errors():
        wanted = parse_id(customer_id, "customer")
    with open_runtime() as runtime:
        details = customer_json(require_customer(runtime, wanted))
    if as_json:
        typer.echo(json.dumps(details, indent=2, ensure_ascii=False))
        return
    for key, value in details.items():
        typer.echo(f"{key}: {'-' if value is None else clean(str(value))}")


@customers_app.command("set-status", cls=OneLineCommand)
def set_status(
    customer_id: CustomerId,
    status: Annotated[
        str, typer.Argument(metavar="STATUS", help="active, paused (kept, not synced) or disabled.")
    ],
) -> None:
    """Change whether a customer is synced: only active customers are ever dispatched."""
    with command_errors():
        wanted_id = parse_id(customer_id, "customer")
        wanted = parse_status(status)
    with open_runtime() as runtime:
        runtime.customers.set_status(wanted_id, wanted)
    typer.echo(f"Customer {wanted_id} is now {wanted.value}")


@customers_app.command("remove", cls=OneLineCommand)
def remove(
    customer_id: CustomerId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a customer with its runs and stored workflows (refused while it has a run)."""
    with command_errors():
        wanted = parse_id(customer_id, "customer")
    with open_runtime() as runtime:
        customer = require_customer(runtime, wanted)
        if not yes:
            _confirm_removal(customer)
        runtime.customers.remove(customer.id)
    typer.echo(f"Customer {customer.id} removed: {customer.name}")


@customers_app.command("set-secret", cls=OneLineCommand)
def set_secret(
    customer_id: CustomerId,
    secret_stdin: SecretStdin = False,
    secret_env: SecretEnv = None,
    secret_file: SecretFile = None,
) -> None:
    """Replace a customer's client secret (rotated credentials); clears its attention reason."""
    with command_errors():
        wanted = parse_id(customer_id, "customer")
    with open_runtime() as runtime:
        customer = require_customer(runtime, wanted)
        secret = read_client_secret(secret_stdin, secret_env, secret_file)
        keyring = _keyring_for_new_secret(runtime, exclude_id=customer.id)
        runtime.customers.set_client_secret(customer.id, keyring.encrypt(secret))
    typer.echo(f"Client secret of customer {customer.id} replaced: {customer.name}")


def _new_customer(
    name: str,
    environment: str | None,
    base_url: str | None,
    client_id: str,
    entity_id: str | None,
    customer_id: str | None,
) -> _NewCustomer:
    """The validated options of `customers add`; ConfigurationError for the first bad one."""
    return _NewCustomer(
        name=_printable(name, "a customer name", NAME_MAX_LENGTH),
        base_url=resolve_base_url(environment=environment, base_url=base_url),
        environment=None if environment is None else _environment_name(environment),
        client_id=_client_id(client_id),
        entity_id=None if entity_id is None else _entity_id(entity_id),
        customer_id=None if customer_id is None else parse_id(customer_id, "customer"),
    )


def _printable(value: str, what: str, maximum: int) -> str:
    if not 1 <= len(value) <= maximum or not value.isprintable() or not value.strip():
        raise ConfigurationError(f"{what} must be 1 to {maximum} printable characters")
    return value


def _client_id(value: str) -> str:
    client_id = _printable(value, "a client id", _CLIENT_ID_MAX_LENGTH)
    if any(character.isspace() for character in client_id):
        raise ConfigurationError("a client id must not contain spaces")
    return client_id


def _environment_name(value: str) -> str:
    key = value.strip().lower()
    return ALIASES.get(key, key)


def _entity_id(value: str) -> str:
    text = value.strip()
    if not _ENTITY_ID.fullmatch(text):
        raise ConfigurationError(f"an entity id must be a UUID, got {text[:40]!r}")
    return text


def _keyring_for_new_secret(runtime: Runtime, exclude_id: int | None = None) -> Keyring:
    """The keys to encrypt a new secret with, refused (SecretsError) when they cannot open the
    stored secrets: what they encrypt would belong to another installation. A key file is
    created only while no other secret is stored."""
    stored = [c for c in runtime.customers.list(limit=2) if c.id != exclude_id]
    if not stored:
        return runtime.keyring
    keyring = existing_keyring(runtime.settings)
    keyring.decrypt(stored[0].client_secret_encrypted)
    return keyring


def _confirm_removal(customer: Customer) -> None:
    question = f"Remove customer {customer.id} ({customer.name}) with its runs and workflows?"
    try:
        confirmed = typer.confirm(question)
    except typer.Abort:
        confirmed = False
    if not confirmed:
        raise fail("not removed: not confirmed (pass --yes to skip the question)")


def parse_status(text: str) -> CustomerStatus:
    try:
        return CustomerStatus(text.strip().lower())
    except ValueError:
        raise ConfigurationError(
            f"unknown status {text[:40]!r}; use active, paused or disabled"
        ) from None


def require_customer(runtime: Runtime, customer_id: int) -> Customer:
    customer = runtime.customers.get(customer_id)
    if customer is None:
        raise CustomerNotFoundError(f"no customer with id {customer_id}")
    return customer


def customer_pages(
    runtime: Runtime, status: CustomerStatus | None = None
) -> Iterator[list[Customer]]:
    """Every customer (of `status`) in id order, in pages of 500, one short query each."""
    after_id = 0
    while page := runtime.customers.list(status=status, after_id=after_id, limit=_PAGE_SIZE):
        yield page
        after_id = page[-1].id


def iter_customers(runtime: Runtime, status: CustomerStatus | None = None) -> Iterator[Customer]:
    return itertools.chain.from_iterable(customer_pages(runtime, status))


def customer_json(customer: Customer) -> dict[str, Any]:
    """A customer as JSON-ready values; the secret appears only as "(encrypted)"."""
    return {
        "id": customer.id,
        "name": customer.name,
        "status": customer.sync_status.value,
        "zuora_environment": customer.zuora_environment,
        "zuora_base_url": customer.zuora_base_url,
        "client_id": customer.client_id,
        "client_secret": "(encrypted)",
        "entity_id": customer.entity_id,
        "last_synced_at": iso(customer.last_synced_at),
        "consecutive_failures": customer.consecutive_failures,
        "attention_reason": customer.attention_reason,
        "created_at": iso(customer.created_at),
        "updated_at": iso(customer.updated_at),
    }


def echo_json_array(items: Iterable[Mapping[str, Any]]) -> None:
    """Write a JSON array one element at a time, so memory stays flat for any length."""
    typer.echo("[", nl=False)
    for index, item in enumerate(items):
        separator = ",\n  " if index else "\n  "
        typer.echo(separator + json.dumps(item, ensure_ascii=False), nl=False)
    typer.echo("\n]")


def take(items: Iterable[T], count: int) -> tuple[list[T], bool]:
    """The first `count` items, and whether there were more."""
    iterator = iter(items)
    first = list(itertools.islice(iterator, count))
    return first, next(iterator, None) is not None


def new_table(*headers: str) -> Table:
    table = Table(header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


def add_row(table: Table, *cells: object) -> None:
    """Cells as plain text on one line: "[red]x" is not markup, CR/LF and ESC are folded."""
    table.add_row(*(Text("-" if cell is None else clean(str(cell))) for cell in cells))


def print_table(table: Table, truncated: bool, *, empty: str) -> None:
    """Print `table` (or the `empty` line when it has no rows), noting a truncation."""
    if table.row_count == 0:
        typer.echo(empty)
        return
    emit_table(table)
    if truncated:
        typer.echo(f"Only the first {TABLE_ROW_CAP:,} rows are shown; use --json for all.")


def format_time(moment: datetime | None) -> str:
    return "never" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
