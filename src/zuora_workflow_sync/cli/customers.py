"""`workflow-sync customers`: add, list, show, check, pause, remove, re-key and reset the
customers we sync, and set their pacing.

A client secret is stored only as a Fernet token (read as `keys.read_client_secret` says); no
command prints it. What the operator types is validated in `customer_input`; `add` checks the
credentials against Zuora (`sync.check`) before it writes anything, unless `--no-check`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import SecretStr

from zuora_workflow_sync.catalog.references import resolve_customer
from zuora_workflow_sync.cli.common import (
    TABLE_ROW_CAP,
    AsJson,
    add_row,
    command_errors,
    echo_json_array,
    fail,
    format_time,
    new_table,
    print_table,
    take,
)
from zuora_workflow_sync.cli.customer_input import (
    CLIENT_ID_LENGTH,
    NewCustomer,
    new_customer,
    pacing,
    parse_entity_id,
    parse_status,
)
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
from zuora_workflow_sync.monitoring.logs import SECRETS, clean
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.sync import customer_actions

if TYPE_CHECKING:  # imported where used: sync.check brings httpx and aiohttp
    from zuora_workflow_sync.sync.check import TenantAccess

_PAGE_SIZE = 500

customers_app = typer.Typer(
    no_args_is_help=True,
    help="Add, list, show, check, pause, remove, re-key and reset the customers we sync.",
)

CustomerId = Annotated[str, typer.Argument(metavar="ID", help="The customer's id.")]
CustomerRef = Annotated[
    str, typer.Argument(metavar="C", help="The customer: its id, or its exact name.")
]
MaxInFlight = Annotated[
    str | None,
    typer.Option(
        "--max-in-flight",
        metavar="N",
        help="Requests in flight for this customer, all workers together (1-40; 'default').",
    ),
]
TenantTypeOption = Annotated[
    str | None,
    typer.Option(
        "--tenant-type",
        metavar="TYPE",
        help="production, developer_sandbox or api_sandbox (Zuora's quotas; 'default').",
    ),
]


@customers_app.command("add", cls=OneLineCommand)
def add(
    name: Annotated[str, typer.Option(help="Unique name, 1-200 printable characters.")],
    client_id: Annotated[
        str,
        typer.Option(
            help=f"OAuth client id of the tenant's Zuora API user (exactly {CLIENT_ID_LENGTH} "
            "characters, as Zuora shows it)."
        ),
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
    max_in_flight: MaxInFlight = None,
    tenant_type: TenantTypeOption = None,
    secret_stdin: SecretStdin = False,
    secret_env: SecretEnv = None,
    secret_file: SecretFile = None,
    no_check: Annotated[
        bool,
        typer.Option("--no-check", help="Add without checking the credentials against Zuora."),
    ] = False,
) -> None:
    """Add a customer; its client secret is stored encrypted, never taken as an argument.

    First the credentials are checked as `customers check` does (a token and the first page of
    workflows); a failed check adds nothing. `--no-check` skips it (e.g. offline).
    """
    with command_errors():
        new = new_customer(name, environment, base_url, client_id, entity_id, customer_id)
        limits = pacing(max_in_flight, tenant_type)
        secret = read_client_secret(secret_stdin, secret_env, secret_file)
    with open_runtime() as runtime:
        runtime.customers.ensure_addable(new.name, new.customer_id)
        verified = _verified_keyring(runtime)
        if not no_check:
            _check_before_adding(runtime.settings, new, secret)
        keyring = verified or runtime.keyring
        customer = runtime.customers.add(
            new.name,
            zuora_base_url=new.base_url,
            zuora_environment=new.environment,
            client_id=new.client_id,
            client_secret_encrypted=keyring.encrypt(secret),
            entity_id=new.entity_id,
            customer_id=new.customer_id,
            max_in_flight=limits.max_in_flight,
            tenant_type=limits.tenant_type,
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
        table = new_table("id", "name", "status", "tenant", "client id", "last synced", "circuit")
        shown, more = take(customers, TABLE_ROW_CAP)
    now = datetime.now(UTC)
    for customer in shown:
        tenant = customer.zuora_environment or customer.zuora_base_url
        status_text = customer.sync_status.value
        when = format_time(customer.last_synced_at)
        circuit = customer.circuit.describe(now)
        cells = (customer.id, customer.name, status_text, tenant, customer.client_id, when)
        add_row(table, *cells, circuit)
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


@customers_app.command("check", cls=OneLineCommand)
def check(customer_ref: CustomerRef, as_json: AsJson = False) -> None:
    """Check a customer's credentials against Zuora: one token request, then the first page of
    workflows. Says plainly what is wrong (credentials rejected, Workflow View Access missing,
    an entity id needed, host unreachable) and exits 1; writes nothing.

    --json prints {"customer_id", "ok", "problem", "message", "token", "workflows_on_first_page",
    "more_pages", "entity_ids", "status", "failed_at", "request_id"}, also on failure (exit 1).
    """
    from zuora_workflow_sync.sync.check import TenantAccess, check_credentials

    with open_runtime() as runtime:
        customer = resolve_customer(runtime.engine, customer_ref)
        secret = _stored_secret(runtime, customer)
        access = TenantAccess.of(customer)
        result = asyncio.run(check_credentials(runtime.settings, access, secret))
    if as_json:
        document = {"customer_id": customer.id, **result.as_json()}
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
        if not result.ok:
            raise typer.Exit(1)
        return
    if not result.ok:
        raise fail(result.message, prefix="")
    typer.echo(clean(result.message))


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
        customer_actions.set_status(runtime, wanted_id, wanted)
    typer.echo(f"Customer {wanted_id} is now {wanted.value}")


@customers_app.command("set-pacing", cls=OneLineCommand)
def set_pacing(
    customer_id: CustomerId, max_in_flight: MaxInFlight = None, tenant_type: TenantTypeOption = None
) -> None:
    """Set a customer's requests in flight and tenant type ('default' for the defaults)."""
    with command_errors():
        wanted = parse_id(customer_id, "customer")
        if max_in_flight is None and tenant_type is None:
            raise ConfigurationError("give --max-in-flight, --tenant-type or both")
        limits = pacing(max_in_flight, tenant_type)
    with open_runtime() as runtime:
        customer = require_customer(runtime, wanted)
        runtime.customers.set_pacing(
            customer.id,
            max_in_flight=(
                limits.max_in_flight if max_in_flight is not None else customer.max_in_flight
            ),
            tenant_type=limits.tenant_type if tenant_type is not None else customer.tenant_type,
        )
        updated = require_customer(runtime, customer.id)
    in_flight = updated.max_in_flight or "default"
    kind = "default" if updated.tenant_type is None else updated.tenant_type.value
    typer.echo(f"Customer {customer.id} paced: max in flight {in_flight}, tenant type {kind}")


