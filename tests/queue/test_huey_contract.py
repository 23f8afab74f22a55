"""Huey's internals that `zuora_workflow_sync.queue` relies on, pinned by behaviour: each test
fails loudly if a Huey upgrade stops calling a hook the queue overrides, renames an attribute
it reads, or changes a message it writes. The list, with the test of each, is in the docstring
of `zuora_workflow_sync/queue/__init__.py`."""

from __future__ import annotations

import inspect
import signal
import threading
from pathlib import Path
from typing import Any

import huey
from huey.api import Task

from tests.queue.conftest import QueueFactory, Recorder
from zuora_workflow_sync.queue.app import _REVOCATION_PREFIX
from zuora_workflow_sync.queue.consumer import Activity, JobConsumer, JobScheduler, JobWorker


def _consumer(make_queue: QueueFactory, workers: int = 2) -> JobConsumer:
    return JobConsumer(make_queue("contract", Recorder()), workers=workers, activity=Activity())


def test_consumer_builds_its_workers_and_scheduler_through_the_create_hooks(
    make_queue: QueueFactory,
) -> None:
    consumer = _consumer(make_queue)
    workers = [worker for worker, _ in consumer.worker_threads]
    assert len(workers) == 2 and all(isinstance(worker, JobWorker) for worker in workers)
    assert isinstance(consumer.scheduler, threading.Thread)
    assert all(isinstance(thread, threading.Thread) for thread in consumer.threads())


def test_consumer_names_its_threads_through_create_process_when_built(
    make_queue: QueueFactory,
) -> None:
    names = sorted(thread.name for thread in _consumer(make_queue).threads())
    assert names and all(name.startswith("contract:") for name in names), names


def test_consumer_installs_no_signal_handler_when_started(make_queue: QueueFactory) -> None:
    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    consumer = _consumer(make_queue, workers=1)
    consumer.start()
    try:
        after = {number: signal.getsignal(number) for number in before}
    finally:
        consumer.stop_flag.set()
        for thread in consumer.threads():
            thread.join(10)
    assert after == before  # Huey's own _set_signal_handlers would have replaced them


def test_consumer_loop_calls_initialize_loop_and_shutdown_when_threads_run(
    make_queue: QueueFactory,
) -> None:
    recorder = Recorder()
    queue = make_queue("contract", recorder)
    seen: list[str] = []

    class Watching(JobWorker):
        def initialize(self) -> None:
            seen.append("initialize")

        def shutdown(self) -> None:
            seen.append("shutdown")

    class WatchingConsumer(JobConsumer):
        def _create_worker(self) -> JobWorker:
            return Watching(self._queue, self.stop_flag, Activity())

    consumer = WatchingConsumer(queue, workers=1, activity=Activity())
    queue.enqueue(7)
    consumer.start()
    try:
        assert recorder.wait_for(1) == [7]
    finally:
        consumer.stop_flag.set()
        for thread in consumer.threads():
            thread.join(10)
    assert seen == ["initialize", "shutdown"]


def test_consumer_runs_the_scheduler_from_create_scheduler_when_started(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue("contract", Recorder())
    ticked = threading.Event()

    class Ticking(JobScheduler):
        def loop(self, now: Any = None) -> None:
            ticked.set()
            super().loop(now)

    class TickingConsumer(JobConsumer):
        def _create_scheduler(self) -> JobScheduler:
            return Ticking(self._queue, self.stop_flag, 0.05)

    consumer = TickingConsumer(queue, workers=1, activity=Activity())
    consumer.start()
    try:
        assert ticked.wait(10)
    finally:
        consumer.stop_flag.set()
        for thread in consumer.threads():
            thread.join(10)


def test_revocation_keys_start_with_the_prefix_the_queue_leaves_alone(tmp_path: Path) -> None:
    app = huey.SqliteHuey("contract", filename=str(tmp_path / "q.sqlite3"))
    task = Task(id="abc")
    assert task.revoke_id.startswith(_REVOCATION_PREFIX)
    assert set(_signature_names(app.is_revoked)) >= {"task", "timestamp", "peek"}


def _signature_names(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)
