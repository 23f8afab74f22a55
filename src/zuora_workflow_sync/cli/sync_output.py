"""Running recorded runs in this process (`--sync` and the queue fallback), with progress.

The progress bar and the summary table go to stderr and stdout respectively, via rich.

A dispatch that queued everything runs nothing here: the job, its Zuora client and the
coordination stores are imported only when there is a run to execute (they cost a
`sync-workflows` that only queues a third of its start).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table

from zuora_workflow_sync.cli.common import emit_table
from zuora_workflow_sync.domain.models import RecordedRun
from zuora_workflow_sync.runtime import Runtime

if TYPE_CHECKING:
    from zuora_workflow_sync.sync.job import RunOutcome
    from zuora_workflow_sync.sync.session import JobSession


def _never_requeue(run_id: int, delay_seconds: float) -> None:
    """Inline runs are recorded due now, so an early delivery cannot happen here."""


class InlineRunner:
    """Executes runs one after another in this process."""

    def __init__(self, runtime: Runtime, worker_id: str, *, show_progress: bool) -> None:
        self._runtime = runtime
        self._worker_id = worker_id
        self._show_progress = show_progress

    def run(self, runs: Sequence[RecordedRun]) -> list[RunOutcome]:
        if not runs:
            return []
        from zuora_workflow_sync.sync.session import JobSession

        # One loop, HTTP pool and coordination stores for all the runs, as a worker thread.
        session = JobSession(self._runtime.settings)
        try:
            return self._run(runs, session)
        finally:
            session.close()

    def _run(self, runs: Sequence[RecordedRun], session: JobSession) -> list[RunOutcome]:
        if not self._show_progress:
            return [self._one(run, session) for run in runs]
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        columns = (
            TextColumn("syncing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        outcomes: list[RunOutcome] = []
        console = Console(stderr=True)
        with Progress(
            *columns,
            console=console,
            transient=True,
            disable=not console.is_terminal,
            redirect_stdout=False,
            redirect_stderr=False,
        ) as progress:
            task = progress.add_task("sync", total=len(runs))
            for run in runs:
                outcomes.append(self._one(run, session))
                progress.advance(task)
        return outcomes

    def _one(self, run: RecordedRun, session: JobSession) -> RunOutcome:
        from zuora_workflow_sync.sync.job import execute_run

        # No worker would pick up a run retried later: an inline failure is final.
        return execute_run(
            self._runtime,
            run.run_id,
            worker_id=self._worker_id,
            requeue=_never_requeue,
            retry=False,
            session=session,
        )


def print_summary(runtime: Runtime, outcomes: Sequence[RunOutcome]) -> None:
    """A table of what each inline run did."""
    table = Table(title="Sync summary")
    for heading in ("run", "customer", "status", "listed", "created", "updated", "unchanged"):
        table.add_column(heading, justify="right" if heading != "status" else "left")
    table.add_column("tombstoned", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("error")
    for outcome in outcomes:
        customer = runtime.customers.get(outcome.customer_id) if outcome.customer_id else None
        counts = outcome.counts
        table.add_row(
            str(outcome.run_id),
            customer.name if customer else str(outcome.customer_id),
            outcome.status,
            str(counts.listed),
            str(counts.created),
            str(counts.updated),
            str(counts.unchanged),
            str(counts.tombstoned),
            f"{outcome.duration_seconds:.2f}",
            outcome.error or "",
        )
    emit_table(table)
