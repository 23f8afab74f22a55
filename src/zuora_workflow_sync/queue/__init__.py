"""The job queue: the only package that imports huey. Jobs carry run ids; the ledger decides."""

from __future__ import annotations

from zuora_workflow_sync.queue.app import JobQueue, QueueUnavailableError, open_queue
from zuora_workflow_sync.queue.worker import run_worker

__all__ = ["JobQueue", "QueueUnavailableError", "open_queue", "run_worker"]
