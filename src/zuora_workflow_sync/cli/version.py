"""`--version` of both entry points: the installed package's version, from its metadata."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer

DISTRIBUTION = "zuora-workflow-sync"


def package_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _print_version(program: str) -> Callable[[bool], None]:
    def callback(value: bool) -> None:
        if value:
            typer.echo(f"{program} {package_version()}")
            raise typer.Exit()

    return callback


def version_option(program: str) -> Any:
    """A `--version` option (eager: it prints and exits before any other parameter is read)."""
    return typer.Option(
        "--version",
        callback=_print_version(program),
        is_eager=True,
        help="Print the version and exit.",
    )


VersionFlag = Annotated[bool, version_option("workflow-sync")]
SyncWorkflowsVersionFlag = Annotated[bool, version_option("sync-workflows")]
