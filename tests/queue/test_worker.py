"""`run_worker` on real SQLite queue files and Huey consumer threads."""

from __future__ import annotations

import logging
import os
import pickle
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.queue.conftest import WAIT_SECONDS, QueueFactory, Recorder, worker_thread
from zuora_workflow_sync.queue import run_worker
from zuora_workflow_sync.queue.consumer import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    Activity,
    JobScheduler,
    JobWorker,
    backoff_seconds,
)

POLL = 0.05


def test_worker_runs_handler_with_run_id_when_a_job_is_enqueued(
    make_queue: QueueFactory,
) -> None:
    recorder = Recorder()
    queue = make_queue("jobs", recorder)
    queue.enqueue(41)

    with worker_thread([queue], poll_seconds=POLL):
        assert recorder.wait_for(1) == [41]


def test_delayed_job_waits_when_scheduled_ahead(make_queue: QueueFactory) -> None:
    ran_at: list[float] = []
    queue = make_queue("jobs", Recorder(lambda run_id: ran_at.append(time.monotonic())))
    enqueued_at = time.monotonic()
    queue.enqueue(5, delay_seconds=1.5)

    run_worker([queue], concurrency=1, until_idle=lambda: True, poll_seconds=POLL)

    assert len(ran_at) == 1
    assert ran_at[0] - enqueued_at >= 1.5


def test_one_worker_serves_every_queue_when_given_several(make_queue: QueueFactory) -> None:
    recorder = Recorder()
    first, second = make_queue("first", recorder), make_queue("second", recorder)
    first.enqueue(1)
    second.enqueue(2)

    with worker_thread([first, second], poll_seconds=POLL):
        assert sorted(recorder.wait_for(2)) == [1, 2]


def test_concurrency_runs_n_handlers_at_once_when_n_jobs_wait(make_queue: QueueFactory) -> None:
    together = threading.Barrier(3, timeout=WAIT_SECONDS)
    threads: set[str] = set()

    def meet(run_id: int) -> None:
        threads.add(threading.current_thread().name)
        together.wait()  # breaks (and fails the test) unless 3 jobs run at once

    queue = make_queue("jobs", Recorder(meet))
    queue.enqueue_many((run_id, 0.0) for run_id in (1, 2, 3))

    run_worker([queue], concurrency=3, until_idle=lambda: True, poll_seconds=POLL)

    assert not together.broken
    assert threads == {"jobs:Worker-1", "jobs:Worker-2", "jobs:Worker-3"}


def test_each_job_thread_runs_inside_its_own_context_when_one_is_given(
    make_queue: QueueFactory,
) -> None:
    events: list[tuple[str, str]] = []
    lock = threading.Lock()
    together = threading.Barrier(2, timeout=WAIT_SECONDS)

    @contextmanager
    def context() -> Iterator[None]:
        with lock:
            events.append(("enter", threading.current_thread().name))
        yield
        with lock:
            events.append(("exit", threading.current_thread().name))

    def job(run_id: int) -> None:
        with lock:
            events.append(("job", threading.current_thread().name))
        together.wait()

    queue = make_queue("jobs", Recorder(job))
    queue.enqueue_many((run_id, 0.0) for run_id in (1, 2))

    run_worker(
        [queue], concurrency=2, until_idle=lambda: True, poll_seconds=POLL, thread_context=context
    )

    threads = {"jobs:Worker-1", "jobs:Worker-2"}
    assert {name for kind, name in events if kind == "enter"} == threads
    assert {name for kind, name in events if kind == "exit"} == threads
    for name in threads:
        mine = [kind for kind, who in events if who == name]
        assert mine[0] == "enter" and mine[-1] == "exit" and mine.count("job") == 1


def test_drain_returns_when_every_job_ran(make_queue: QueueFactory) -> None:
    recorder = Recorder()
    first, second = make_queue("first", recorder), make_queue("second", recorder)
    first.enqueue_many((run_id, 0.0) for run_id in range(1, 6))
    second.enqueue(6, delay_seconds=0.3)

    run_worker([first, second], concurrency=2, until_idle=lambda: True, poll_seconds=POLL)

    assert sorted(recorder.calls) == [1, 2, 3, 4, 5, 6]
    assert [q.pending_count() + q.scheduled_count() for q in (first, second)] == [0, 0]


def test_drain_waits_when_caller_still_reports_work(make_queue: QueueFactory) -> None:
    queue = make_queue("jobs", Recorder())
    started = time.monotonic()

    run_worker(
        [queue],
        concurrency=1,
        until_idle=lambda: time.monotonic() - started > 0.4,
        poll_seconds=POLL,
    )

    assert time.monotonic() - started > 0.4


def test_drain_keeps_waiting_when_caller_check_raises(
    make_queue: QueueFactory, caplog: pytest.LogCaptureFixture
) -> None:
    checks: list[float] = []

    def flaky() -> bool:
        checks.append(time.monotonic())
        if len(checks) < 3:
            raise ConnectionError("database restarting")
        return True

    run_worker([make_queue("jobs", Recorder())], concurrency=1, until_idle=flaky, poll_seconds=POLL)

    assert len(checks) >= 4
    assert "drain check failed" in caplog.text


