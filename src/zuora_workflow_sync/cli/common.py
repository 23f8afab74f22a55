"""What every command shares: settings and runtime for one invocation, one-line errors, and
the output of tables and JSON.

A `WorkflowSyncError` becomes one line on stderr and exit code 1; a traceback only with
`ZWS_VERBOSE=1`. Nothing is written when a command fails before its first write.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from zuora_workflow_sync.errors import ConfigurationError, WorkflowSyncError
from zuora_workflow_sync.monitoring.logs import clean, configure_logging
from zuora_workflow_sync.runtime import Runtime, build_runtime, prepare_folders
from zuora_workflow_sync.settings import Settings, load_settings

if TYPE_CHECKING:
    # Imported by the functions that print tables: a command printing none never loads rich.
    from rich.table import Table

logger = logging.getLogger("zuora_workflow_sync.cli")

T = TypeVar("T")

TABLE_ROW_CAP = 1000
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, *, prefix: str = "Error: ", code: int = 1) -> typer.Exit:
    """Print one clean line on stderr and return the Exit to raise."""
    typer.echo(f"{prefix}{clean(message)}", err=True)
    return typer.Exit(code)


@contextmanager
def command_errors(prefix: str = "Error: ") -> Iterator[None]:
    """Turn a WorkflowSyncError (or a bad setting) into one line on stderr and exit 1."""
    try:
        yield
    except WorkflowSyncError as exc:
        if os.environ.get("ZWS_VERBOSE") == "1":
            logger.exception("command failed")
        raise fail(str(exc), prefix=prefix) from None


def settings_for_command() -> Settings:
    """Load settings and install logging (JSON lines to ZWS_LOG_FILE) for this invocation."""
    settings = load_settings()
    prepare_folders(settings)
    path = settings.resolved_log_file
    try:
        configure_logging(
            settings.log_level,
            json_lines=settings.log_json,
            stream=sys.stderr,
            path=path,
            file_level=settings.resolved_log_file_level,
        )
    except OSError as exc:
        setting = "ZWS_LOG_FILE" if settings.log_file else "ZWS_HOME"
        raise ConfigurationError(
            f"{setting}: cannot write the log file {str(path)[:200]} "
            f"({exc.strerror or type(exc).__name__})"
        ) from None
    return settings


@contextmanager
def runtime_for_command(prefix: str = "Error: ") -> Iterator[Runtime]:
    """Settings, logging and a Runtime that is closed afterwards; errors become one line."""
    with command_errors(prefix):
        settings = settings_for_command()
        with build_runtime(settings) as runtime:
            yield runtime


def emit_table(table: Table) -> None:
    """Print a table on stdout; to a pipe or a file, wide enough not to squeeze its columns."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(highlight=False, soft_wrap=False, width=200)
    console.print(table)


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
    from rich.table import Table

    table = Table(header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


def add_row(table: Table, *cells: object) -> None:
    """Cells as plain text on one line: "[red]x" is not markup, CR/LF and ESC are folded."""
    from rich.text import Text

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
