"""What every command shares: settings and runtime for one invocation, and one-line errors.

A `WorkflowSyncError` becomes one line on stderr and exit code 1; a traceback only with
`ZWS_VERBOSE=1`. Nothing is written when a command fails before its first write.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table

from zuora_workflow_sync.errors import WorkflowSyncError
from zuora_workflow_sync.monitoring.logs import clean, configure_logging
from zuora_workflow_sync.runtime import Runtime, build_runtime
from zuora_workflow_sync.settings import Settings, load_settings

logger = logging.getLogger("zuora_workflow_sync.cli")


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
    configure_logging(
        settings.log_level,
        json_lines=settings.log_json,
        stream=sys.stderr,
        path=settings.resolved_log_file,
    )
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
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(highlight=False, soft_wrap=False, width=200)
    console.print(table)
