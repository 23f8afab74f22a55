"""`workflow-sync tasks search`: tasks across every customer's workflows, e.g. every Callout,
every task that touches Invoice, or every task whose parameters mention a URL."""

from __future__ import annotations

from typing import Annotated

import typer

from zuora_workflow_sync.catalog.pages import DEFAULT_LIMIT
from zuora_workflow_sync.catalog.references import resolve_customer, resolve_workflow
from zuora_workflow_sync.catalog.shapes import page_json, task_hit_json
from zuora_workflow_sync.catalog.tasks import search_tasks
from zuora_workflow_sync.catalog.workflows import check_status
from zuora_workflow_sync.cli.common import AsJson, add_row, command_errors, new_table
from zuora_workflow_sync.cli.common import emit_table as print_rows
from zuora_workflow_sync.cli.db import OneLineCommand, open_runtime
from zuora_workflow_sync.cli.read_options import Cursor, CustomerOption, Limit, echo_json, echo_more
from zuora_workflow_sync.domain.records import TaskFilter
from zuora_workflow_sync.runtime import Runtime

tasks_app = typer.Typer(no_args_is_help=True, help="Search the tasks of every synced workflow.")


@tasks_app.command("search", cls=OneLineCommand)
def search(
    customer: CustomerOption = None,
    workflow: Annotated[
        str | None,
        typer.Option(metavar="WORKFLOW", help="Only this workflow (id or CUSTOMER:ZUORA_ID)."),
    ] = None,
    action_type: Annotated[
        list[str] | None,
        typer.Option(
            "--action-type",
            metavar="TYPE",
            help="As Zuora names it (Callout, Email, Logic::JSONTransform ...); repeatable.",
        ),
    ] = None,
    object_name: Annotated[
        str | None, typer.Option("--object", metavar="OBJECT", help="e.g. Invoice, Account.")
    ] = None,
    priority: Annotated[
        str | None, typer.Option(metavar="PRIORITY", help="High, Medium or Low.")
    ] = None,
    workflow_status: Annotated[
        str | None,
        typer.Option(metavar="STATUS", help="Only tasks of Active or Inactive workflows."),
    ] = None,
    text: Annotated[
        str | None,
        typer.Option(
            metavar="TEXT",
            help="A substring (3+ characters, any case) of the task's name or parameters.",
        ),
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    as_json: AsJson = False,
) -> None:
    """Tasks of live workflows across all customers, in task order, with their workflow."""
    with command_errors():
        status = check_status(workflow_status)
    with open_runtime() as runtime, command_errors():
        wanted = TaskFilter(
            customer_id=_customer_id(runtime, customer),
            workflow_id=None
            if workflow is None
            else resolve_workflow(runtime.engine, workflow).summary.id,
            action_types=tuple(action_type or ()),
            object=object_name,
            priority=priority,
            workflow_status=status,
            text=text,
        )
        page = search_tasks(runtime.engine, wanted, limit=limit, cursor=cursor)
    if as_json:
        echo_json(page_json(page, task_hit_json))
        return
    if not page.items:
        typer.echo("No tasks match.")
        return
    table = new_table(
        *("task", "name", "action type", "object", "priority", "workflow", "customer")
    )
    for hit in page.items:
        add_row(
            table,
            hit.zuora_task_id,
            hit.name,
            hit.action_type,
            hit.object,
            hit.priority,
            f"{hit.workflow_id} {hit.workflow_name} ({hit.customer_id}:{hit.zuora_workflow_id})",
            f"{hit.customer_id} {hit.customer_name}",
        )
    print_rows(table)
    echo_more(page.next_cursor)


def _customer_id(runtime: Runtime, customer: str | None) -> int | None:
    return None if customer is None else resolve_customer(runtime.engine, customer).id
