"""Fixtures of the queue suite: SQLite queue files in tmp_path, a Redis database, a worker thread.

Redis tests use the queue suite's database of tests/services.py, flushed before and after;
without a server they skip, unless REQUIRE_SERVICES=1 (CI), where they fail.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from zuora_workflow_sync.queue import JobQueue, open_queue, run_worker

WAIT_SECONDS = 10.0

QueueFactory = Callable[..., JobQueue]


class Recorder:
    """A job handler that records run ids; `wait_for(n)` blocks until n jobs ran."""

    def __init__(self, action: Callable[[int], None] | None = None) -> None:
        self.calls: list[int] = []
        self._action = action
        self._changed = threading.Condition()

    def __call__(self, run_id: int) -> None:
        try:
            if self._action is not None:
                self._action(run_id)
        finally:
            with self._changed:
                self.calls.append(run_id)
                self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = WAIT_SECONDS) -> list[int]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.calls) >= count, timeout):
                raise AssertionError(f"{count} jobs expected, {len(self.calls)} ran")
            return list(self.calls)


@pytest.fixture
def queue_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'queues' / 'queue.sqlite3'}"


def _queue_factory(default_url: str) -> Iterator[QueueFactory]:
    opened: list[JobQueue] = []

    def factory(
        name: str = "jobs", handler: Callable[[int], None] | None = None, url: str | None = None
    ) -> JobQueue:
        queue = open_queue(url or default_url, name, handler)
        opened.append(queue)
        return queue

    yield factory
    for queue in opened:
        queue.close()


@pytest.fixture
def make_queue(queue_url: str) -> Iterator[QueueFactory]:
    """Opens queues on the test's SQLite file (or another URL), closed after the test."""
    yield from _queue_factory(queue_url)


@pytest.fixture
def redis_url(queue_redis_url: str) -> str:
    return queue_redis_url


@pytest.fixture
def make_redis_queue(redis_url: str) -> Iterator[QueueFactory]:
    yield from _queue_factory(redis_url)


@contextmanager
def worker_thread(
    queues: list[JobQueue], *, concurrency: int = 1, **options: Any
) -> Iterator[threading.Event]:
    """Run `run_worker` on a thread; yields its stop event, stops and joins on exit."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def target() -> None:
        try:
            run_worker(queues, concurrency=concurrency, stop=stop, **options)
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=target, name="test-worker", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(WAIT_SECONDS)
    assert not thread.is_alive(), "run_worker did not return after stop"
    if failures:
        raise failures[0]
