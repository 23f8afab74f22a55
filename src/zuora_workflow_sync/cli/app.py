"""`workflow-sync`: registers every subcommand; each lives in its own module."""

from __future__ import annotations

import typer

from zuora_workflow_sync.cli.backup import backup
from zuora_workflow_sync.cli.customers import customers_app
from zuora_workflow_sync.cli.db import OneLineCommand, db_app
from zuora_workflow_sync.cli.keys import keys_app
from zuora_workflow_sync.cli.reports import reports_app
from zuora_workflow_sync.cli.scheduler import scheduler
from zuora_workflow_sync.cli.serve import serve
from zuora_workflow_sync.cli.simulator import simulator
from zuora_workflow_sync.cli.tasks import tasks_app
from zuora_workflow_sync.cli.version import VersionFlag
from zuora_workflow_sync.cli.worker import worker
from zuora_workflow_sync.cli.workflows import workflows_app

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Keep a local, versioned copy of the Zuora Workflow definitions of many customers.",
)


@app.callback()
def _root(version: VersionFlag = False) -> None:
    """Keep a local, versioned copy of the Zuora Workflow definitions of many customers."""


app.command("simulator")(simulator)
app.add_typer(customers_app, name="customers")
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(reports_app)  # status, runs, retry: top-level commands
app.add_typer(workflows_app, name="workflows")
app.add_typer(tasks_app, name="tasks")
app.command("backup", cls=OneLineCommand)(backup)
app.command("worker")(worker)
app.command("scheduler")(scheduler)
app.command("serve", cls=OneLineCommand)(serve)


def main() -> None:
    app()
