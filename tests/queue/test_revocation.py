"""Huey's revocation flags are not used: a job runs without reading or deleting one.

Huey would read a flag before every job and delete it after, two round trips to the queue
between two jobs of a worker; the ledger decides whether a run goes ahead."""

from __future__ import annotations

from typing import Any

import pytest

from tests.queue.conftest import QueueFactory, Recorder, worker_thread


class _StorageCalls:
    """Counts the real storage's reads of several keys and deletions, and lets them through."""

    def __init__(self, storage: Any) -> None:
        self.peeks: list[Any] = []
        self.deletions: list[Any] = []
        peek_many, delete_data = storage.peek_many, storage.delete_data

        def peeking(keys: Any) -> Any:
            self.peeks.append(keys)
            return peek_many(keys)

        def deleting(key: Any) -> Any:
            self.deletions.append(key)
            return delete_data(key)

        storage.peek_many, storage.delete_data = peeking, deleting


@pytest.mark.parametrize("storage", ["sqlite", "redis"])
def test_jobs_run_without_reading_or_clearing_revocation_flags(
    storage: str, make_queue: QueueFactory, request: pytest.FixtureRequest
) -> None:
    factory = make_queue if storage == "sqlite" else request.getfixturevalue("make_redis_queue")
    recorder = Recorder()
    queue = factory("jobs", recorder)
    calls = _StorageCalls(queue.huey.storage)
    for run_id in (1, 2, 3):
        queue.enqueue(run_id)

    with worker_thread([queue], poll_seconds=0.05):
        assert sorted(recorder.wait_for(3)) == [1, 2, 3]

    assert calls.peeks == [] and calls.deletions == []


def test_revoking_through_huey_does_not_stop_a_job(make_queue: QueueFactory) -> None:
    recorder = Recorder()
    queue = make_queue("jobs", recorder)
    queue.enqueue(7)
    task = queue.huey.pending()[0]
    queue.huey.revoke_by_id(task.id)

    with worker_thread([queue], poll_seconds=0.05):
        assert recorder.wait_for(1) == [7]
