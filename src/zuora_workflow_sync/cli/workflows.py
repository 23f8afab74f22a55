"""`workflow-sync workflows`: list, show, export and graph what was synced; `history` and
`diff` live in `cli.workflow_changes`. Every command reads through `catalog` and takes --json.
"""

from __future__ import annotations

from typing import Annotated

import typer

from zuora_workflow_sync.catalog.files import document_text
from zuora_workflow_sync.catalog.graph import FORMATS, render
from zuora_workflow_sync.catalog.pages import DEFAULT_LIMIT
from zuora_workflow_sync.catalog.references import resolve_customer
from zuora_workflow_sync.catalog.shapes import (
    graph_json,
    page_json,
    summary_json,
    version_json,
    workflow_json,
)
from zuora_workflow_sync.catalog.workflows import (
    WorkflowVersion,
    check_status,
    list_workflows,
    show_workflow,
)
from zuora_workflow_sync.cli.common import AsJson, add_row, command_errors, format_time, new_table
from zuora_workflow_sync.cli.common import emit_table as print_rows
from zuora_workflow_sync.cli.db import OneLineCommand, open_runtime
from zuora_workflow_sync.cli.read_options import (
    Cursor,
    CustomerOption,
    Limit,
    Output,
    VersionOption,
    WorkflowRef,
    echo_json,
    echo_more,
    parse_date,
    write_output,
)
from zuora_workflow_sync.cli.workflow_changes import DiffCommand, diff, history
from zuora_workflow_sync.domain.export_document import document_linkages, document_tasks
from zuora_workflow_sync.domain.records import WorkflowFilter
from zuora_workflow_sync.domain.task_graph import build_graph
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.monitoring.logs import clean

workflows_app = typer.Typer(
    no_args_is_help=True,
    help="List, show, export, diff and graph the workflows that were synced.",
)
workflows_app.command("history", cls=OneLineCommand)(history)
workflows_app.command("diff", cls=DiffCommand)(diff)


@workflows_app.command("list", cls=OneLineCommand)
def list_command(
    customer: CustomerOption = None,
    status: Annotated[
        str | None, typer.Option(metavar="STATUS", help="Active or Inactive.")
    ] = None,
    search: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Only names containing TEXT (any case).")
    ] = None,
    changed_since: Annotated[
        str | None,
        typer.Option(metavar="DATE", help="Only workflows whose content changed since DATE."),
    ] = None,
    include_deleted: Annotated[
        bool, typer.Option(help="Also workflows deleted in Zuora (kept as tombstones).")
    ] = False,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    as_json: AsJson = False,
) -> None:
    """Workflows by customer and Zuora id: status, active version, tasks, last change."""
    with command_errors():
        wanted = WorkflowFilter(
            status=check_status(status),
            search=_search_text(search),
            changed_since=parse_date(changed_since, "--changed-since"),
            include_deleted=include_deleted,
        )
    with open_runtime() as runtime, command_errors():
        if customer is not None:
            wanted = _with_customer(wanted, resolve_customer(runtime.engine, customer).id)
        page = list_workflows(runtime.engine, wanted, limit=limit, cursor=cursor)
    if as_json:
        echo_json(page_json(page, summary_json))
        return
    if not page.items:
        typer.echo("No workflows match.")
        return
    table = new_table(
        *("id", "customer", "zuora id", "name", "status", "version", "tasks"),
        *("last changed", "last seen", "deleted"),
    )
    for row in page.items:
        add_row(
            table,
            row.id,
            f"{row.customer_id} {row.customer_name}",
            row.zuora_workflow_id,
            row.name,
            row.status,
            row.active_version,
            row.task_count,
            format_time(row.last_changed_at),
            format_time(row.last_seen_at),
            None if row.deleted_at is None else format_time(row.deleted_at),
        )
    print_rows(table)
    echo_more(page.next_cursor)


def _search_text(text: str | None) -> str | None:
    if text is not None and not 1 <= len(text) <= 200:
        raise ConfigurationError("--search takes 1 to 200 characters")
    return text


def _with_customer(wanted: WorkflowFilter, customer_id: int) -> WorkflowFilter:
    return WorkflowFilter(
        customer_id=customer_id,
        status=wanted.status,
        search=wanted.search,
        changed_since=wanted.changed_since,
        include_deleted=wanted.include_deleted,
    )


