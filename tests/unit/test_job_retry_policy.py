"""JobRetryPolicy: which failed attempts of a run are retried, and after how long."""

from __future__ import annotations

import random

import pytest

from zuora_workflow_sync.domain.retry import JobRetryPolicy
from zuora_workflow_sync.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConnectionFailedError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    WorkflowSyncError,
)
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.sync.job import JobTimeoutError, job_retry_policy


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError("x", status=401),
        PermissionDeniedError("x", status=403),
        NotFoundError("x", status=404),
        BadRequestError("x", status=400),
        ProtocolError("not JSON"),
        ValueError("a bug"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_attempt_is_not_retried_when_the_error_is_fatal(error: Exception) -> None:
    decision = JobRetryPolicy().decide(error, 1, 3, random.Random(1))
    assert not decision.retry and "is not retried" in decision.reason


@pytest.mark.parametrize(
    "error",
    [
        ServerError("x", status=503),
        RateLimitedError("x"),
        ConnectionFailedError("reset"),
        RequestTimeoutError("deadline"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_attempt_is_retried_when_the_error_is_retriable_and_attempts_are_left(
    error: Exception,
) -> None:
    decision = JobRetryPolicy(base_seconds=30, cap_seconds=1800).decide(
        error, 1, 3, random.Random(1)
    )
    assert decision.retry and 0 <= decision.delay_seconds <= 30


def test_attempt_is_not_retried_when_it_was_the_last() -> None:
    decision = JobRetryPolicy().decide(ServerError("x", status=500), 3, 3, random.Random(1))
    assert not decision.retry and decision.reason == "gave up after 3 attempts"


def test_delay_is_full_jitter_under_the_doubling_ceiling_when_retried() -> None:
    policy = JobRetryPolicy(base_seconds=30, cap_seconds=1800)
    rng = random.Random(7)
    for attempt, ceiling in ((1, 30), (2, 60), (3, 120), (6, 960), (7, 1800), (30, 1800)):
        delays = [
            policy.decide(ServerError("x"), attempt, 100, rng).delay_seconds for _ in range(500)
        ]
        assert all(0 <= delay <= ceiling for delay in delays)
        # Full jitter spreads over the whole range, not around the ceiling.
        assert min(delays) < ceiling * 0.1 and max(delays) > ceiling * 0.9


def test_delay_is_retry_after_spread_by_up_to_base_when_the_server_sent_one() -> None:
    policy = JobRetryPolicy(base_seconds=1, cap_seconds=10)
    rng = random.Random(3)
    limited = RateLimitedError("slow down", retry_after_seconds=120)
    unavailable = ServerError("busy", status=503, retry_after_seconds=45)
    after_429 = [policy.decide(limited, 1, 3, rng).delay_seconds for _ in range(50)]
    after_503 = [policy.decide(unavailable, 2, 3, rng).delay_seconds for _ in range(50)]
    assert all(120 <= delay <= 121 for delay in after_429)
    assert all(45 <= delay <= 46 for delay in after_503)
    # Runs held back by the same answer come back spread out, not at one instant.
    assert len(set(after_429)) == 50 and max(after_429) - min(after_429) > 0.5


def test_backoff_longer_than_retry_after_is_kept_when_the_server_asks_less() -> None:
    policy = JobRetryPolicy(base_seconds=100, cap_seconds=1000)
    short = ServerError("busy", status=503, retry_after_seconds=1)
    delays = [policy.decide(short, 3, 5, random.Random(seed)).delay_seconds for seed in range(50)]
    assert all(1 <= delay <= 400 for delay in delays)
    assert max(delays) > 100  # the exponential backoff, not Retry-After plus a little


def test_job_timeout_is_retried_when_the_policy_comes_from_settings() -> None:
    policy = job_retry_policy(Settings(retry_base_seconds=5, retry_cap_seconds=60))
    assert policy.decide(JobTimeoutError("slow"), 1, 3, random.Random(1)).retry
    assert not policy.decide(WorkflowSyncError("other"), 1, 3, random.Random(1)).retry
    assert (policy.base_seconds, policy.cap_seconds) == (5, 60)


def test_negative_delays_are_refused_when_building_the_policy() -> None:
    with pytest.raises(ConfigurationError):
        JobRetryPolicy(base_seconds=-1)
