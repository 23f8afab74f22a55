"""Options and output shared by the read-side commands (`workflows`, `tasks`, `backup`): paging,
dates, output files, and how a value or a page is printed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from zuora_workflow_sync.catalog.files import write_atomically
from zuora_workflow_sync.catalog.pages import MAX_LIMIT
from zuora_workflow_sync.domain.json_paths import ABSENT
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.monitoring.logs import clean

Limit = Annotated[
    int, typer.Option(min=1, max=MAX_LIMIT, help=f"At most this many rows (1-{MAX_LIMIT}).")
]
Cursor = Annotated[
    str | None,
    typer.Option(metavar="CURSOR", help="Continue a listing: the next_cursor it printed."),
]
Output = Annotated[
    Path | None,
    typer.Option("-o", "--output", metavar="FILE", help="Write to FILE (atomically), not stdout."),
]
WorkflowRef = Annotated[
    str,
    typer.Argument(metavar="WORKFLOW", help="A local workflow id, or CUSTOMER:ZUORA_WORKFLOW_ID."),
]
CustomerOption = Annotated[
    str | None,
    typer.Option("--customer", metavar="CUSTOMER", help="A customer id or exact name."),
]
VersionOption = Annotated[
    str | None,
    typer.Option(
        "--version",
        metavar="VERSION",
        help="A history number, a content hash prefix or a Zuora version (default: current).",
    ),
]
_VALUE_CHARS = 100


def parse_date(text: str | None, option: str) -> datetime | None:
    """`YYYY-MM-DD` or an ISO 8601 time; without a zone it is UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigurationError(
            f"{option} takes a date (2026-12-01) or a time (2026-12-01T14:00:00Z), "
            f"got {text[:40]!r}"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def write_output(text: str, output: Path | None) -> None:
    """`text` to stdout, or to `output` atomically (an unwritable path is one line)."""
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        write_atomically(output, text.encode("utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot write {output}: {exc.strerror or exc}") from None


def echo_more(next_cursor: str | None) -> None:
    if next_cursor is not None:
        typer.echo(f"More rows: add --cursor {next_cursor}")


def shown_value(value: Any) -> str:
    """A JSON value on one line, cut to a readable length, safe for a terminal."""
    text = "(absent)" if value is ABSENT else clean(json.dumps(value, ensure_ascii=False))
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"
