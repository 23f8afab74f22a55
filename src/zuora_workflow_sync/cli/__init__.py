"""The command line: `workflow-sync` (a Typer app of subcommands) and `sync-workflows`."""

from __future__ import annotations

from zuora_workflow_sync.cli.app import app, main

__all__ = ["app", "main"]