@workflows_app.command("show", cls=OneLineCommand)
def show(workflow: WorkflowRef, version: VersionOption = None, as_json: AsJson = False) -> None:
    """A workflow: general information, its tasks and its linkages (at --version if given)."""
    with open_runtime() as runtime, command_errors():
        shown = show_workflow(runtime.engine, workflow, version)
    if as_json:
        echo_json(workflow_json(shown))
        return
    _echo_details(shown)
    tasks = new_table("id", "name", "action type", "object", "call type", "priority")
    for task in document_tasks(shown.version.document):
        add_row(
            tasks, task.id, task.name, task.action_type, task.object, task.call_type, task.priority
        )
    typer.echo(f"\nTasks ({tasks.row_count})")
    if tasks.row_count:
        print_rows(tasks)
    links = new_table("from", "to", "type")
    for linkage in document_linkages(shown.version.document):
        source = "Start" if linkage.source_task_id is None else linkage.source_task_id
        add_row(links, source, linkage.target_task_id, linkage.linkage_type)
    typer.echo(f"\nLinkages ({links.row_count})")
    if links.row_count:
        print_rows(links)


def _echo_details(shown: WorkflowVersion) -> None:
    record, version = shown.record, shown.version
    summary = record.summary
    last_sync = format_time(record.customer_last_synced_at)
    state = "current" if version.current else "not the current content"
    lines = [
        (f"Workflow {summary.id}", summary.name),
        ("customer", f"{summary.customer_id} {summary.customer_name} (last sync {last_sync})"),
        ("Zuora id", summary.zuora_workflow_id),
        ("status", f"{summary.status or '-'} (active version {summary.active_version or '-'})"),
        ("description", record.description or "-"),
        ("created in Zuora", format_time(record.zuora_created_at)),
        ("updated in Zuora", format_time(record.zuora_updated_at)),
        ("first seen", format_time(record.first_seen_at)),
        ("last changed", format_time(summary.last_changed_at)),
        ("last seen", format_time(summary.last_seen_at)),
        ("deleted", "-" if summary.deleted_at is None else format_time(summary.deleted_at)),
        (
            "version",
            f"{version.number or '?'} of {shown.history_length}, {state} "
            f"(hash {version.content_hash[:12]}, run {version.run_id or '-'})",
        ),
    ]
    typer.echo(f"{lines[0][0]}: {_line(lines[0][1])}")
    for label, value in lines[1:]:
        typer.echo(f"  {label + ':':<18}{_line(value)}")


def _line(value: object) -> str:
    return clean(str(value))


@workflows_app.command("export", cls=OneLineCommand)
def export(
    workflow: WorkflowRef,
    version: VersionOption = None,
    output: Output = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Wrap the export with the workflow and version it comes from."),
    ] = False,
) -> None:
    """The export JSON as Zuora sent it (sorted keys, 2-space indent), ready to re-import."""
    with open_runtime() as runtime, command_errors():
        shown = show_workflow(runtime.engine, workflow, version)
        if as_json:
            envelope = {
                "workflow": summary_json(shown.record.summary),
                "version": version_json(shown.version),
                "document": shown.version.document,
            }
            text = document_text(envelope)
        else:
            text = document_text(shown.version.document)
        write_output(text, output)
    if output is not None:
        typer.echo(
            f"Wrote workflow {shown.record.summary.id} "
            f"(version {shown.version.number or '?'}) to {_line(output)}"
        )


@workflows_app.command("graph", cls=OneLineCommand)
def graph(
    workflow: WorkflowRef,
    version: VersionOption = None,
    fmt: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="mermaid (default) or dot.")
    ] = "mermaid",
    output: Output = None,
    as_json: AsJson = False,
) -> None:
    """The task graph from the linkages: Start, one node per task, labelled edges."""
    with command_errors():
        if fmt not in FORMATS:
            raise ConfigurationError(f"--format is mermaid or dot, got {fmt[:20]!r}")
    with open_runtime() as runtime, command_errors():
        shown = show_workflow(runtime.engine, workflow, version)
        task_graph = build_graph(shown.version.document)
        text = document_text(graph_json(task_graph)) if as_json else render(task_graph, fmt)
        write_output(text, output)