def test_failing_handler_neither_stops_worker_nor_is_retried_when_it_raises(
    make_queue: QueueFactory, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(run_id: int) -> None:
        if run_id == 1:
            raise RuntimeError("sync crashed")

    recorder = Recorder(explode)
    queue = make_queue("jobs", recorder)
    queue.enqueue_many([(1, 0.0), (2, 0.0)])

    run_worker([queue], concurrency=1, until_idle=lambda: True, poll_seconds=POLL)

    assert sorted(recorder.calls) == [1, 2]
    assert (queue.pending_count(), queue.scheduled_count()) == (0, 0)
    assert "job of run 1 failed" in caplog.text


def test_stop_waits_for_the_running_job_when_requested(make_queue: QueueFactory) -> None:
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow(run_id: int) -> None:
        started.set()
        release.wait(WAIT_SECONDS)
        finished.set()

    queue = make_queue("jobs", Recorder(slow))
    queue.enqueue_many([(1, 0.0), (2, 0.0)])
    stop = threading.Event()
    worker = threading.Thread(
        target=run_worker,
        args=([queue],),
        kwargs={"concurrency": 1, "stop": stop, "poll_seconds": POLL},
    )
    worker.start()
    assert started.wait(WAIT_SECONDS)

    stop.set()
    worker.join(0.3)
    assert worker.is_alive(), "returned while a job was still running"
    release.set()
    worker.join(WAIT_SECONDS)

    assert not worker.is_alive() and finished.is_set()
    assert queue.pending_count() == 1  # the second job was not started


def test_stop_returns_after_grace_when_the_job_outlives_it(make_queue: QueueFactory) -> None:
    started, release = threading.Event(), threading.Event()

    def stuck(run_id: int) -> None:
        started.set()
        release.wait(WAIT_SECONDS)

    queue = make_queue("jobs", Recorder(stuck))
    queue.enqueue(1)
    try:
        with worker_thread([queue], grace_seconds=0.2, poll_seconds=POLL) as stop:
            assert started.wait(WAIT_SECONDS)
            stop.set()
            began = time.monotonic()
        assert time.monotonic() - began < 2.0
    finally:
        release.set()


def test_sigterm_stops_gracefully_when_worker_owns_the_main_thread(
    make_queue: QueueFactory,
) -> None:
    finished = threading.Event()

    def slow(run_id: int) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.3)
        finished.set()

    queue = make_queue("jobs", Recorder(slow))
    queue.enqueue(1)
    previous = signal.getsignal(signal.SIGTERM)

    run_worker([queue], concurrency=1, poll_seconds=POLL)

    assert finished.is_set()
    assert signal.getsignal(signal.SIGTERM) is previous


def test_second_signal_stops_at_once_when_a_job_still_runs(make_queue: QueueFactory) -> None:
    stop, release = threading.Event(), threading.Event()

    def stuck(run_id: int) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        stop.wait(WAIT_SECONDS)  # set by the first signal's handler
        os.kill(os.getpid(), signal.SIGINT)
        release.wait(WAIT_SECONDS)

    queue = make_queue("jobs", Recorder(stuck))
    queue.enqueue(1)
    began = time.monotonic()
    try:
        run_worker([queue], concurrency=1, grace_seconds=WAIT_SECONDS, stop=stop, poll_seconds=POLL)
        assert time.monotonic() - began < WAIT_SECONDS / 2
    finally:
        release.set()


def test_job_taken_while_stopping_is_put_back_when_stop_flag_is_set(
    make_queue: QueueFactory,
) -> None:
    recorder = Recorder()
    queue = make_queue("jobs", recorder)
    queue.enqueue(3)
    stop_flag = threading.Event()
    stop_flag.set()

    JobWorker(queue, stop_flag, Activity()).loop()

    assert recorder.calls == []
    assert queue.pending_count() == 1


def test_worker_backs_off_instead_of_failing_when_storage_breaks(
    make_queue: QueueFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queue = make_queue("jobs", Recorder())
    queue.close()
    path = tmp_path / "queues" / "queue.sqlite3"
    for leftover in path.parent.iterdir():
        leftover.unlink()
    path.mkdir()
    worker = JobWorker(queue, threading.Event(), Activity())
    scheduler = JobScheduler(queue, threading.Event(), 1.0)

    began = time.monotonic()
    worker.loop()
    scheduler.loop()

    assert time.monotonic() - began >= BACKOFF_BASE_SECONDS - 0.02
    reason = "queue jobs unavailable (unable to open database file)"
    assert f"{reason}; worker retry 1 in" in caplog.text
    assert f"{reason}; scheduler retry 1 in" in caplog.text


@pytest.mark.parametrize("failures", [1, 2, 5, 50, 10_000])
def test_backoff_is_jittered_and_capped_when_failures_repeat(failures: int) -> None:
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** min(failures - 1, 16))
    delays = {backoff_seconds(failures) for _ in range(50)}

    assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
    assert len(delays) > 1


def test_unreadable_job_is_dropped_when_payload_is_a_pickle(
    make_queue: QueueFactory, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    queue = make_queue("jobs", recorder)
    queue.huey.storage.enqueue(pickle.dumps(("not", "json")), None)
    queue.enqueue(8)

    with caplog.at_level(logging.ERROR), worker_thread([queue], poll_seconds=POLL):
        assert recorder.wait_for(1) == [8]

    assert "dropped an unreadable job" in caplog.text


@pytest.mark.parametrize(
    "options",
    [{"concurrency": 0}, {"concurrency": 257}, {"poll_seconds": 0.0}, {"grace_seconds": -1.0}],
)
def test_run_worker_refuses_when_arguments_are_out_of_range(
    make_queue: QueueFactory, options: dict[str, float]
) -> None:
    arguments: dict[str, float] = {"concurrency": 1, **options}

    with pytest.raises(ValueError):
        run_worker([make_queue("jobs")], **arguments)  # type: ignore[arg-type]