@customers_app.command("reset", cls=OneLineCommand)
def reset(customer_id: CustomerId) -> None:
    """Close a customer's circuit breaker (open or held): failures 0, attention reason cleared;
    it is dispatched again from the next sync."""
    with command_errors():
        wanted = parse_id(customer_id, "customer")
    with open_runtime() as runtime:
        customer, previous = customer_actions.reset_circuit(runtime, wanted)
    was = previous.describe(datetime.now(UTC))
    typer.echo(
        f"Circuit of customer {customer.id} reset: {customer.name} (was {was}; now closed, "
        "failures 0, attention reason cleared)"
    )


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
    """Replace a customer's client secret (rotated credentials); clears its attention reason,
    and a circuit held open for bad credentials becomes half-open (the next run probes)."""
    with command_errors():
        wanted = parse_id(customer_id, "customer")
    with open_runtime() as runtime:
        customer = require_customer(runtime, wanted)
        secret = read_client_secret(secret_stdin, secret_env, secret_file)
        keyring = _keyring_for_new_secret(runtime, exclude_id=customer.id)
        runtime.customers.set_client_secret(customer.id, keyring.encrypt(secret))
    typer.echo(f"Client secret of customer {customer.id} replaced: {customer.name}")


@customers_app.command("set-entity", cls=OneLineCommand)
def set_entity(
    customer_id: CustomerId,
    entity_id: Annotated[
        str | None,
        typer.Argument(metavar="[ENTITY_ID]", help="The entity's id (a UUID); omit with --none."),
    ] = None,
    none: Annotated[
        bool, typer.Option("--none", help="Clear the entity id (a single-entity tenant).")
    ] = False,
    no_check: Annotated[
        bool,
        typer.Option("--no-check", help="Change it without checking the credentials with it."),
    ] = False,
) -> None:
    """Set the entity id a multi-entity tenant's requests name (`customers check` lists the
    ones the credentials offer). First checked as `customers check` does, with the new entity;
    a failed check changes nothing. Clears the attention reason; a circuit held open becomes
    half-open (the next run probes)."""
    from zuora_workflow_sync.sync.check import TenantAccess

    with command_errors():
        wanted = parse_id(customer_id, "customer")
        if none == (entity_id is not None):
            raise ConfigurationError("give an ENTITY_ID, or --none to clear it (not both)")
        entity = None if entity_id is None else parse_entity_id(entity_id)
    with open_runtime() as runtime:
        customer = require_customer(runtime, wanted)
        if not no_check:
            access = TenantAccess(customer.zuora_base_url, customer.client_id, entity)
            secret = _stored_secret(runtime, customer)
            _check_or_refuse(runtime.settings, access, secret, "nothing changed")
        runtime.customers.set_entity_id(customer.id, entity)
    shown = "cleared" if entity is None else f"set to {entity}"
    typer.echo(f"Entity id of customer {customer.id} {shown}: {customer.name}")


