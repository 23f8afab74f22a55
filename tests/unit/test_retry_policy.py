"""RetryPolicy: full-jitter backoff, Retry-After honoured, fatal errors never retried."""

from __future__ import annotations

import random

import pytest

from zuora_workflow_sync.domain.retry import RetryPolicy
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
    ZuoraError,
)


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError("x", status=401),
        PermissionDeniedError("x", status=403),
        NotFoundError("x", status=404),
        BadRequestError("x", status=400),
        ProtocolError("x"),
    ],
)
def test_error_is_not_retried_when_fatal(error: ZuoraError) -> None:
    decision = RetryPolicy().decide(error, 1, random.Random(1))
    assert not decision.retry


@pytest.mark.parametrize(
    "error",
    [
        RateLimitedError("x"),
        ServerError("x", status=503),
        ConnectionFailedError("x"),
        RequestTimeoutError("x"),
    ],
)
def test_error_is_retried_until_attempts_run_out_when_retriable(error: ZuoraError) -> None:
    policy = RetryPolicy(max_attempts=3)
    rng = random.Random(2)
    assert policy.decide(error, 1, rng).retry
    assert policy.decide(error, 2, rng).retry
    assert not policy.decide(error, 3, rng).retry


def test_backoff_is_full_jitter_below_capped_exponential() -> None:
    policy = RetryPolicy(base_seconds=1.0, cap_seconds=8.0)
    rng = random.Random(3)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 8.0)]:
        samples = [policy.backoff_seconds(attempt, rng) for _ in range(500)]
        assert all(0.0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.9  # really spread up to the ceiling
        assert min(samples) < ceiling * 0.1  # and down to zero: not synchronised


def test_delay_is_at_least_retry_after_when_server_asks() -> None:
    policy = RetryPolicy(base_seconds=0.5, cap_seconds=1.0)
    rng = random.Random(4)
    delays = [
        policy.decide(RateLimitedError("x", retry_after_seconds=30.0), 1, rng).delay_seconds
        for _ in range(100)
    ]
    assert all(30.0 <= d <= 30.5 for d in delays)
    assert len(set(delays)) > 50


def test_long_penalty_is_not_waited_in_request_when_over_limit() -> None:
    policy = RetryPolicy(max_retry_after_seconds=60.0)
    error = RateLimitedError("x", retry_after_seconds=600.0)
    assert not policy.decide(error, 1, random.Random(5)).retry


def test_policy_is_refused_when_values_are_absurd() -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigurationError):
        RetryPolicy(base_seconds=-1)
