"""`JobProgress`, on a fake clock: a job is held by pacing only while a request waits and none
is in flight; held time is the run's pacing wait and is left out of its no-progress and cap
clocks; any reply is progress."""

from __future__ import annotations

import pytest

from zuora_workflow_sync.sync.progress import JobProgress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_job_is_held_only_while_a_request_waits_and_none_is_in_flight(clock: Clock) -> None:
    progress = JobProgress(clock)
    progress.wait_began()
    clock.now += 3
    assert progress.held and progress.pacing_wait_seconds() == 3
    progress.wait_ended(granted=True)  # one goes: in flight
    progress.wait_began()  # a second waits while the first is in flight: not held
    clock.now += 5
    assert not progress.held and progress.pacing_wait_seconds() == 3
    progress.request_ended()  # the first ends, the second still waits: held again
    clock.now += 2
    assert progress.pacing_wait_seconds() == 5
    progress.wait_ended(granted=False)  # cancelled while waiting
    clock.now += 1
    assert not progress.held and progress.pacing_wait_seconds() == 5


def test_no_progress_clock_leaves_out_pacing_holds_and_restarts_at_each_reply(
    clock: Clock,
) -> None:
    progress = JobProgress(clock)
    clock.now += 2
    assert progress.idle_seconds() == 2
    progress.wait_began()
    clock.now += 10  # held by pacing: the no-progress clock stands still
    assert progress.idle_seconds() == 2
    progress.wait_ended(granted=True)
    clock.now += 1  # in flight, no reply yet
    assert progress.idle_seconds() == 3
    progress.replied()
    assert progress.idle_seconds() == 0
    clock.now += 4
    assert progress.idle_seconds() == 4


def test_active_time_is_the_job_time_less_its_pacing_holds(clock: Clock) -> None:
    progress = JobProgress(clock)
    clock.now += 1
    progress.wait_began()
    clock.now += 30
    progress.wait_ended(granted=True)
    clock.now += 2
    progress.request_ended()
    assert progress.active_seconds() == 3
    assert progress.pacing_wait_seconds() == 30
    progress.listed(2000)
    assert progress.workflows == 2000
