"""The job queue: the only package that imports huey. Jobs carry run ids; the ledger decides.

Huey's internals this package relies on (no public API does the same), each pinned by a test
that fails loudly if a Huey upgrade changes it:

- `huey.consumer.Consumer`'s hooks `_create_worker`, `_create_scheduler`, `_create_process`
  and `_set_signal_handlers`, its attributes `worker_threads`, `scheduler`, `stop_flag` and
  `scheduler_interval`, and its process loop's calls of `initialize`, `loop(now)` and `shutdown`
  (`consumer.JobConsumer`): tests/queue/test_huey_contract.py (the consumer tests).
- `Huey.is_revoked(task, timestamp, peek)` and `Huey.delete(key)`, skipped for the `r:` keys of
  `Task.revoke_id` (`app._NoRevocation`): tests/queue/test_revocation.py and
  test_huey_contract.py::test_revocation_keys_start_with_the_prefix_the_queue_leaves_alone.
- `Huey.serialize_task`, `huey.utils.normalize_time`, and the storages' writes: SqliteStorage's
  `db()`, `to_blob`, `name` and its two INSERT statements, RedisStorage's `conn`, `queue_key`,
  `schedule_key` and `convert_ts` (`bulk`): tests/queue/test_bulk_enqueue.py, whose messages
  must be byte for byte what Huey's own `enqueue` writes and read back the same.
- `huey.storage`'s module names `Redis`, `ConnectionPool`, `ConnectionError`, `TimeoutError`
  and `RedisStorage.redis_client`, set when Huey was imported without redis-py
  (`huey_drivers`): tests/queue/test_huey_drivers.py.
- `Huey.dequeue`, `Huey.execute(task, now)`, `Huey.read_schedule(now)`, `storage.blocking`
  (`consumer.JobWorker`, `consumer.JobScheduler`): tests/queue/test_worker.py.
"""

from __future__ import annotations

from zuora_workflow_sync.queue.huey_drivers import import_huey

import_huey()  # before any module of this package imports huey: without unused drivers

from zuora_workflow_sync.queue.app import JobQueue, QueueUnavailableError, open_queue  # noqa: E402
from zuora_workflow_sync.queue.worker import run_worker  # noqa: E402

__all__ = ["JobQueue", "QueueUnavailableError", "open_queue", "run_worker"]
