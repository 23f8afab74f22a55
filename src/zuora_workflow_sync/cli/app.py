"""`workflow-sync`: registers every subcommand; each lives in its own module."""

from __future__ import annotations

import typer

from zuora_workflow_sync.cli.simulator import simulator

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Keep a local, versioned copy of the Zuora Workflow definitions of many customers.",
)


@app.callback()
def _root() -> None:
    """Keep a local, versioned copy of the Zuora Workflow definitions of many customers."""


app.command("simulator")(simulator)


def main() -> None:
    app()
