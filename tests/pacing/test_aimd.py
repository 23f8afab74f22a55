"""AIMD and headroom decisions as pure values, and the jitter of resumes (no store)."""

from __future__ import annotations

import random

import pytest

from zuora_workflow_sync.pacing.aimd import (
    DEFAULT_PAUSE_SECONDS,
    LimitState,
    Signal,
    adjust,
    assess,
    effective_cap,
)
from zuora_workflow_sync.pacing.timing import resume_delay, resume_spread
from zuora_workflow_sync.zuora.gate import Observation
from zuora_workflow_sync.zuora.ratelimit import ConcurrencyInfo, RateLimitInfo


def observation(
    status: int = 200,
    *,
    remaining: int | None = None,
    limit: int | None = 1000,
    reset: float | None = 30.0,
    concurrency: tuple[int, int] | None = None,
    retry_after: float | None = None,
) -> Observation:
    rate = RateLimitInfo(limit, remaining, reset) if remaining is not None else None
    conc = ConcurrencyInfo("Default", *concurrency) if concurrency is not None else None
    return Observation(status, rate, conc, retry_after, 0.05)


def test_assess_pauses_for_retry_after_when_status_is_429() -> None:
    result = assess(observation(429, retry_after=12.5))
    assert (result.signal, result.pause_seconds) == (Signal.DECREASE, 12.5)


def test_assess_pauses_for_default_when_429_gives_no_wait() -> None:
    assert assess(observation(429)).pause_seconds == DEFAULT_PAUSE_SECONDS


@pytest.mark.parametrize(
    ("obs", "signal"),
    [
        (observation(remaining=99), Signal.DECREASE),  # < 10% of 1000
        (observation(remaining=100), Signal.INCREASE),
        (observation(concurrency=(40, 4)), Signal.DECREASE),  # <= 10% of 40
        (observation(concurrency=(40, 5)), Signal.INCREASE),
        (observation(concurrency=(10, 2)), Signal.DECREASE),  # <= 2
        (observation(concurrency=(10, 3)), Signal.INCREASE),
        (observation(200), Signal.INCREASE),
        (observation(503), Signal.HOLD),
        (observation(404), Signal.HOLD),
    ],
)
def test_assess_reads_headroom_when_response_carries_headers(
    obs: Observation, signal: Signal
) -> None:
    result = assess(obs)
    assert result.signal is signal
    assert result.pause_seconds is None


def test_assess_pauses_until_reset_when_window_is_exhausted_on_success() -> None:
    result = assess(observation(200, remaining=0, reset=42.0))
    assert (result.signal, result.pause_seconds) == (Signal.DECREASE, 42.0)


def test_adjust_halves_down_to_one_when_decreasing() -> None:
    state = LimitState(4.0, 0.0)
    seen = []
    for now in (10.0, 20.0, 30.0):
        state = adjust(state, Signal.DECREASE, started_at=now, now=now, max_in_flight=4)
        seen.append(state.limit)
    assert seen == [2.0, 1.0, 1.0]


def test_adjust_decreases_once_when_replies_to_one_round_all_say_decrease() -> None:
    state = adjust(LimitState(4.0, 0.0), Signal.DECREASE, started_at=5, now=10, max_in_flight=4)
    again = adjust(state, Signal.DECREASE, started_at=6, now=11, max_in_flight=4)
    assert again == state == LimitState(2.0, 10)
    later = adjust(state, Signal.DECREASE, started_at=11, now=12, max_in_flight=4)
    assert later.limit == 1.0


def test_adjust_grows_one_per_round_up_to_cap_when_healthy() -> None:
    state = LimitState(1.0, 0.0)
    caps = []
    for _ in range(12):
        state = adjust(state, Signal.INCREASE, started_at=1, now=1, max_in_flight=4)
        caps.append(effective_cap(state.limit, 4))
    assert caps[:8] == [2, 2, 2, 3, 3, 3, 4, 4]
    assert max(caps) == 4 and state.limit == 4.0


def test_adjust_clamps_stored_limit_when_cap_was_lowered() -> None:
    state = adjust(LimitState(9.0, 0.0), Signal.HOLD, started_at=0, now=0, max_in_flight=3)
    assert state.limit == 3.0


def test_resume_delays_differ_and_never_precede_the_wait_when_many_waiters_resume() -> None:
    rng = random.Random(3)
    delays = [resume_delay(2.0, rng) for _ in range(50)]
    assert min(delays) >= 2.0
    assert max(delays) <= 2.0 + resume_spread(2.0)
    assert len(set(delays)) == 50
    assert max(delays) - min(delays) > 0.25
