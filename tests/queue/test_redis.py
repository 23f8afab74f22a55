"""The same queue on Redis (database 15, flushed): enqueue, run, delay, exact names, JSON only."""

from __future__ import annotations

import json
import time

import pytest

from tests.queue.conftest import QueueFactory, Recorder, worker_thread
from zuora_workflow_sync.queue import QueueUnavailableError, open_queue, run_worker
from zuora_workflow_sync.queue import app as queue_app

pytestmark = pytest.mark.redis

POLL = 0.05


def test_worker_runs_handler_with_run_id_when_enqueued_on_redis(
    make_redis_queue: QueueFactory,
) -> None:
    recorder = Recorder()
    queue = make_redis_queue("jobs", recorder)
    queue.ping()
    queue.enqueue(77)

    with worker_thread([queue], concurrency=2, poll_seconds=POLL):
        assert recorder.wait_for(1) == [77]


def test_delayed_job_waits_when_scheduled_ahead_on_redis(
    make_redis_queue: QueueFactory,
) -> None:
    ran_at: list[float] = []
    queue = make_redis_queue("jobs", Recorder(lambda run_id: ran_at.append(time.monotonic())))
    enqueued_at = time.monotonic()
    queue.enqueue(5, delay_seconds=1.0)
    queue.enqueue(6)

    run_worker([queue], concurrency=1, until_idle=lambda: True, poll_seconds=POLL)

    assert len(ran_at) == 2 and max(ran_at) - enqueued_at >= 1.0
    assert (queue.pending_count(), queue.scheduled_count()) == (0, 0)


def test_names_stay_distinct_when_they_differ_only_by_dots_and_dashes(
    make_redis_queue: QueueFactory,
) -> None:
    dotted, plain = make_redis_queue("eu.work-flows"), make_redis_queue("euworkflows")

    dotted.enqueue(1)

    assert (dotted.pending_count(), plain.pending_count()) == (1, 0)


def test_stored_payload_is_json_when_enqueued_on_redis(make_redis_queue: QueueFactory) -> None:
    queue = make_redis_queue("jobs")
    queue.enqueue(12)

    (raw,) = queue.huey.storage.enqueued_items()

    assert json.loads(raw)["value"]["message"]["args"] == {"tuple": [12]}


def test_enqueue_fails_as_the_queue_down_when_redis_stops_answering(
    silent_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue_app, "REDIS_SOCKET_TIMEOUT_SECONDS", 0.5)
    queue = open_queue(f"redis://127.0.0.1:{silent_server}/0", "jobs")
    started = time.monotonic()
    with pytest.raises(QueueUnavailableError, match="Timeout reading"):
        queue.enqueue(1)
    assert time.monotonic() - started < 5, "it waited past the socket timeout"


def test_a_drain_gives_up_in_one_error_when_redis_stays_silent(
    silent_server: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(queue_app, "REDIS_SOCKET_TIMEOUT_SECONDS", 0.3)
    queue = open_queue(f"redis://127.0.0.1:{silent_server}/0", "jobs")
    started = time.monotonic()
    with pytest.raises(QueueUnavailableError) as raised:
        run_worker(
            [queue],
            concurrency=1,
            until_idle=lambda: True,
            poll_seconds=POLL,
            grace_seconds=5,
            drain_give_up_seconds=1.0,
        )
    assert 1.0 <= time.monotonic() - started < 10
    assert str(raised.value).startswith("queue jobs unavailable (Timeout reading from socket)")
    assert "for 1 s while draining" in str(raised.value)
    warnings = [r for r in caplog.records if r.getMessage().startswith("drain check")]
    assert len(warnings) == 1, "one warning per outage, not one per poll"
