"""`workflow-sync workflows history` and `workflows diff`: how a workflow changed between the
versions that were synced. `diff` follows diff(1): exit 0 when equal, 1 when different, 2 on
error.
"""

from __future__ import annotations

from typing import Annotated

import typer

from zuora_workflow_sync.catalog.pages import DEFAULT_LIMIT
from zuora_workflow_sync.catalog.shapes import comparison_json, history_item_json, page_json
from zuora_workflow_sync.catalog.shapes import summary_json as workflow_summary_json
from zuora_workflow_sync.catalog.workflows import (
    Comparison,
    Version,
    compare_versions,
    workflow_history,
)
from zuora_workflow_sync.cli.common import AsJson, add_row, command_errors, format_time, new_table
from zuora_workflow_sync.cli.common import emit_table as print_rows
from zuora_workflow_sync.cli.db import OneLineCommand, open_runtime
from zuora_workflow_sync.cli.read_options import (
    Cursor,
    Limit,
    WorkflowRef,
    echo_json,
    echo_more,
    shown_value,
)
from zuora_workflow_sync.domain.json_paths import ValueChange
from zuora_workflow_sync.monitoring.logs import clean

EXIT_DIFFERENT = 1
EXIT_TROUBLE = 2


class DiffCommand(OneLineCommand):
    """diff(1)'s exit codes: a usage error is 2, like any other trouble."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        try:
            return super().parse_args(ctx, args)
        except typer.Exit as exc:
            raise typer.Exit(EXIT_TROUBLE if exc.exit_code else 0) from None


def history(
    workflow: WorkflowRef,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    as_json: AsJson = False,
) -> None:
    """Every stored content of a workflow, oldest first: when it was first seen, by which run,
    its active version and hash, and what changed from the one before."""
    with open_runtime() as runtime, command_errors():
        record, page = workflow_history(runtime.engine, workflow, limit=limit, cursor=cursor)
    if as_json:
        echo_json(
            page_json(page, history_item_json, workflow=workflow_summary_json(record.summary))
        )
        return
    summary = record.summary
    typer.echo(f"Workflow {summary.id}: {clean(summary.name)} ({clean(summary.customer_name)})")
    table = new_table("version", "first seen", "run", "zuora version", "hash", "current", "change")
    for item in page.items:
        entry = item.entry
        add_row(
            table,
            entry.number,
            format_time(entry.seen_at),
            entry.run_id,
            entry.active_version,
            entry.content_hash[:12],
            "yes" if item.current else "",
            item.summary,
        )
    print_rows(table)
    echo_more(page.next_cursor)


def diff(
    workflow: WorkflowRef,
    old: Annotated[
        str | None,
        typer.Argument(metavar="[FROM]", help="The older version (default: the one before TO)."),
    ] = None,
    new: Annotated[
        str | None, typer.Argument(metavar="[TO]", help="The newer version (default: current).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """A semantic diff of two stored versions: workflow fields, tasks added, removed and
    changed (with the JSON paths of what changed), linkages added and removed.

    Versions are history numbers, content hash prefixes or Zuora versions (`0.0.2`); by
    default the version before the current one against the current one. Exit status, as
    diff(1): 0 when the versions are equal, 1 when they differ, 2 on error.
    """
    try:
        with open_runtime() as runtime, command_errors():
            comparison = compare_versions(runtime.engine, workflow, old, new)
    except typer.Exit as exc:
        raise typer.Exit(EXIT_TROUBLE if exc.exit_code else 0) from None
    if as_json:
        echo_json(comparison_json(comparison))
    else:
        _echo_comparison(comparison)
    if not comparison.diff.equal:
        raise typer.Exit(EXIT_DIFFERENT)


def _echo_comparison(comparison: Comparison) -> None:
    summary, diff_ = comparison.workflow, comparison.diff
    typer.echo(
        f"Workflow {summary.id} ({clean(summary.name)}): "
        f"{_version_label(comparison.old)} -> {_version_label(comparison.new)}"
    )
    typer.echo(f"Summary: {diff_.summary()}")
    _echo_changes("Workflow fields", diff_.workflow_changes, indent="  ")
    _echo_list(
        "Tasks added",
        [f"+ {t.id} {clean(t.name or '-')} ({t.action_type or '?'})" for t in diff_.tasks_added],
    )
    _echo_list(
        "Tasks removed",
        [f"- {t.id} {clean(t.name or '-')} ({t.action_type or '?'})" for t in diff_.tasks_removed],
    )
    if diff_.tasks_changed:
        typer.echo("Tasks changed:")
        for change in diff_.tasks_changed:
            was = "" if change.old_id == change.id else f" (was {change.old_id})"
            typer.echo(f"  ~ {change.id} {clean(change.name or '-')}{was}")
            _echo_changes(None, change.changes, indent="      ")
    _echo_list(
        "Linkages added",
        [
            f"+ {_edge(link.source, link.target, link.linkage_type)}"
            for link in diff_.linkages_added
        ],
    )
    _echo_list(
        "Linkages removed",
        [
            f"- {_edge(link.source, link.target, link.linkage_type)}"
            for link in diff_.linkages_removed
        ],
    )
    _echo_changes("Other fields", diff_.other_changes, indent="  ")


def _version_label(version: Version) -> str:
    number = "?" if version.number is None else str(version.number)
    current = ", current" if version.current else ""
    return f"version {number} ({version.content_hash[:12]}{current})"


def _echo_changes(title: str | None, changes: tuple[ValueChange, ...], *, indent: str) -> None:
    if not changes:
        return
    if title is not None:
        typer.echo(f"{title}:")
    for change in changes:
        typer.echo(
            f"{indent}{clean(change.path)}: {shown_value(change.old)} -> {shown_value(change.new)}"
        )


def _echo_list(title: str, lines: list[str]) -> None:
    if lines:
        typer.echo(f"{title}:")
        for line in lines:
            typer.echo(f"  {line}")


def _edge(source: int | None, target: int | None, kind: str | None) -> str:
    return f"{'Start' if source is None else source} -> {target} {clean(kind or '-')}"
