"""`workflow-sync worker`: execute the sync runs sent to one or more queues.

Runs until SIGINT/SIGTERM (graceful: running jobs get a grace period), or with `--drain` until
nothing of its queues is left to do.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Protocol

import typer
from sqlalchemy.exc import OperationalError

from zuora_workflow_sync.cli.common import runtime_for_command
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.monitoring import metrics
from zuora_workflow_sync.monitoring.alerts import BackgroundPoster
from zuora_workflow_sync.queue import JobQueue, QueueUnavailableError, open_queue, run_worker
from zuora_workflow_sync.queue.app import check_queue_name
from zuora_workflow_sync.queue.memory import limit_malloc_arenas
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.store import integrity
from zuora_workflow_sync.store.runs import SyncRunLedger
from zuora_workflow_sync.sync.heartbeat import LeaseHeartbeat
from zuora_workflow_sync.sync.job import Shutdown, new_heartbeat
from zuora_workflow_sync.sync.session import JobSession, current_session, thread_session

logger = logging.getLogger("zuora_workflow_sync.cli")


class _Execute(Protocol):
    """The signature of `sync.job.execute_run`."""

    def __call__(
        self,
        runtime: Runtime,
        run_id: int,
        *,
        worker_id: str,
        requeue: Callable[[int, float], None],
        shutdown: Shutdown | None = None,
        session: JobSession | None = None,
        heartbeat: LeaseHeartbeat | None = None,
    ) -> object: ...


@dataclass
class _RunJobs:
    """The handler of one queue: execute the run, retries go back onto the same queue."""

    runtime: Runtime
    execute: _Execute
    shutdown: Shutdown
    heartbeat: LeaseHeartbeat
    queue: JobQueue | None = None

    def __call__(self, run_id: int) -> None:
        if self.queue is None:
            raise RuntimeError("the queue of this handler was never opened")
        # Thread names are unique per queue (`workflows:Worker-3`): one lease owner per thread.
        worker_id = f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"
        with metrics.job_in_progress():
            self.execute(
                self.runtime,
                run_id,
                worker_id=worker_id,
                requeue=self.queue.enqueue,
                shutdown=self.shutdown,
                session=current_session(),
                heartbeat=self.heartbeat,
            )


def worker(
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            metavar="NAME",
            help="Queue to take jobs from; repeatable (default: ZWS_DEFAULT_QUEUE).",
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=256,
            metavar="N",
            help="Jobs run at once per queue (default: ZWS_WORKER_CONCURRENCY).",
        ),
    ] = None,
    drain: Annotated[
        bool,
        typer.Option(
            "--drain",
            help="Exit once the queues are empty, no job runs and the ledger has no queued or "
            "running run of these queues (a lost job keeps it waiting until re-dispatched).",
        ),
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            metavar="PORT",
            help="Serve this worker's Prometheus metrics on http://HOST:PORT/metrics "
            "(0: any free port, printed).",
        ),
    ] = None,
    metrics_host: Annotated[
        str,
        typer.Option("--metrics-host", metavar="HOST", help="Address of --metrics-port."),
    ] = "127.0.0.1",
) -> None:
    """Execute queued sync runs until SIGINT or SIGTERM (a second one stops at once)."""
    limit_malloc_arenas()  # before any job thread exists
    with runtime_for_command() as runtime:
        # A damaged or unmigrated database is refused before any job could write to it.
        _check_integrity(runtime, wait=not drain)
        if metrics_port is not None:
            _serve_metrics(metrics_port, metrics_host)
        names = _queue_names(queue, runtime.settings.default_queue)
        workers = concurrency or runtime.settings.worker_concurrency
        grace = runtime.settings.worker_grace_seconds
        # A job gets most of the worker's grace, so it can give its lease back in time.
        shutdown = Shutdown(threading.Event(), grace_seconds=grace * 0.8)
        # One heartbeat renews the leases of every job of this process.
        heartbeat = new_heartbeat(runtime)
        queues = _open_queues(runtime, names, shutdown, heartbeat, require_up=drain)
        # Alerts are posted off the job threads: a slow webhook never holds a job up.
        poster = runtime.alert_poster = BackgroundPoster()
        try:
            typer.echo(f"Worker started: queues={','.join(names)}, concurrency={workers}")
            until_idle = _ledger_idle(runtime.ledger, names) if drain else None
            run_worker(
                queues,
                concurrency=workers,
                until_idle=until_idle,
                grace_seconds=grace,
                stop=shutdown.requested,
                # Each job thread keeps its event loop, HTTP pool and Redis client for its
                # next job (see `sync.session`).
                thread_context=lambda: thread_session(runtime.settings),
                on_abandon=partial(_give_back, heartbeat),
            )
        finally:
            poster.close()
            heartbeat.close()
            for opened in queues:
                opened.close()
    typer.echo("Worker stopped: drained" if drain else "Worker stopped")


def _check_integrity(runtime: Runtime, *, wait: bool) -> None:
    """The database's integrity check before any job; a database that cannot be reached yet
    (server starting, every connection taken: F10) is waited for with capped, jittered backoff
    unless `wait` is off (`--drain`), as a job would wait for it."""
    delay = 0.5
    while True:
        try:
            integrity.check(runtime.engine)
            return
        except OperationalError as exc:
            if not wait:
                raise
            runtime.engine.dispose()
            pause = random.uniform(delay / 2, delay)
            logger.warning(
                "database unreachable at start (%s); retrying in %.1f s",
                type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__,
                pause,
            )
            time.sleep(pause)
            delay = min(delay * 2, 30.0)


def _serve_metrics(port: int, host: str) -> None:
    try:
        bound = metrics.serve(port, host)
    except OSError as exc:
        raise ConfigurationError(f"cannot serve metrics on {host}:{port}: {exc.strerror}") from None
    typer.echo(f"Metrics on http://{host}:{bound}/metrics")


def _queue_names(given: list[str] | None, default: str) -> list[str]:
    names = list(dict.fromkeys(given or [default]))
    for name in names:
        check_queue_name(name)
    return names


def _give_back(heartbeat: LeaseHeartbeat) -> None:
    """A hard stop: give the leases of the jobs still running back, so that other workers
    reclaim their runs at once instead of after a lease."""
    given = heartbeat.give_back()
    logger.warning(
        "gave back the leases of %d runs still running: %s",
        len(given),
        ", ".join(map(str, given)) or "none",
        extra={"event": "leases_given_back", "run_ids": given},
    )


def _open_queues(
    runtime: Runtime,
    names: Sequence[str],
    shutdown: Shutdown,
    heartbeat: LeaseHeartbeat,
    *,
    require_up: bool,
) -> list[JobQueue]:
    """Open every queue (a SQLite file that cannot be opened fails the command). A Redis that
    is down only warns a long-running worker, which keeps retrying with backoff rather than
    crash-looping; with `require_up` (`--drain`: a run to completion, e.g. from cron or CI) it
    fails the command at once, since there is nothing to drain from a queue it cannot reach."""
    from zuora_workflow_sync.sync.job import execute_run

    queues: list[JobQueue] = []
    try:
        for name in names:
            handler = _RunJobs(runtime, execute_run, shutdown, heartbeat)
            handler.queue = open_queue(runtime.settings.resolved_queue_url, name, handler)
            queues.append(handler.queue)
            if require_up:
                handler.queue.ping()
            else:
                _warn_if_down(handler.queue)
    except BaseException as exc:
        for opened in queues:
            opened.close()
        if isinstance(exc, QueueUnavailableError):
            message = f"queue {exc.queue} unavailable ({exc.reason})"
            raise QueueUnavailableError(message, queue=exc.queue) from exc
        raise
    return queues


def _warn_if_down(queue: JobQueue) -> None:
    try:
        queue.ping()
    except QueueUnavailableError as exc:
        logger.warning("queue %s unavailable at start (%s); retrying with backoff", queue.name, exc)


def _ledger_idle(ledger: SyncRunLedger, queues: Sequence[str]) -> Callable[[], bool]:
    """`until_idle` for `--drain`: True when the ledger has no queued or running run of `queues`."""
    wanted = sorted(set(queues))

    def idle() -> bool:
        return ledger.count_active(wanted) == 0

    return idle
