"""`workflow-sync backup --out DIR`: the stored workflows as a folder of JSON files that can live
in git (see `catalog.backup`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zuora_workflow_sync.catalog.backup import back_up
from zuora_workflow_sync.catalog.references import resolve_customer
from zuora_workflow_sync.cli.common import AsJson, command_errors
from zuora_workflow_sync.cli.db import open_runtime
from zuora_workflow_sync.cli.read_options import CustomerOption, echo_json
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.monitoring.logs import clean


def backup(
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="The backup folder (created if missing).")
    ],
    customer: CustomerOption = None,
    as_json: AsJson = False,
) -> None:
    """Write every live workflow to DIR/<customer>/<zuora-id>-<name>.json plus manifest.json.

    A rerun rewrites only changed files and removes the files of deleted workflows (only files
    its manifest lists), so DIR can be a git repository; every file is written atomically.
    """
    with open_runtime() as runtime, command_errors():
        only = None if customer is None else resolve_customer(runtime.engine, customer)
        try:
            report = back_up(runtime.engine, out, only)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot write the backup in {out}: {exc.strerror or exc}"
            ) from None
    if as_json:
        echo_json(
            {
                "folder": str(report.folder),
                "customers": report.customers,
                "workflows": report.workflows,
                "written": report.written,
                "unchanged": report.unchanged,
                "removed": report.removed,
            }
        )
        return
    typer.echo(
        f"Backup of {report.customers} customers, {report.workflows} workflows in "
        f"{clean(str(out))}: {len(report.written)} written, {report.unchanged} unchanged, "
        f"{len(report.removed)} removed"
    )
