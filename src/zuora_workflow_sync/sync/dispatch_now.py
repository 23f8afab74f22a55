"""One dispatch as an operator asks for it (`sync-workflows`, the dashboard's Sync now and Force
sync): open the run's queue (an unreachable one stands in so dispatch can fall back), dispatch,
close the queue. The runs to execute here, if any, are the caller's to run."""

from __future__ import annotations

from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.sync.dispatch import (
    Dispatcher,
    DispatchOptions,
    DispatchResult,
    Say,
    UnreachableQueue,
)


def dispatch_now(runtime: Runtime, options: DispatchOptions, say: Say) -> DispatchResult:
    """Record and enqueue the runs `options` asks for; WorkflowSyncError on bad input, and
    QueueUnavailableAtDispatchError when the queue is down and `options.fallback` is off."""
    from zuora_workflow_sync.queue import JobQueue, QueueUnavailableError, open_queue

    run_queue: JobQueue | UnreachableQueue
    try:
        run_queue = open_queue(runtime.settings.resolved_queue_url, options.queue)
    except QueueUnavailableError as exc:
        run_queue = UnreachableQueue(exc)
    try:
        return Dispatcher(runtime, run_queue, (QueueUnavailableError,), say=say).dispatch(options)
    finally:
        run_queue.close()
