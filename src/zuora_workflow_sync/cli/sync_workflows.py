"""`sync-workflows [CUSTOMER_ID] [--force] [--queue=NAME]`: the specification's command.

Messages and exit codes are the specification's, word for word; every failure is one line
`Sync failed: <reason>` on stderr, exit 1, and an error log entry with the customer id.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from zuora_workflow_sync.catalog.references import parse_number, shown
from zuora_workflow_sync.cli.common import fail, settings_for_command
from zuora_workflow_sync.cli.version import SyncWorkflowsVersionFlag
from zuora_workflow_sync.domain.models import OutcomeStatus
from zuora_workflow_sync.errors import ConfigurationError, WorkflowSyncError
from zuora_workflow_sync.runtime import Runtime, build_runtime, operator_identity
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.sync.dispatch import (
    DispatchOptions,
    DispatchResult,
    QueueUnavailableAtDispatchError,
)
from zuora_workflow_sync.sync.preview import preview

if TYPE_CHECKING:
    from zuora_workflow_sync.sync.job import RunOutcome

logger = logging.getLogger("zuora_workflow_sync.cli")

HELP = """Synchronize workflows from the Zuora API for one customer or all due customers.

Without CUSTOMER_ID, every active customer not synced within the sync window
(ZWS_SYNC_WINDOW_SECONDS, default one hour) gets a background job, each staggered by a
random 1 to 60 seconds (ZWS_STAGGER_MIN_SECONDS / ZWS_STAGGER_MAX_SECONDS), or, with
--spread SECONDS, spread evenly over that window. With CUSTOMER_ID, that customer's job is
dispatched at once. Workers (`workflow-sync worker`) execute the jobs.
"""

_MAX_ID = 2**63 - 1


def parse_customer_id(raw: str | None) -> int | None:
    """A positive integer id in ASCII digits, or a ConfigurationError that says what is wrong.

    `isdigit` alone takes "²" (which int() refuses) and "٣" (which int() reads as 3), and a
    string of 4,301 digits or more is past int()'s limit: the length is checked first.
    """
    if raw is None:
        return None
    number = parse_number(raw, _MAX_ID)
    if number is None:
        raise ConfigurationError(f"invalid customer id {shown(raw)}: expected a positive integer")
    return number


def sync_workflows(
    customer_id: Annotated[
        str | None, typer.Argument(help="Sync only this customer (its numeric id).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Sync even if synced recently.")] = False,
    queue: Annotated[
        str | None, typer.Option("--queue", help="Queue name [default: workflows].")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show who would be dispatched and why not others.")
    ] = False,
    run_here: Annotated[
        bool, typer.Option("--sync", help="Run now in this process, with progress and a summary.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON result only.")] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Re-export every workflow, not only changed ones.")
    ] = False,
    no_fallback: Annotated[
        bool,
        typer.Option("--no-fallback", help="Fail instead of running inline if the queue is down."),
    ] = False,
    spread: Annotated[
        float | None,
        typer.Option(
            "--spread",
            metavar="SECONDS",
            help="Spread the N due customers evenly over this window (the i-th starts after "
            "i*SECONDS/N s, the first at once) instead of the random stagger; at most 604800 "
            "(7 days). No effect with CUSTOMER_ID.",
        ),
    ] = None,
    version: SyncWorkflowsVersionFlag = False,
) -> None:
    """Synchronize workflows from the Zuora API."""
    settings: Settings | None = None
    try:
        settings = settings_for_command()
        parsed_id = parse_customer_id(customer_id)
        options = DispatchOptions(
            customer_id=parsed_id,
            force=force,
            queue=queue if queue is not None else settings.default_queue,
            full=full,
            fallback=not no_fallback,
            inline=run_here,
            dispatched_by=operator_identity(),
            spread_seconds=spread,
        )
        with build_runtime(settings) as runtime:
            if dry_run:
                _dry_run(runtime, options, as_json)
                return
            code = _dispatch(runtime, options, as_json)
    except WorkflowSyncError as exc:
        raise _failed(customer_id, exc, logged=settings is not None) from None
    if code:
        raise typer.Exit(code)


def _failed(customer_id: str | None, exc: WorkflowSyncError, *, logged: bool) -> typer.Exit:
    """The one `Sync failed:` line; the error log entry only once logging is installed (before,
    Python's last-resort handler would print the log message on stderr as a second line)."""
    reason = exc.reason if isinstance(exc, QueueUnavailableAtDispatchError) else str(exc)
    if logged:
        logger.error(
            "Workflow sync command failed",
            extra={"customer_id": customer_id, "error": reason, "event": "dispatch_failed"},
        )
        if os.environ.get("ZWS_VERBOSE") == "1":
            logger.error("details", exc_info=exc)
    message = "queue unavailable" if isinstance(exc, QueueUnavailableAtDispatchError) else reason
    return fail(message, prefix="Sync failed: ")


def _dispatch(runtime: Runtime, options: DispatchOptions, as_json: bool) -> int:
    # Imported here: running syncs (the Zuora client, the queue) costs a --dry-run's start.
    from zuora_workflow_sync.cli.sync_output import InlineRunner, print_summary
    from zuora_workflow_sync.sync.dispatch_now import dispatch_now

    messages: list[str] = []
    say = messages.append if as_json else typer.echo
    result = dispatch_now(runtime, options, say)
    _log_dispatch(options, result)
    worker_id = f"inline:{socket.gethostname()}:{os.getpid()}"
    outcomes = InlineRunner(runtime, worker_id, show_progress=options.inline and not as_json).run(
        result.inline
    )
    if as_json:
        document = _json_result(result, outcomes, messages)
        document["spread_seconds"] = _spread_in_effect(options)
        typer.echo(json.dumps(document, default=str, indent=2))
    elif options.inline:
        print_summary(runtime, outcomes)
    failed = [o for o in outcomes if o.status is OutcomeStatus.FAILED]
    # A database error (disk full, server restarting) leaves the run to the reaper: not done.
    stopped = [o for o in outcomes if o.status is OutcomeStatus.DATABASE_ERROR]
    if failed or stopped:
        also = (
            f"; {len(stopped)} stopped by a database error (the reaper retries them once a "
            "worker runs)"
            if stopped
            else ""
        )
        typer.echo(f"Sync failed: {len(failed)} of {len(outcomes)} runs failed{also}", err=True)
        return 1
    return 0


def _log_dispatch(options: DispatchOptions, result: DispatchResult) -> None:
    """The specification's "tracks job dispatch success/failure": one line per command."""
    logger.info(
        "sync jobs dispatched",
        extra={
            "event": "dispatch_finished",
            "customer_id": options.customer_id,
            "queue": options.queue,
            "queued": len(result.queued),
            "inline": len(result.inline),
            "skipped_active": len(result.skipped_active),
            "skipped_circuit": len(result.skipped_circuit),
            "queue_error": result.queue_error,
            "dispatched_by": options.dispatched_by,
            "spread_seconds": _spread_in_effect(options),
        },
    )


def _spread_in_effect(options: DispatchOptions) -> float | None:
    """--spread applies to an all-customers dispatch only."""
    return options.spread_seconds if options.customer_id is None else None


def _json_result(
    result: DispatchResult, outcomes: list[RunOutcome], messages: list[str]
) -> dict[str, Any]:
    return {
        "messages": messages,
        "dispatched": result.dispatched,
        # The first runs and customers only (at most SAMPLE_SIZE each), with the counts.
        "queued": [asdict(run) for run in result.queued.sample],
        "queued_count": len(result.queued),
        "inline": [asdict(outcome) for outcome in outcomes],
        "skipped_active_customer_ids": result.skipped_active.sample,
        "skipped_active_count": len(result.skipped_active),
        "skipped_circuit_customer_ids": result.skipped_circuit.sample,
        "skipped_circuit_count": len(result.skipped_circuit),
        "recently_synced": result.recently_synced,
        "queue_error": result.queue_error,
    }


def _dry_run(runtime: Runtime, options: DispatchOptions, as_json: bool) -> None:
    lines = preview(runtime, options.customer_id, datetime.now(UTC), force=options.force)
    if options.customer_id is not None and runtime.customers.get(options.customer_id) is None:
        raise ConfigurationError(f"no customer with id {options.customer_id}")
    if as_json:
        typer.echo(json.dumps([asdict(line) for line in lines], indent=2))
        return
    counts = {"dispatch": 0, "skip": 0}
    for line in lines:
        counts[line.action] += 1
        verb = "would dispatch" if line.action == "dispatch" else "would skip"
        typer.echo(f"{verb}  {line.customer_id}  {line.name}: {line.reason}")
    summary = f"Dry run: {counts['dispatch']} to dispatch, {counts['skip']} skipped"
    spread = _spread_in_effect(options)
    if spread is not None:
        summary += f", spread evenly over {spread:g} seconds"
    typer.echo(summary)


app = typer.Typer(add_completion=False, help=HELP, rich_markup_mode=None)
app.command(help=HELP)(sync_workflows)


def main() -> None:
    """Entry point of the `sync-workflows` console script."""
    app(prog_name="sync-workflows")
