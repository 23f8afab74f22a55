"""`workflow-sync status`, `runs` and `retry`: what the operator reads from the ledger, and the
re-dispatch of failed runs (recorded in the ledger first, then enqueued by id).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer

from zuora_workflow_sync.cli.common import (
    TABLE_ROW_CAP,
    AsJson,
    add_row,
    command_errors,
    echo_json_array,
    format_time,
    iso,
    new_table,
    print_table,
    take,
)
from zuora_workflow_sync.cli.customers import customer_pages, require_customer
from zuora_workflow_sync.cli.db import RUN_ID_MAX, OneLineCommand, open_runtime, parse_id
from zuora_workflow_sync.domain.models import (
    Customer,
    SyncRun,
)
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.monitoring.logs import clean
from zuora_workflow_sync.runtime import Runtime

if TYPE_CHECKING:
    pass

reports_app = typer.Typer(help="Status of the customers and their runs; retry failed runs.")

_QUEUE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_TABLE_TEXT_WIDTH = 80


class _StatusRow(NamedTuple):
    customer: Customer
    last_run: SyncRun | None
    live_workflows: int
    now: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.customer.id,
            "name": self.customer.name,
            "status": self.customer.sync_status.value,
            "last_synced_at": iso(self.customer.last_synced_at),
            "last_outcome": None if self.last_run is None else self.last_run.status.value,
            "last_run_id": None if self.last_run is None else self.last_run.id,
            "consecutive_failures": self.customer.consecutive_failures,
            "live_workflows": self.live_workflows,
            "attention_reason": _redacted(self.customer.attention_reason),
            "circuit": self.customer.circuit.describe(self.now),
        }

    def cells(self) -> tuple[object, ...]:
        customer = self.customer
        return (
            customer.id,
            customer.name,
            customer.sync_status.value,
            format_time(customer.last_synced_at),
            None if self.last_run is None else self.last_run.status.value,
            customer.consecutive_failures,
            self.live_workflows,
            _one_line(_attention(customer, self.now)),
        )


@reports_app.command("status", cls=OneLineCommand)
def status(as_json: AsJson = False) -> None:
    """One row per customer: status, last sync and outcome, failures, live workflows, attention.

    --json streams every customer as one JSON array; the table shows the first 1,000.
    """
    with open_runtime() as runtime:
        rows = _status_rows(runtime)
        if as_json:
            echo_json_array(row.as_json() for row in rows)
            return
        shown, more = take(rows, TABLE_ROW_CAP)
    table = new_table(
        *("id", "name", "status", "last synced", "last outcome", "failures", "workflows"),
        "attention",
    )
    for row in shown:
        add_row(table, *row.cells())
    print_table(table, more, empty="No customers.")


@reports_app.command("runs", cls=OneLineCommand)
def runs(
    customer: Annotated[
        str | None, typer.Option("--customer", metavar="ID", help="Only this customer's runs.")
    ] = None,
    failed: Annotated[
        bool, typer.Option("--failed", help="Only failed and abandoned runs.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many runs.")] = 50,
    as_json: AsJson = False,
) -> None:
    """The newest runs first, with their timing, pacing wait, counts and (redacted) error."""
    from zuora_workflow_sync.catalog.fleet_shapes import run_json

    with command_errors():
        customer_id = None if customer is None else parse_id(customer, "customer")
    with open_runtime() as runtime:
        if customer_id is not None:
            require_customer(runtime, customer_id)
        found = runtime.ledger.list_runs(customer_id=customer_id, failed_only=failed, limit=limit)
        names = _customer_names(runtime, {run.customer_id for run in found})
    if as_json:
        echo_json_array(run_json(run, names[run.customer_id]) for run in found)
        return
    table = new_table(
        *("run", "customer", "queue", "trigger", "status", "attempt", "dispatched"),
        *("started", "finished", "duration", "workflows", "error"),
    )
    for run in found:
        add_row(table, *_run_cells(run, names[run.customer_id]))
    print_table(table, False, empty="No runs.")


@reports_app.command("retry", cls=OneLineCommand)
def retry(
    run_id: Annotated[
        str | None, typer.Argument(metavar="RUN_ID", help="A failed or abandoned run to retry.")
    ] = None,
    all_failed: Annotated[
        bool,
        typer.Option(
            "--all-failed",
            help="Retry every active customer whose newest run failed or was abandoned.",
        ),
    ] = False,
    queue: Annotated[
        str | None,
        typer.Option(help="With --all-failed: only runs of this queue."),
    ] = None,
) -> None:
    """Re-dispatch failed or abandoned runs: record a new run (trigger "retry") and enqueue it.

    The new run goes to the queue of the run it retries. A customer that already has a queued
    or running run is reported and skipped, so rerunning this never doubles a sync.
    """
    from zuora_workflow_sync.sync.retry import retry_all_failed, retry_run

    with command_errors():
        target = _retry_target(run_id, all_failed, queue)
    with open_runtime() as runtime:
        if target is not None:
            retry_run(runtime, target, say=typer.echo)
        else:
            retried, skipped = retry_all_failed(runtime, queue, say=typer.echo)
            typer.echo(f"Retried {retried} runs; skipped {skipped} customers with an active run")


def _status_rows(runtime: Runtime) -> Iterator[_StatusRow]:
    """Customers in id order with their newest run and live workflows, a page at a time."""
    now = datetime.now(UTC)
    for page in customer_pages(runtime):
        ids = [customer.id for customer in page]
        latest = runtime.ledger.latest_runs(ids)
        live = runtime.workflows.count_live(ids)
        for customer in page:
            yield _StatusRow(customer, latest.get(customer.id), live.get(customer.id, 0), now)


def _attention(customer: Customer, now: datetime) -> str | None:
    """The circuit, unless closed, then the attention reason: `circuit held; the Zuora ...`."""
    circuit = customer.circuit
    parts = [] if circuit.is_closed else [f"circuit {circuit.describe(now)}"]
    if customer.attention_reason:
        parts.append(customer.attention_reason)
    return "; ".join(parts) or None


def _customer_names(runtime: Runtime, customer_ids: set[int]) -> dict[int, str]:
    customers = {customer_id: runtime.customers.get(customer_id) for customer_id in customer_ids}
    return {key: "?" if found is None else found.name for key, found in customers.items()}


def _run_cells(run: SyncRun, customer_name: str) -> tuple[object, ...]:
    counts = run.counts
    duration = None if run.duration_seconds is None else f"{run.duration_seconds:.1f}s"
    if run.pacing_wait_seconds:  # how long pacing alone held it back, across its attempts
        duration = f"{duration or '-'} (paced {run.pacing_wait_seconds:.1f}s)"
    workflows = f"{counts.listed} listed +{counts.created} ~{counts.updated} -{counts.tombstoned}"
    error = ": ".join(part for part in (run.error_class, run.error_message) if part)
    return (
        run.id,
        f"{run.customer_id} {customer_name}",
        run.queue,
        run.trigger.value,
        run.status.value,
        f"{run.attempt}/{run.max_attempts}",
        format_time(run.dispatched_at),
        None if run.started_at is None else format_time(run.started_at),
        None if run.finished_at is None else format_time(run.finished_at),
        duration,
        workflows,
        _one_line(error or None),
    )


def _redacted(text: str | None) -> str | None:
    return None if text is None else clean(text)


def _one_line(text: str | None) -> str | None:
    """Redacted, on one line, and short enough for a table cell."""
    if text is None:
        return None
    line = clean(text)
    return line if len(line) <= _TABLE_TEXT_WIDTH else line[: _TABLE_TEXT_WIDTH - 1] + "…"


def _retry_target(run_id: str | None, all_failed: bool, queue: str | None) -> int | None:
    """The run id to retry, or None for --all-failed; ConfigurationError for a bad mix."""
    if (run_id is None) == (not all_failed):
        raise ConfigurationError("give either a RUN_ID or --all-failed")
    if queue is not None and not all_failed:
        raise ConfigurationError("--queue goes with --all-failed only")
    if queue is not None and not _QUEUE_NAME.fullmatch(queue):
        raise ConfigurationError("a queue name is 1-64 letters, digits, '_', '.' or '-'")
    return None if run_id is None else parse_id(run_id, "run", RUN_ID_MAX)
