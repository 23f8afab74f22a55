"""`workflow-sync scheduler [--once]`: the scheduled dispatch and the reaper, one per fleet.

Start it on as many hosts as you like: the one holding the `scheduler` lease acts, the others
stand by and take over when its lease expires. SIGINT/SIGTERM stop it and release the lease.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from typing import Annotated

import typer

from zuora_workflow_sync.cli.db import open_runtime
from zuora_workflow_sync.queue import JobQueue, QueueUnavailableError, open_queue
from zuora_workflow_sync.sync.repair import RepairReport
from zuora_workflow_sync.sync.schedule import Scheduler, StepReport, stop_on_signals


class QueueCache:
    """Opens queues by name on first use (dispatch and repair share them); closes them all."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._opened: dict[str, JobQueue] = {}

    def __call__(self, name: str) -> JobQueue:
        if name not in self._opened:
            self._opened[name] = open_queue(self._url, name)
        return self._opened[name]

    def close(self) -> None:
        for queue in self._opened.values():
            queue.close()
        self._opened.clear()


def scheduler_owner() -> str:
    """`host:pid:random`: unique per process, so a restarted process never inherits a lease."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:200]


def scheduler(
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Take the lease, run one repair pass and the dispatch of a due cron tick, "
            "release the lease and exit (for tests and cron-driven deployments).",
        ),
    ] = False,
) -> None:
    """Dispatch due customers on ZWS_SCHEDULE_CRON and repair lost runs, one scheduler per fleet."""
    with open_runtime() as runtime:
        queues = QueueCache(runtime.settings.resolved_queue_url)
        try:
            queue = queues(runtime.settings.default_queue)  # a bad URL fails here, in one line
            if once:
                # One pass that cannot dispatch must say so and fail, not exit 0 in silence; a
                # long-running scheduler waits for the queue instead.
                _require_queue(queue)
            owner = scheduler_owner()
            acting = Scheduler(
                runtime, owner, queues=queues, queue_errors=(QueueUnavailableError,), say=typer.echo
            )
            typer.echo(f"Scheduler started (owner {owner})")
            if once:
                _print_once(acting.run_once())
            else:
                stop = threading.Event()
                with stop_on_signals(stop):
                    acting.run(stop)
        finally:
            queues.close()
    typer.echo("Scheduler stopped")


def _require_queue(queue: JobQueue) -> None:
    try:
        queue.ping()
    except QueueUnavailableError as exc:
        raise QueueUnavailableError(
            f"queue {queue.name} unavailable ({exc}); nothing was dispatched or repaired",
            queue=queue.name,
        ) from None


def _print_once(report: StepReport) -> None:
    if not report.holds:
        return  # the scheduler already said who holds the lease
    if report.tick_at is None:
        typer.echo("Scheduled dispatch: no cron tick due")
    if report.repair is not None:
        typer.echo(_repair_line(report.repair))


def _repair_line(report: RepairReport) -> str:
    line = (
        f"Repair: {len(report.requeued_expired)} re-enqueued after a lost worker, "
        f"{len(report.requeued_stale)} after a lost job, {len(report.failed)} failed"
    )
    if report.enqueue_failed:
        line += f" ({len(report.enqueue_failed)} wait for their queue)"
    return line