def _keyring_for_new_secret(runtime: Runtime, exclude_id: int | None = None) -> Keyring:
    """The keys to encrypt a new secret with, refused (SecretsError) when they cannot open the
    stored secrets: what they encrypt would belong to another installation. A key file is
    created only while no other secret is stored (the one replaced needs no old key)."""
    verified = _verified_keyring(runtime, exclude_id)
    if verified is not None:
        return verified
    keys = runtime.settings.secret_keys
    return Keyring.from_sources(
        keys.get_secret_value() if keys is not None else None, runtime.settings.resolved_key_file
    )


def _verified_keyring(runtime: Runtime, exclude_id: int | None = None) -> Keyring | None:
    """The configured keys once they open a stored secret (SecretsError if they cannot); None
    while no other secret is stored (then the runtime's keyring may create the key file)."""
    stored = [c for c in runtime.customers.list(limit=2) if c.id != exclude_id]
    if not stored:
        return None
    keyring = existing_keyring(runtime.settings)
    keyring.decrypt(stored[0].client_secret_encrypted)
    return keyring


def _check_before_adding(settings: Settings, new: NewCustomer, secret: SecretStr) -> None:
    from zuora_workflow_sync.sync.check import TenantAccess

    access = TenantAccess(new.base_url, new.client_id, new.entity_id)
    _check_or_refuse(settings, access, secret, "nothing added")


def _check_or_refuse(
    settings: Settings, access: TenantAccess, secret: SecretStr, unchanged: str
) -> None:
    """Print the passed check, or exit 1 with why it failed and `unchanged` (before anything
    is written)."""
    from zuora_workflow_sync.sync.check import check_credentials

    result = asyncio.run(check_credentials(settings, access, secret))
    if not result.ok:
        raise fail(f"{result.message}; {unchanged} (--no-check skips the check)", prefix="")
    typer.echo(clean(result.message))


def _stored_secret(runtime: Runtime, customer: Customer) -> SecretStr:
    """The customer's client secret, decrypted and registered for redaction."""
    secret = existing_keyring(runtime.settings).decrypt(customer.client_secret_encrypted)
    SECRETS.register(secret.get_secret_value())
    return secret


def _confirm_removal(customer: Customer) -> None:
    question = f"Remove customer {customer.id} ({customer.name}) with its runs and workflows?"
    try:
        confirmed = typer.confirm(question)
    except typer.Abort:
        confirmed = False
    if not confirmed:
        raise fail("not removed: not confirmed (pass --yes to skip the question)")


require_customer = customer_actions.require_customer


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
    """A customer as JSON-ready values (`catalog.fleet_shapes`); the secret as "(encrypted)"."""
    from zuora_workflow_sync.catalog import fleet_shapes

    return fleet_shapes.customer_json(customer, datetime.now(UTC))
