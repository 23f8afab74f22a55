"""`workflow-sync`: registers every subcommand; each lives in its own module.

A subcommand's module is imported only when that subcommand runs (`LazyGroup`): `--help` lists
them from `COMMANDS` without importing any, so a start pays for the one command it runs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from zuora_workflow_sync.cli.version import VersionFlag

_HELP = "Keep a local, versioned copy of the Zuora Workflow definitions of many customers."


@dataclass(frozen=True)
class Entry:
    """Where a top-level subcommand lives and how it is registered.

    `kind`: "command" (a function, `app.command`), "one_line" (a function run as
    `cli.db.OneLineCommand`), "group" (a Typer sub-app, `app.add_typer` under the name) or
    "merged" (a Typer sub-app whose commands are top-level). `summary` is what `--help` lists:
    the first paragraph of the command's help (tests/cli/test_import_weight.py checks it).
    """

    module: str
    attribute: str
    kind: str
    summary: str


def _entry(module: str, attribute: str, kind: str, summary: str) -> Entry:
    return Entry(f"zuora_workflow_sync.cli.{module}", attribute, kind, summary)


# In the order `--help` lists them (functions first, then the sub-apps, as Typer orders them).
COMMANDS: dict[str, Entry] = {
    "simulator": _entry(
        "simulator",
        "simulator",
        "one_line",
        "Serve a simulated multi-tenant Zuora Workflow API until SIGINT or SIGTERM.",
    ),
    "backup": _entry(
        "backup",
        "backup",
        "one_line",
        "Write every live workflow to DIR/<customer>/<zuora-id>-<name>.json plus manifest.json.",
    ),
    "worker": _entry(
        "worker",
        "worker",
        "one_line",
        "Execute queued sync runs until SIGINT or SIGTERM (a second one stops at once).",
    ),
    "scheduler": _entry(
        "scheduler",
        "scheduler",
        "one_line",
        "Dispatch due customers on ZWS_SCHEDULE_CRON and repair lost runs, one scheduler per "
        "fleet.",
    ),
    "serve": _entry(
        "serve",
        "serve",
        "one_line",
        "Serve the web dashboard and its /metrics (needs the web extra).",
    ),
    "customers": _entry(
        "customers",
        "customers_app",
        "group",
        "Add, list, show, check, pause, remove, re-key and reset the customers we sync.",
    ),
    "keys": _entry(
        "keys",
        "keys_app",
        "group",
        "Encryption keys of the stored client secrets: generate one, rotate to the newest.",
    ),
    "db": _entry(
        "db",
        "db_app",
        "group",
        "Apply and inspect the schema migrations of the database at ZWS_DATABASE_URL.",
    ),
    "status": _entry(
        "reports",
        "reports_app",
        "merged",
        "One row per customer: status, last sync and outcome, failures, live workflows, attention.",
    ),
    "runs": _entry(
        "reports",
        "reports_app",
        "merged",
        "The newest runs first, with their timing, pacing wait, counts and (redacted) error.",
    ),
    "retry": _entry(
        "reports",
        "reports_app",
        "merged",
        'Re-dispatch failed or abandoned runs: record a new run (trigger "retry") and enqueue it.',
    ),
    "workflows": _entry(
        "workflows",
        "workflows_app",
        "group",
        "List, show, export, diff and graph the workflows that were synced.",
    ),
    "tasks": _entry("tasks", "tasks_app", "group", "Search the tasks of every synced workflow."),
}
_SETTINGS: dict[str, Any] = {"no_args_is_help": True, "add_completion": False, "help": _HELP}


def register(app: typer.Typer, name: str, entry: Entry) -> None:
    """Register `name` on `app` as the eager CLI did (imports the subcommand's module)."""
    target = getattr(importlib.import_module(entry.module), entry.attribute)
    if entry.kind == "group":
        app.add_typer(target, name=name)
    elif entry.kind == "merged":
        app.add_typer(target)
    elif entry.kind == "one_line":
        from zuora_workflow_sync.cli.db import OneLineCommand

        app.command(name, cls=OneLineCommand)(target)
    else:
        app.command(name)(target)


def load_command(name: str) -> TyperCommand | TyperGroup:
    """The real command of `name`, converted as Typer converts a subcommand of the app."""
    holder = typer.Typer(**_SETTINGS)
    register(holder, name, COMMANDS[name])
    command = typer.main.get_group(holder).commands[name]
    assert isinstance(command, TyperCommand | TyperGroup)
    return command


class Summary(TyperCommand):
    """A subcommand not imported yet: its name and summary, for `--help`."""


class LazyGroup(TyperGroup):
    """The root group: a `Summary` of each subcommand, replaced by the real command when it is
    resolved (when it runs, or shows its own help)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, entry in COMMANDS.items():
            self.commands.setdefault(name, Summary(name=name, help=entry.summary))

    # typer.Context is the public subclass of the (private, vendored) click Context Typer passes.
    def resolve_command(  # type: ignore[override]
        self, ctx: typer.Context, args: list[str]
    ) -> tuple[str | None, Any, list[str]]:
        if args and isinstance(self.commands.get(args[0]), Summary):
            self.commands[args[0]] = load_command(args[0])
        return super().resolve_command(ctx, args)


app = typer.Typer(cls=LazyGroup, **_SETTINGS)


@app.callback()
def _root(version: VersionFlag = False) -> None:
    """Keep a local, versioned copy of the Zuora Workflow definitions of many customers."""


def main() -> None:
    app()
