"""`enqueue_many` on SQLite and Redis: one round trip, read back by the worker as Huey's own."""

from __future__ import annotations

import time
import uuid
from datetime import UTC
from pathlib import Path

import huey
import pytest

from tests.queue.conftest import QueueFactory, Recorder, worker_thread
from zuora_workflow_sync.queue import JobQueue, QueueUnavailableError, run_worker
from zuora_workflow_sync.queue.bulk import JobMessages, task_ids

POLL = 0.05


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def make_any_queue(request: pytest.FixtureRequest) -> QueueFactory:
    """The queue factory of each backend: the same suite runs on SQLite and Redis."""
    name = "make_queue" if request.param == "sqlite" else "make_redis_queue"
    factory: QueueFactory = request.getfixturevalue(name)
    return factory


def _stored(queue: JobQueue) -> list[bytes]:
    storage = queue.huey.storage
    return [bytes(data) for data in [*storage.enqueued_items(), *storage.scheduled_items()]]


def test_worker_runs_every_job_in_order_when_enqueued_in_bulk(
    make_any_queue: QueueFactory,
) -> None:
    recorder = Recorder()
    queue = make_any_queue("jobs", recorder)

    queue.enqueue_many((run_id, 0.0) for run_id in range(1, 41))

    with worker_thread([queue], concurrency=1, poll_seconds=POLL):
        assert recorder.wait_for(40) == list(range(1, 41))


def test_delayed_jobs_wait_their_delay_when_enqueued_in_bulk(make_any_queue: QueueFactory) -> None:
    ran_at: dict[int, float] = {}

    def note(run_id: int) -> None:
        ran_at[run_id] = time.time()

    queue = make_any_queue("jobs", Recorder(note))
    enqueued_at = time.time()

    queue.enqueue_many([(1, 1.2), (2, 0.0), (3, 0.6), (4, 0.0)])

    assert (queue.pending_count(), queue.scheduled_count()) == (2, 2)
    run_worker([queue], concurrency=2, until_idle=lambda: True, poll_seconds=POLL)
    assert sorted(ran_at) == [1, 2, 3, 4]
    assert ran_at[1] - enqueued_at >= 1.2 and ran_at[3] - enqueued_at >= 0.6
    assert max(ran_at[2], ran_at[4]) - enqueued_at < 0.6
    assert (queue.pending_count(), queue.scheduled_count()) == (0, 0)


def test_bulk_messages_are_byte_for_byte_what_huey_serializes(make_any_queue: QueueFactory) -> None:
    queue = make_any_queue("jobs")
    queue.enqueue_many([(11, 0.0), (12, 30.0)])

    for data in _stored(queue):
        task = queue.huey.deserialize_task(data)
        again = type(task)(task.args, task.kwargs, id=task.id, eta=task.eta)
        assert queue.huey.serialize_task(again) == data
        assert uuid.UUID(task.id).version == 4


def test_bulk_messages_match_single_enqueue_when_read_back(make_any_queue: QueueFactory) -> None:
    queue = make_any_queue("jobs")
    queue.enqueue(21)
    queue.enqueue_many([(21, 0.0)])
    before = time.time()
    queue.enqueue_many([(22, 30.0)])

    single, bulk, delayed = (queue.huey.deserialize_task(data) for data in _stored(queue))

    assert (bulk.name, bulk.args, bulk.kwargs, bulk.eta) == (single.name, (21,), {}, None)
    assert (bulk.retries, bulk.priority, bulk.expires) == (single.retries, None, None)
    assert delayed.args == (22,) and delayed.eta is not None
    assert 29 < delayed.eta.replace(tzinfo=UTC).timestamp() - before < 31  # naive UTC, as Huey's


def test_enqueue_many_writes_nothing_when_an_item_is_invalid(make_any_queue: QueueFactory) -> None:
    queue = make_any_queue("jobs")

    with pytest.raises(ValueError, match="run_id"):
        queue.enqueue_many([(1, 0.0), (2, 5.0), (0, 0.0)])

    assert (queue.pending_count(), queue.scheduled_count()) == (0, 0)


def test_enqueue_many_does_nothing_when_there_are_no_jobs(make_any_queue: QueueFactory) -> None:
    queue = make_any_queue("jobs")

    queue.enqueue_many([])

    assert (queue.pending_count(), queue.scheduled_count()) == (0, 0)


def test_enqueue_many_raises_unavailable_when_sqlite_storage_breaks(
    make_queue: QueueFactory, tmp_path: Path
) -> None:
    queue = make_queue("jobs")
    queue.close()
    path = tmp_path / "queues" / "queue.sqlite3"
    for leftover in path.parent.iterdir():
        leftover.unlink()
    path.mkdir()  # the file is now a folder: every later connection fails

    with pytest.raises(QueueUnavailableError, match="unable to open database file"):
        queue.enqueue_many([(1, 0.0), (2, 10.0)])


def test_enqueue_many_raises_unavailable_when_redis_is_unreachable(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue("jobs", url="redis://127.0.0.1:1/15")

    with pytest.raises(QueueUnavailableError, match=r"127\.0\.0\.1:1\b"):
        queue.enqueue_many([(1, 0.0), (2, 10.0)])


def test_messages_go_through_huey_when_the_serializer_is_not_json(tmp_path: Path) -> None:
    # Huey's default serializer is pickle: no text to splice, so every message is Huey's own.
    backend = huey.SqliteHuey(name="jobs", filename=str(tmp_path / "q.sqlite3"), utc=True)
    task = backend.task(name="sync_run")(lambda run_id: None)
    messages = JobMessages(backend, task)

    immediate, delayed = messages.build([(5, 0.0), (6, 30.0)])

    assert [backend.deserialize_task(data).args for data in immediate] == [(5,)]
    ((data, eta),) = delayed
    assert backend.deserialize_task(data).args == (6,)
    assert backend.deserialize_task(data).eta == eta
    backend.storage.close()


def test_task_ids_are_distinct_version_4_uuids_when_generated_in_bulk() -> None:
    ids = list(task_ids(2000))

    assert len(set(ids)) == 2000
    assert all(str(uuid.UUID(text)) == text and uuid.UUID(text).version == 4 for text in ids)
